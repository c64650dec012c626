"""Fitting the tools ML teams use: JSON results, per-example exports for pandas, MLflow, hub
datasets as custom tasks, CLI habits (--version, -h, completion), the content-keyed GGUF cache,
and expected calibration error."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bakeoff.classifier import Predictions
from bakeoff.cli import app
from bakeoff.config import ExperimentConfig, FinetuneSettings
from bakeoff.data import Example
from bakeoff.errors import BakeoffError
from bakeoff.metrics import (
    calibration_bins,
    compute_metrics,
    expected_calibration_error,
    reliability_data,
)
from bakeoff.records import Metrics, TrainingRecord
from bakeoff.samples import FIXED_COLUMNS, SAMPLES_SCHEMA
from bakeoff.store import PredictionRow, ResultsStore

sys.path.insert(0, str(Path(__file__).parent))
from report_fixtures import build_store, timing  # noqa: E402

runner = CliRunner()

#: a finished experiment with raw scores (logits), on a three-label task of its own
TRI_LABELS = ["bad", "meh", "good"]
TRI_KEY = "tri:fp-tri:validation"


def _add_scored(store: ResultsStore) -> str:
    """One finetune experiment storing probabilities and logits; right on 8 of 9 examples."""
    gold = [i % 3 for i in range(9)]
    store.save_examples(
        TRI_KEY, [(i, Example(f"tri text {i}", g)) for i, g in enumerate(gold)], "tri", [3, 3, 3]
    )
    config = ExperimentConfig(
        task="tri",
        data_fingerprint="fp-tri",
        eval_split="validation",
        model="minilm",
        method="finetune",
        settings=FinetuneSettings(),
    )
    pred = list(gold)
    pred[4] = 0  # one mistake
    logits = [[2.0 if j == p else 0.0 for j in range(3)] for p in pred]
    probs = [[0.7 if j == p else 0.15 for j in range(3)] for p in pred]
    eid = config.experiment_id()
    store.start(eid, config, TRI_KEY, TRI_LABELS, {"device": "cpu", "packages": {"torch": "x"}})
    store.finish(
        eid,
        list(range(9)),
        gold,
        Predictions(pred, probs, None, logits),
        compute_metrics(gold, pred, TRI_LABELS, probs),
        timing(50.0, 5.0, 8.0, 100.0),
        TrainingRecord(labels_used=90, train_time_s=12.0, loss=0.5, loss_per_epoch=[0.9, 0.5]),
    )
    return eid


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "b.db"
    store = build_store(path)
    _add_scored(store)
    store.close()
    return path


# -- results --format json ---------------------------------------------------------------------


def test_results_json_parses_with_its_schema(db: Path) -> None:
    result = runner.invoke(app, ["results", "--db", str(db), "--format", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["schema"] == "bakeoff.results/1"
    experiments = [r for r in payload["results"] if r["kind"] == "experiment"]
    assert len(experiments) == 6
    assert {r["task"] for r in payload["results"] if r["kind"] == "baseline"} == {
        "sst2",
        "rte",
        "tri",
    }


# -- samples -----------------------------------------------------------------------------------


def test_samples_jsonl_and_parquet_load_in_pandas_with_the_documented_columns(
    db: Path, tmp_path: Path
) -> None:
    pd = pytest.importorskip("pandas")
    for name in ("s.jsonl", "s.parquet", "s.jsonl.gz"):
        result = runner.invoke(app, ["samples", "--db", str(db), "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        assert "189 records of 6 experiment(s)" in result.output
    frames = {
        "jsonl": pd.read_json(tmp_path / "s.jsonl", lines=True),
        "parquet": pd.read_parquet(tmp_path / "s.parquet"),
        "gz": pd.read_json(tmp_path / "s.jsonl.gz", lines=True),
    }
    labels = {"negative", "positive", "entailment", "not_entailment", *TRI_LABELS}
    expected = set(FIXED_COLUMNS) | {f"p_{x}" for x in labels} | {f"raw_{x}" for x in labels}
    for kind, frame in frames.items():
        assert set(frame.columns) == expected, kind
        assert len(frame) == 40 * 3 + 30 * 2 + 9
        assert (frame["schema"] == SAMPLES_SCHEMA).all()
    frame = frames["parquet"]
    # the zero-shot experiment with invalid answers: pred and pred_label null, never correct
    zero = frame[(frame.task == "sst2") & (frame.method == "zero-shot")].set_index("idx")
    assert zero.loc[0:4, "invalid"].all() and zero.loc[0:4, "pred"].isna().all()
    assert zero.loc[0:4, "pred_label"].isna().all() and not zero.loc[0:4, "correct"].any()
    assert zero.loc[0, "output"] == "maybe?"
    assert zero.loc[0, "text"].startswith("<script>")  # text kept as it is, never rendered
    # pair task keeps its second text; probabilities of a task's own labels sum to 1
    rte = frame[frame.task == "rte"]
    assert rte.text_pair.str.startswith("hypothesis").all()
    sums = rte["p_entailment"] + rte["p_not_entailment"]
    assert ((sums - 1).abs() < 1e-6).all() and rte["p_negative"].isna().all()
    # raw scores (logits) and the margin between the top two
    tri = frame[frame.task == "tri"].set_index("idx")
    assert tri.loc[4, "pred_label"] == "bad" and tri.loc[4, "gold_label"] == "meh"
    assert tri.loc[4, "raw_bad"] == 2.0 and tri.loc[4, "raw_good"] == 0.0
    assert (tri["margin"] == 2.0).all() and (tri["confidence"] == 0.7).all()
    assert list(tri.loc[0, "labels"]) == TRI_LABELS
    assert tri.correct.sum() == 8
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_samples_selects_by_id_prefix_and_task_and_writes_stdout(db: Path, tmp_path: Path) -> None:
    with ResultsStore(db, readonly=True) as store:
        tri_id = next(r.id for r in store.experiments() if r.task == "tri")
    out = tmp_path / "one.jsonl"
    result = runner.invoke(
        app, ["samples", "--db", str(db), "-e", tri_id[:6], "--output_path", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 9 and {r["experiment_id"] for r in rows} == {tri_id}
    assert rows[0]["p_bad"] == 0.7 and "p_negative" not in rows[0]

    result = runner.invoke(app, ["samples", "--db", str(db), "--task", "rte", "--out", "-"])
    assert result.exit_code == 0
    lines = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    assert len(lines) == 60 and {x["task"] for x in lines} == {"rte"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-e", "ffffffff"], "no experiment with that id"),
        (["--task", "nope"], "no finished experiment of that task"),
        (["--all", "-e", "abcd"], "give --all or --experiment, not both"),
    ],
)
def test_samples_errors_are_one_line(db: Path, tmp_path: Path, args: list, message: str) -> None:
    out = tmp_path / "x.jsonl"
    result = runner.invoke(app, ["samples", "--db", str(db), "--out", str(out), *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_samples_refuses_an_unknown_file_type(db: Path, tmp_path: Path) -> None:
    bad = runner.invoke(app, ["samples", "--db", str(db), "--out", str(tmp_path / "x.csv")])
    assert bad.exit_code == 2 and "name it .jsonl" in bad.output


# -- MLflow ------------------------------------------------------------------------------------


def _runs(uri: str):  # noqa: ANN202 - a pandas DataFrame
    import mlflow

    mlflow.set_tracking_uri(uri)
    return mlflow.search_runs(experiment_names=["bakeoff"])


def test_mlflow_export_reads_back_and_never_duplicates(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("mlflow")
    pytest.importorskip("sqlalchemy")
    monkeypatch.chdir(tmp_path)  # MLflow puts artifacts under ./mlruns
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first = runner.invoke(app, ["mlflow", "--db", str(db), "--tracking-uri", uri])
    assert first.exit_code == 0, first.output
    assert "6 run(s) created, 0 updated, 0 unchanged" in first.output
    runs = _runs(uri)
    assert len(runs) == 6 and runs["tags.bakeoff.experiment_id"].is_unique
    with ResultsStore(db, readonly=True) as store:
        records = {r.id: r for r in store.experiments()}
    for _, run in runs.iterrows():
        record = records[run["tags.bakeoff.experiment_id"]]
        assert run["metrics.accuracy"] == pytest.approx(record.metrics.accuracy)
        assert run["metrics.accuracy_ci_low"] == pytest.approx(record.metrics.accuracy_ci_low)
        assert run["metrics.throughput_per_s"] == pytest.approx(record.timing.throughput_per_s)
        assert run["params.task"] == record.task and run["params.method"] == record.method
        assert run["params.seed"] == str(record.config.seed)
        assert run["tags.env.device"] == "cpu" and run["status"] == "FINISHED"
    tri = runs[runs["params.task"] == "tri"].iloc[0]
    assert tri["metrics.ece"] == pytest.approx(
        records[tri["tags.bakeoff.experiment_id"]].metrics.ece
    )

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri)
    artifacts = {a.path for a in client.list_artifacts(tri["run_id"])}
    assert artifacts == {"predictions.jsonl", "experiment.json"}
    losses = client.get_metric_history(tri["run_id"], "train_loss_epoch")
    assert [(m.step, m.value) for m in sorted(losses, key=lambda m: m.step)] == [(1, 0.9), (2, 0.5)]
    local = client.download_artifacts(tri["run_id"], "predictions.jsonl", str(tmp_path))
    lines = Path(local).read_text().splitlines()
    assert len(lines) == 9 and json.loads(lines[0])["schema"] == SAMPLES_SCHEMA

    again = runner.invoke(app, ["mlflow", "--db", str(db), "--tracking-uri", uri])
    assert again.exit_code == 0, again.output
    assert "0 run(s) created, 0 updated, 6 unchanged" in again.output
    assert len(_runs(uri)) == 6

    # a forced re-run replaces one result: its run is updated in place, not duplicated
    time.sleep(0.01)
    with ResultsStore(db) as store:
        _add_scored(store)
    report = tmp_path / "report"
    report.mkdir()
    (report / "report.md").write_text("# report\n")
    third = runner.invoke(
        app, ["mlflow", "--db", str(db), "--tracking-uri", uri, "--report", str(report)]
    )
    assert third.exit_code == 0, third.output
    assert "0 run(s) created, 1 updated, 5 unchanged" in third.output
    runs = _runs(uri)
    assert len(runs) == 6
    assert {a.path for a in client.list_artifacts(tri["run_id"], "report")} == {"report/report.md"}


def test_mlflow_missing_is_one_line_naming_the_extra(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if not installed
    result = runner.invoke(app, ["mlflow", "--db", str(db)])
    assert result.exit_code == 2
    assert "bakeoff[mlflow]" in result.output and len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("uri", "exc", "message"),
    [
        ("sqlite:///m.db", ImportError("No module named 'sqlalchemy'"), "no database support"),
        ("/tmp/runs", RuntimeError("The filesystem tracking backend ..."), "MLFLOW_ALLOW_FILE"),
        ("http://h:9", OSError("Max retries exceeded with url"), "cannot reach the MLflow"),
    ],
)
def test_mlflow_failures_are_said_in_users_words(uri: str, exc: Exception, message: str) -> None:
    from bakeoff.tracking import _mlflow_error

    error = _mlflow_error(uri, exc)
    assert message in str(error) and "\n" not in str(error)


# -- CLI habits --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, needle",
    [
        (["run", "--task", "sst2", "--model", "minilm", "--seed", "abc"], "--seed"),
        (["run", "--no-such-flag"], "--no-such-flag"),
        (["predict"], "input_file"),
        (["no-such-command"], "no-such-command"),
        (["results", "--format", "yaml"], "yaml"),
    ],
)
def test_usage_errors_are_one_line(args: list[str], needle: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], result.output
    assert "-h`" in lines[0] and "╭" not in result.output


def test_version_and_short_help() -> None:
    from bakeoff import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith(f"bakeoff {__version__} (Python")
    for args in (["run", "-h"], ["results", "-h"], ["cache", "list", "-h"], ["-h"]):
        shown = runner.invoke(app, args, terminal_width=200)
        assert shown.exit_code == 0, (args, shown.output)
        assert "Usage:" in shown.output and "-h" in shown.output
        # flags take no value: no type shown beside --help, --force or on/off switches
        assert "<bool>" not in shown.output, args
    choices = runner.invoke(app, ["results", "-h"], terminal_width=200).output
    assert "table|json|csv|markdown" in choices
    assert "auto|bf16|fp32" in runner.invoke(app, ["bench", "-h"], terminal_width=200).output


def test_shell_completion_script_and_completions(monkeypatch: pytest.MonkeyPatch) -> None:
    # by default typer detects the shell from the parent process, which a test runner started
    # outside a shell (CI agents, background jobs) does not have; name the shell instead (read
    # when typer builds the command, so before invoke)
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    script = runner.invoke(app, ["--show-completion", "bash"], prog_name="bakeoff")
    shown = runner.invoke(app, ["--help"], terminal_width=200).output
    assert "--install-completion" in shown and "--show-completion" in shown
    assert script.exit_code == 0 and "_BAKEOFF_COMPLETE" in script.output, script.output
    done = runner.invoke(
        app,
        [],
        prog_name="bakeoff",
        env={"_BAKEOFF_COMPLETE": "complete_bash", "COMP_WORDS": "bakeoff res", "COMP_CWORD": "1"},
    )
    assert done.output.split() == ["results"]
    formats = runner.invoke(
        app,
        [],
        prog_name="bakeoff",
        env={
            "_BAKEOFF_COMPLETE": "complete_bash",
            "COMP_WORDS": "bakeoff results --format ",
            "COMP_CWORD": "3",
        },
    )
    assert formats.output.split() == ["table", "json", "csv", "markdown"]


# -- GGUF cache --------------------------------------------------------------------------------


def test_gguf_cache_key_is_the_content_shared_across_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bakeoff.backends.causal_lm import gguf_cache_dir
    from bakeoff.models import ResolvedModel

    monkeypatch.setenv("BAKEOFF_CACHE", str(tmp_path / "cache"))
    one, two = tmp_path / "venv-a", tmp_path / "venv-b"
    one.mkdir()
    two.mkdir()
    (one / "model.gguf").write_bytes(b"GGUF tiny model bytes")
    (two / "other-name.gguf").write_bytes(b"GGUF tiny model bytes")  # a copy elsewhere
    first = gguf_cache_dir(ResolvedModel(str(one), "model.gguf"))
    assert first.parent == tmp_path / "cache" / "gguf"
    assert gguf_cache_dir(ResolvedModel(str(two), "other-name.gguf")) == first
    # the hash is remembered by (path, size, mtime): same size and time -> the memo answers
    index = json.loads((tmp_path / "cache" / "gguf-index.json").read_text())
    assert len(index) == 2 and len({v["sha256"] for v in index.values()}) == 1
    stat = (one / "model.gguf").stat()
    (one / "model.gguf").write_bytes(b"GGUF tiny model BYTES")
    os.utime(one / "model.gguf", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert gguf_cache_dir(ResolvedModel(str(one), "model.gguf")) == first
    # a changed file (new mtime) is hashed again and gets its own entry
    os.utime(one / "model.gguf", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert gguf_cache_dir(ResolvedModel(str(one), "model.gguf")) != first


def _entry(folder: Path, size: int, complete: bool = True, age_s: float = 0.0) -> Path:
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"\0" * size)
    (folder / "bakeoff-entry.json").write_text(json.dumps({"source": "tiny.gguf"}))
    marker = folder / ("bakeoff-complete" if complete else "partial")
    marker.write_text("ok\n")
    stamp = time.time() - age_s
    os.utime(marker, (stamp, stamp))
    os.utime(folder, (stamp, stamp))
    return folder


def test_cache_list_and_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bakeoff.backends.causal_lm import cache_entries

    monkeypatch.setenv("BAKEOFF_CACHE", str(tmp_path))
    gguf = tmp_path / "gguf"
    fresh = _entry(gguf / ("a" * 32), 2048)
    old = _entry(gguf / ("b" * 32), 1024, age_s=40 * 86400)
    stale = _entry(gguf / "SmolLM2-0123456789abcdef", 512, age_s=86400)
    saving = _entry(gguf / ".cccc-tmp", 256, complete=False)  # another process is writing it
    states = {e.path.name: e.state for e in cache_entries()}
    assert states == {
        fresh.name: "ready",
        old.name: "ready",
        stale.name: "stale",
        saving.name: "incomplete",
    }

    shown = runner.invoke(app, ["cache", "list"], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert "tiny.gguf" in shown.output and "2.0 KB" in shown.output and "4 entries" in shown.output

    result = runner.invoke(app, ["cache", "clear", "--older-than", "30d"])
    assert result.exit_code == 0 and "Removed 1 entry" in result.output
    assert not old.exists() and fresh.exists() and stale.exists()
    result = runner.invoke(app, ["cache", "clear"])
    assert result.exit_code == 0 and "Removed 2 entries" in result.output
    assert [p.name for p in gguf.iterdir()] == [saving.name]  # left alone while it may be written
    bad = runner.invoke(app, ["cache", "clear", "--older-than", "soon"])
    assert bad.exit_code == 2 and "expected an age like 30d" in bad.output


# -- expected calibration error ----------------------------------------------------------------


def test_ece_by_hand_and_reliability_bins() -> None:
    # ten at confidence 0.9 with seven right, ten at 0.6 all right:
    # ECE = 0.5 * |0.7 - 0.9| + 0.5 * |1.0 - 0.6| = 0.3
    gold = [0] * 20
    pred = [0] * 7 + [1] * 3 + [0] * 10
    scores = [[0.9, 0.1] if p == 0 else [0.1, 0.9] for p in pred[:10]] + [[0.6, 0.4]] * 10
    assert expected_calibration_error(scores, gold, pred) == pytest.approx(0.3)
    rows = [PredictionRow(i, g, p, s, None) for i, (g, p, s) in enumerate(zip(gold, pred, scores))]
    bins = reliability_data(rows)
    assert len(bins) == 15 and sum(b.count for b in bins) == 20
    full = [b for b in bins if b.count]
    assert [(b.count, b.accuracy) for b in full] == [(10, 1.0), (10, pytest.approx(0.7))]
    assert full[0].lower < 0.6 <= full[0].upper
    # rows without probabilities give no bins; a perfectly calibrated set has ECE 0
    assert reliability_data([PredictionRow(0, 0, 0, None, None)]) == []
    assert calibration_bins([1.0, 0.0], [True, False])[-1].count == 1
    assert expected_calibration_error([[1.0, 0.0]] * 4, [0] * 4, [0] * 4) == 0.0


def test_metrics_carry_ece_and_old_records_still_load() -> None:
    with_scores = compute_metrics([0, 1], [0, 1], ["a", "b"], [[0.8, 0.2], [0.4, 0.6]])
    assert with_scores.ece == pytest.approx(0.5 * 0.2 + 0.5 * 0.4)
    assert compute_metrics([0, 1], [0, 1], ["a", "b"]).ece is None
    old = with_scores.to_json()
    del old["ece"]
    assert Metrics.from_json(old).ece is None
    invalid = compute_metrics([0, 1], [-1, 1], ["a", "b"], [[0.9, 0.1], [0.1, 0.9]])
    # one bin at confidence 0.9 holding a right and an invalid (wrong) answer: |0.5 - 0.9|
    assert invalid.ece == pytest.approx(0.4)


# -- hub datasets as custom tasks ------------------------------------------------------------


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep ``datasets``' Arrow cache inside the test's folder."""
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    return tmp_path / "hf-cache"


def _write_folder(folder: Path, rows: dict[str, list[dict]]) -> Path:
    folder.mkdir(parents=True)
    for split, items in rows.items():
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    return folder


def test_hub_dataset_offline_is_one_line(hf_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bakeoff.custom import load_custom, parse_custom_config

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    cfg = parse_custom_config({"name": "imdb", "dataset": "nobody/no-such-dataset"}, "flags")
    with pytest.raises(BakeoffError) as info:
        load_custom(cfg)
    message = str(info.value)
    assert "cannot load dataset nobody/no-such-dataset: offline" in message
    assert "train_file/eval_file" in message and "\n" not in message


def test_task_yaml_names_a_dataset_loaded_through_datasets(
    tmp_path: Path, hf_cache: Path, toy_rows: list[dict]
) -> None:
    from bakeoff.custom import load_custom, load_custom_config

    rows = [{"review": r["text"], "stars": r["label"]} for r in toy_rows]
    _write_folder(tmp_path / "reviews", {"train": rows, "test": rows[::4]})
    yaml_file = tmp_path / "reviews.yaml"
    yaml_file.write_text(
        "name: reviews\ndataset: reviews\neval_split: test\ntext_column: review\n"
        "label_column: stars\n"
    )
    data = load_custom(load_custom_config(yaml_file))
    assert data.task.label_names == ("neg", "pos")
    assert len(data.train) == 20 and len(data.eval) == 5 and data.eval_split == "test"
    assert data.source.startswith("dataset:") and "[test]" in data.source
    again = load_custom(load_custom_config(yaml_file))
    assert again.fingerprint == data.fingerprint  # content-keyed: the same data, the same id

    # without eval_split: a seeded stratified hold-out of the train split
    yaml_file.write_text(
        "name: reviews\ndataset: reviews\ntext_column: review\nlabel_column: stars\n"
    )
    held = load_custom(load_custom_config(yaml_file))
    assert len(held.eval) == 4 and held.eval_split == "holdout0.2"

    yaml_file.write_text("name: reviews\ndataset: reviews\neval_split: validation\n")
    with pytest.raises(BakeoffError, match="Unknown split .*set train_split/eval_split"):
        load_custom(load_custom_config(yaml_file))


def test_class_label_columns_give_their_names_in_dataset_order(
    tmp_path: Path, hf_cache: Path
) -> None:
    import datasets

    from bakeoff.custom import load_custom, parse_custom_config

    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["pos", "neg"])}
    )
    folder = tmp_path / "classlabel"
    folder.mkdir()
    train = {"text": [f"text {i}" for i in range(12)], "label": [i % 2 for i in range(12)]}
    datasets.Dataset.from_dict(train, features=features).to_parquet(folder / "train.parquet")
    data = load_custom(parse_custom_config({"name": "cl", "dataset": str(folder)}, "flags"))
    assert data.task.label_names == ("pos", "neg")  # the dataset's order, not sorted

    unlabelled = {"text": ["a", "b", "c"], "label": [0, 1, -1]}  # as GLUE's test splits
    (folder / "train.parquet").unlink()
    datasets.Dataset.from_dict(unlabelled, features=features).to_parquet(folder / "train.parquet")
    with pytest.raises(BakeoffError, match=r"row 3 has no 'label' value"):
        load_custom(parse_custom_config({"name": "cl2", "dataset": str(folder)}, "flags"))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"name": "x"}, "no data given; set train_file"),
        ({"dataset": "a/b", "train_file": "t.csv"}, "both train_file and dataset"),
        ({"dataset": "a/b", "eval_file": "e.csv"}, "eval_file is for files"),
        ({"train_file": "t.csv", "eval_split": "test"}, "eval_split: for a hub dataset only"),
        ({"dataset": "a/b", "eval_split": "train"}, "eval_split is the train split"),
    ],
)
def test_dataset_keys_are_checked(raw: dict, message: str) -> None:
    from bakeoff.custom import load_custom, parse_custom_config

    with pytest.raises(BakeoffError, match=message) as info:
        load_custom(parse_custom_config(raw, "t.yaml"))
    assert "Value error" not in str(info.value) and "''" not in str(info.value)
