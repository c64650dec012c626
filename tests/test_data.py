"""Built-in task loading, sampling, users' own data, and the bad-input errors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bakeoff.custom import CustomDataConfig, load_custom, load_custom_config
from bakeoff.data import Example, load_builtin, stratified_indices, stratified_sample
from bakeoff.errors import BakeoffError
from bakeoff.tasks import BUILTIN_TASKS, get_task
from tests.conftest import write_jsonl


@pytest.mark.parametrize(
    ("task", "n_train", "n_eval", "eval_split"),
    [
        ("sst2", 67349, 872, "validation"),
        ("rte", 2490, 277, "validation"),
        ("boolq", 9427, 3270, "validation"),
        ("anli_r1", 1000, 1000, "test"),
    ],
)
def test_builtin_tasks_load_from_data_dir(
    data_dir: Path, task, n_train, n_eval, eval_split
) -> None:
    data = load_builtin(get_task(task), data_dir)
    assert (len(data.train), len(data.eval), data.eval_split) == (n_train, n_eval, eval_split)
    assert data.task.is_pair == (task != "sst2")
    assert all(ex.text.strip() for ex in data.eval)


def test_label_order_matches_hf_datasets(data_dir: Path) -> None:
    sst2 = load_builtin(get_task("sst2"), data_dir)
    assert (
        sst2.eval[0].text.startswith("it 's a charming")
        and sst2.task.label_names[sst2.eval[0].label] == "positive"
    )
    assert Counter(ex.label for ex in sst2.eval) == {0: 428, 1: 444}
    assert BUILTIN_TASKS["boolq"].label_names == ("false", "true")
    assert BUILTIN_TASKS["anli_r1"].label_names == ("entailment", "neutral", "contradiction")


def test_anli_offline_never_evaluates_on_training_rows(data_dir: Path) -> None:
    data = load_builtin(get_task("anli_r1"), data_dir)
    assert "R1 dev" in data.source
    assert not {(e.text, e.text_pair) for e in data.train} & {
        (e.text, e.text_pair) for e in data.eval
    }


def test_env_var_is_used(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAKEOFF_DATA_DIR", str(data_dir))
    assert len(load_builtin(get_task("rte")).eval) == 277


def test_no_data_and_no_hub_names_both_fixes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BAKEOFF_DATA_DIR", raising=False)
    with pytest.raises(BakeoffError) as err:
        load_builtin(get_task("rte"), tmp_path)
    msg = str(err.value)
    assert "--data-dir" in msg and "hub" in msg and "\n" not in msg


def test_unknown_task() -> None:
    with pytest.raises(BakeoffError, match="unknown task 'sst3'.*sst2"):
        get_task("sst3")


def test_stratified_sample_is_seeded_random_and_stratified(data_dir: Path) -> None:
    train = load_builtin(get_task("sst2"), data_dir).train
    a = stratified_indices([e.label for e in train], 1000, seed=99)
    b = stratified_indices([e.label for e in train], 1000, seed=99)
    c = stratified_indices([e.label for e in train], 1000, seed=7)
    assert a == b and a != c and len(a) == 1000
    assert a != list(range(1000))  # never the first N rows
    share = sum(train[i].label for i in a) / 1000
    full = sum(e.label for e in train) / len(train)
    assert abs(share - full) < 0.002
    assert len(stratified_sample(train[:10], 50, seed=1)) == 10


def _cfg(tmp_path: Path, rows, eval_rows=None, **kw) -> CustomDataConfig:
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    ev = write_jsonl(tmp_path / "eval.jsonl", eval_rows) if eval_rows is not None else None
    return CustomDataConfig(train_file=train, eval_file=ev, **kw)


def test_custom_holdout_is_stratified_and_seeded(tmp_path: Path, toy_rows) -> None:
    data = load_custom(_cfg(tmp_path, toy_rows, holdout_fraction=0.2), seed=3)
    assert data.task.label_names == ("neg", "pos")
    assert len(data.eval) == 4 and Counter(e.label for e in data.eval) == {0: 2, 1: 2}
    again = load_custom(_cfg(tmp_path, toy_rows, holdout_fraction=0.2), seed=3)
    assert again.eval == data.eval and again.fingerprint == data.fingerprint


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_custom_formats_pairs_and_integer_labels(tmp_path: Path, fmt: str) -> None:
    import pandas as pd

    rows = [{"q": f"question {i}", "p": f"passage {i}", "y": i % 3} for i in range(30)]
    frame = pd.DataFrame(rows)
    path = tmp_path / f"train.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "parquet":
        frame.to_parquet(path)
    else:
        write_jsonl(path, rows)
    data = load_custom(
        CustomDataConfig(train_file=path, text_column="q", text_pair_column="p", label_column="y")
    )
    assert data.task.label_names == ("0", "1", "2") and data.task.is_pair
    assert all(e.text_pair and e.text_pair.startswith("passage") for e in data.train)


def test_custom_task_yaml(tmp_path: Path, toy_rows) -> None:
    write_jsonl(tmp_path / "d" / "all.jsonl", toy_rows)
    (tmp_path / "task.yaml").write_text(
        "name: reviews\ntrain_file: d/all.jsonl\nholdout_fraction: 0.3\n"
    )
    data = load_custom(load_custom_config(tmp_path / "task.yaml"))
    assert data.task.name == "reviews" and len(data.eval) == 6


# ---- bad input: one clear line each ---------------------------------------------------------


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and len(msg) < 400
    return msg


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BakeoffError) as e:
        load_custom(CustomDataConfig(train_file=tmp_path / "nope.csv"))
    assert "not found" in _one_line(e)


def test_missing_column(tmp_path: Path, toy_rows) -> None:
    with pytest.raises(BakeoffError) as e:
        load_custom(_cfg(tmp_path, toy_rows, text_column="review"))
    msg = _one_line(e)
    assert "'review'" in msg and "--text-column" in msg


def test_empty_text(tmp_path: Path, toy_rows) -> None:
    toy_rows[3]["text"] = "   "
    with pytest.raises(BakeoffError) as e:
        load_custom(_cfg(tmp_path, toy_rows))
    assert "row 4" in _one_line(e) and "empty" in str(e.value)


def test_eval_labels_unseen_in_training(tmp_path: Path, toy_rows) -> None:
    with pytest.raises(BakeoffError) as e:
        load_custom(_cfg(tmp_path, toy_rows, eval_rows=[{"text": "meh", "label": "neutral"}]))
    assert "'neutral'" in _one_line(e) and "never occur in training" in str(e.value)


def test_single_class(tmp_path: Path, toy_rows) -> None:
    with pytest.raises(BakeoffError) as e:
        load_custom(_cfg(tmp_path, [r for r in toy_rows if r["label"] == "pos"]))
    assert "single class" in _one_line(e)


def test_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\ncaf\xe9 au lait,1\nbad,0\n".encode("latin-1"))
    with pytest.raises(BakeoffError) as e:
        load_custom(CustomDataConfig(train_file=path))
    assert "UTF-8" in _one_line(e)


def test_example_is_plain_data() -> None:
    assert Example("a", 1) == Example("a", 1, None)
