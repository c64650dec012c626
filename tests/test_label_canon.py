"""The label canon (``bakeoff.labels``) through every reader: the same raw labels in CSV, JSON
Lines, Parquet and a local dataset folder (the hub reader) give the same classes, the same merge
note and the same refusals. Each case once split one class into several, or made a gap a class,
depending on the format."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bakeoff.custom import CustomDataConfig, load_custom
from bakeoff.data import TaskData
from bakeoff.errors import BakeoffError
from bakeoff.labels import MISSING_TEXTS, canon

#: spellings of three classes as a spreadsheet, pandas or a hand-edited file write them: a plus
#: sign, a leading zero, a float, an exponent, full-width digits, a zero-width space, padding
TRICKY: dict[str, list[str]] = {
    "1": ["1", "+1", "01", "1.0", "1e0", "\uff11", "1\u200b", " 1 "],
    "0": ["0", "-0", "0.0", "00"],
    "2.5": ["2.5", "2.50", "25e-1"],
}


def _rows(labels: list[Any]) -> list[dict[str, Any]]:
    return [{"text": f"example number {i}", "label": v} for i, v in enumerate(labels)]


def _tricky_labels() -> list[str]:
    """Every spelling twice, so each class survives a stratified hold-out."""
    return [s for spellings in TRICKY.values() for s in spellings for _ in range(2)]


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    import csv

    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in r.items()} for r in rows)
    return path


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    import pandas as pd

    pd.DataFrame(rows).to_parquet(path)
    return path


WRITERS: dict[str, Callable[[Path, list[dict[str, Any]]], Path]] = {
    "csv": _write_csv,
    "jsonl": _write_jsonl,
    "parquet": _write_parquet,
}


def _load(tmp_path: Path, fmt: str, rows: list[dict[str, Any]], **cfg: Any) -> TaskData:
    if fmt == "dataset":  # a local dataset folder, read by the hub reader (datasets)
        folder = tmp_path / "ds"
        folder.mkdir(exist_ok=True)
        _write_jsonl(folder / "train.jsonl", rows)
        return load_custom(CustomDataConfig(dataset=str(folder), **cfg))
    path = WRITERS[fmt](tmp_path / f"train.{fmt}", rows)
    return load_custom(CustomDataConfig(train_file=path, **cfg))


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet", "dataset"])
def test_tricky_spellings_are_the_same_classes_and_note_in_every_format(
    tmp_path: Path, fmt: str
) -> None:
    data = _load(tmp_path, fmt, _rows(_tricky_labels()))
    assert data.task.label_names == ("0", "1", "2.5")
    counts = {label: sum(s.values()) for label, s in data.label_spellings.items()}
    assert counts == {label: 2 * len(s) for label, s in TRICKY.items()}
    assert data.label_spellings["1"]["'+1'"] == 2
    (note,) = data.notes
    spellings = sum(len(s) for s in TRICKY.values())
    assert f"{spellings} spellings of {len(TRICKY)} label(s)" in note
    assert f"({2 * spellings} rows)" in note
    assert "are all the label '1'" in note and "\n" not in note


def test_the_note_and_mapping_do_not_depend_on_the_format(tmp_path: Path) -> None:
    seen = {}
    for fmt in ("csv", "jsonl", "parquet"):
        (tmp_path / fmt).mkdir()
        seen[fmt] = _load(tmp_path / fmt, fmt, _rows(_tricky_labels()))
    first = seen["csv"]
    for data in seen.values():
        assert data.notes == first.notes
        assert data.label_spellings == first.label_spellings
        assert [ex.label for ex in data.train] == [ex.label for ex in first.train]


def test_canonical_labels_give_no_note(tmp_path: Path) -> None:
    data = _load(tmp_path, "csv", _rows(["neg", "pos"] * 5))
    assert data.notes == [] and data.task.label_names == ("neg", "pos")


MISSING = ["NULL", "null", "N/A", "NA", "<NA>", "#N/A", "None", "nan", "NaN", "", "   ", "\u200b"]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
@pytest.mark.parametrize("marker", MISSING)
def test_missing_markers_are_refused_like_nan(tmp_path: Path, fmt: str, marker: str) -> None:
    rows = _rows(["neg", "pos"] * 5 + [marker])
    with pytest.raises(BakeoffError, match="has no 'label' value") as info:
        _load(tmp_path, fmt, rows)
    assert "row 11" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_null_and_float_nan_are_refused(tmp_path: Path, fmt: str) -> None:
    for value in (None, float("nan")):
        with pytest.raises(BakeoffError, match="row 11 has no 'label' value"):
            _load(tmp_path, fmt, _rows([0.0, 1.0] * 5 + [value]))


def test_the_missing_words_are_pandas_defaults() -> None:
    """The words read as missing are the ones pandas' read_csv reads as missing (any case)."""
    parsers = pytest.importorskip("pandas._libs.parsers")
    assert {w.lower() for w in parsers.STR_NA_VALUES} <= MISSING_TEXTS


def test_a_class_called_none_is_kept_when_listed(tmp_path: Path) -> None:
    data = _load(tmp_path, "csv", _rows(["None", "toxic"] * 5), labels=["None", "toxic"])
    assert data.task.label_names == ("None", "toxic")
    assert {ex.label for ex in data.train} == {0, 1}


def test_json_numbers_and_strings_are_one_label(tmp_path: Path) -> None:
    data = _load(tmp_path, "jsonl", _rows([1, 0, 1.0, 0.0, "1", "0"] * 2))
    assert data.task.label_names == ("0", "1")
    assert data.label_spellings["1"] == {"1": 2, "1.0": 2, "'1'": 2}
    (note,) = data.notes
    assert "6 spellings of 2 label(s)" in note


def test_a_float_column_is_its_integers_without_a_note(tmp_path: Path) -> None:
    """pandas writes a column with a gap as floats: 1.0 is the label 1, one spelling each."""
    floats = _load(tmp_path, "parquet", _rows([0.0, 1.0] * 5))
    ints = _load(tmp_path, "jsonl", _rows([0, 1] * 5))
    assert floats.task.label_names == ints.task.label_names == ("0", "1")
    assert floats.notes == [] and ints.notes == []


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_pure_booleans_are_labels(tmp_path: Path, fmt: str) -> None:
    data = _load(tmp_path, fmt, _rows([True, False] * 5))
    assert data.task.label_names == ("false", "true") and data.notes == []


@pytest.mark.parametrize("other", [1, "yes", 0.0, "1"])
def test_booleans_mixed_with_other_labels_are_refused(tmp_path: Path, other: Any) -> None:
    with pytest.raises(BakeoffError, match="mixes booleans") as info:
        _load(tmp_path, "jsonl", _rows([True, False] * 5 + [other]))
    assert "row 1 is true" in str(info.value) and "row 11 is" in str(info.value)


def test_train_and_eval_files_share_the_canon(tmp_path: Path) -> None:
    train = _write_csv(tmp_path / "train.csv", _rows(["0", "1"] * 4))
    eval_ = _write_jsonl(tmp_path / "eval.jsonl", _rows([0.0, 1.0, "+1", "-0"]))
    data = load_custom(CustomDataConfig(train_file=train, eval_file=eval_))
    assert data.task.label_names == ("0", "1")
    assert [ex.label for ex in data.eval] == [0, 1, 1, 0]
    (note,) = data.notes
    assert "'+1'" in note or "'-0'" in note


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("1e400", "1e400"),  # not a finite float: kept as written
        ("1e999999999", "1e999999999"),  # never written out in full
        ("12345678901234567891", "12345678901234567891"),  # no float rounding merges two ids
        ("Pos", "Pos"),  # case is kept: 'Pos' and 'pos' may be meant apart
        ("very  good", "very good"),
        ("true", "true"),
        ("TRUE", "true"),
    ],
)
def test_canon_edges(raw: str, label: str) -> None:
    assert canon(raw) == label


def test_run_warns_once_about_merged_spellings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_bert: Path
) -> None:
    """``bakeoff run`` shows the merge in one warning line before anything runs (run_grid is
    replaced: nothing trains)."""
    import bakeoff.runner
    from bakeoff.cli import app

    def no_run(plan: Any, db: Any, **kw: Any) -> Any:
        kw["listener"].planned([], [])  # the store is open: planning's warnings show here
        return bakeoff.runner.GridRun(plan, [], [])

    monkeypatch.setattr(bakeoff.runner, "run_grid", no_run)
    train = _write_csv(tmp_path / "train.csv", _rows(_tricky_labels()))
    args = ["run", "--train-file", str(train), "--model", str(tiny_bert), "--train-limit", "8"]
    result = CliRunner().invoke(app, [*args, "--db", str(tmp_path / "b.db")])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if "merged" in line]
    assert len(warnings) == 1 and warnings[0].lstrip().startswith("warning")


def test_prompt_shows_the_label_mapping(tmp_path: Path) -> None:
    """``bakeoff prompt`` lists each label with the spellings it was read from, and the note."""
    from bakeoff.cli import app
    from tests.llm_fixtures import tiny_llama_path

    train = _write_jsonl(tmp_path / "train.jsonl", _rows([1, 0, "+1", "-0", 1.0, "00"] * 3))
    task = tmp_path / "task.yaml"
    task.write_text(f"name: canon\ntrain_file: {train}\n", encoding="utf-8")
    args = ["prompt", "--task", "canon", "--task-file", str(task)]
    result = CliRunner().invoke(app, [*args, "--model", str(tiny_llama_path())])
    assert result.exit_code == 0, result.output
    assert "labels as read from the data" in result.output
    table = [line for line in result.output.splitlines() if "'+1' (3)" in line and "│" in line]
    assert len(table) == 1 and "1.0 (3)" in table[0] and "1 (3)" in table[0]
    assert sum("merged" in line for line in result.output.splitlines()) == 1


def test_boolean_texts_and_json_booleans_are_one_kind(tmp_path: Path) -> None:
    """The kind is read from the canonical label: JSON ``true`` next to the text ``"TRUE"`` is one
    label, and a CSV's ``True`` next to ``1`` is refused like JSON's ``true`` next to ``1``."""
    data = _load(tmp_path, "jsonl", _rows([True, "TRUE", False, "false"] * 3))
    assert data.task.label_names == ("false", "true")
    with pytest.raises(BakeoffError, match="mixes booleans"):
        _load(tmp_path, "csv", _rows(["1", "True", "0", "1"] * 3))
