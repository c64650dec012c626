"""Fine-tuning through the runner and the CLI on a tiny random BERT; resume after SIGKILL."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bakeoff.cli import app
from bakeoff.config import make_grid
from bakeoff.runner import LocalExecutor, pending, plan, skipped_pairs
from bakeoff.store import ResultsStore

runner = CliRunner()


def _grid(data_dir: Path, model: Path, **kw):
    raw = dict(
        tasks=["rte"],
        models=[str(model)],
        methods=["finetune"],
        data_dir=str(data_dir),
        train_limit=48,
        eval_limit=24,
        latency_samples=4,
        finetune={"epochs": 1, "batch_size": 16},
    )
    raw.update(kw)
    return make_grid(raw)


def test_finetune_experiment_end_to_end(tmp_path: Path, data_dir: Path, tiny_bert: Path) -> None:
    store = ResultsStore(tmp_path / "b.db")
    experiments = plan(_grid(data_dir, tiny_bert))
    assert len(experiments) == 1 and len(experiments[0].eval_indices) == 24
    [outcome] = LocalExecutor().run(experiments, store)
    assert outcome.status == "done", outcome.error
    rec = store.experiments("done")[0]
    assert rec.metrics.n == 24 and 0 <= rec.metrics.accuracy <= 1
    assert rec.training.labels_used == 48 and rec.training.train_time_s > 0
    assert rec.timing.latency_n == 4 and rec.timing.throughput_per_s > 0
    assert rec.environment["packages"]["transformers"]
    preds = store.predictions(rec.id)
    assert len(preds) == 24 and all(abs(sum(p.scores) - 1) < 1e-4 for p in preds)
    assert {p.idx for p in preds} == set(experiments[0].eval_indices)
    assert pending(experiments, store) == ([], experiments)


def test_predictions_do_not_depend_on_batch_size(data_dir: Path, tiny_bert: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from bakeoff.data import load_builtin
    from bakeoff.methods.finetune import EncoderClassifier
    from bakeoff.tasks import get_task

    data = load_builtin(get_task("rte"), data_dir)
    clf = EncoderClassifier(
        AutoModelForSequenceClassification.from_pretrained(tiny_bert),
        AutoTokenizer.from_pretrained(tiny_bert),
        data.task.label_names,
        128,
        8,
        "cpu",
        "fp32",
    )
    a = clf.predict(data.eval[:20], batch_size=1)
    b = clf.predict(data.eval[:20], batch_size=8)
    assert a.labels == b.labels
    assert max(abs(x - y) for ra, rb in zip(a.scores, b.scores) for x, y in zip(ra, rb)) < 1e-4


def _run(args: list[str], data_dir: Path):
    return runner.invoke(app, ["run", *args], env={"BAKEOFF_DATA_DIR": str(data_dir)})


def test_cli_run_results_and_skip(tmp_path: Path, data_dir: Path, tiny_bert: Path) -> None:
    db = str(tmp_path / "b.db")
    args = [
        "--task",
        "rte",
        "--model",
        str(tiny_bert),
        "--method",
        "finetune",
        "--train-limit",
        "32",
        "--eval-limit",
        "16",
        "--epochs",
        "1",
        "--latency-samples",
        "2",
        "--db",
        db,
    ]
    first = _run(args, data_dir)
    assert first.exit_code == 0, first.output
    assert "done" in first.output
    again = _run(args, data_dir)
    assert again.exit_code == 0 and "Nothing new to run" in again.output and "skip" in again.output
    shown = runner.invoke(app, ["results", "--db", db])
    assert shown.exit_code == 0 and "rte" in shown.output and "finetune" in shown.output
    forced = _run([*args, "--force"], data_dir)
    assert forced.exit_code == 0 and "Running 1" in forced.output


def test_mixed_grid_runs_the_pairs_that_fit(data_dir: Path) -> None:
    grid = make_grid(
        dict(
            tasks=["rte"],
            models=["minilm", "smollm2-135m"],
            methods=["finetune", "zero-shot", "few-shot"],
            data_dir=str(data_dir),
        )
    )
    pairs = [(e.config.model, e.config.method) for e in plan(grid)]
    assert pairs == [
        ("minilm", "finetune"),
        ("smollm2-135m", "zero-shot"),
        ("smollm2-135m", "few-shot"),
    ]
    assert list(skipped_pairs(grid)) == [
        ("minilm", "zero-shot"),
        ("minilm", "few-shot"),
        ("smollm2-135m", "finetune"),
    ]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--task", "sst3", "--model", "minilm"], "unknown task 'sst3'"),
        (["--task", "rte", "--model", "no-such-model"], "unknown model 'no-such-model'"),
        (["--task", "rte", "--model", "./missing-folder"], "does not exist"),
        (["--task", "rte", "--model", "smollm2-135m", "--method", "finetune"], "causal LM"),
        (["--task", "rte", "--model", "minilm", "--method", "zero-shot"], "is an encoder"),
        # a model that fits no method of the grid was surely meant to run
        (
            ["--task", "rte", "--model", "minilm,smollm2-135m", "--method", "zero-shot"],
            "is an encoder",
        ),
        (["--task", "rte", "--model", "minilm", "--method", "distill"], "unknown method 'distill'"),
        (["--model", "minilm"], "no tasks given"),
        (["--train-file", "nope.csv", "--model", "minilm"], "not found"),
    ],
)
def test_cli_bad_input_one_line_nonzero(tmp_path: Path, data_dir: Path, args, needle) -> None:
    db = tmp_path / "b.db"
    result = _run([*args, "--db", str(db)], data_dir)
    assert result.exit_code != 0
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert needle in " ".join(result.output.split()), result.output
    assert len(lines) <= 3  # one message (rich may wrap a long line)
    assert not db.exists()  # every check runs before the store is created


def test_cli_custom_files(
    tmp_path: Path, tiny_bert: Path, toy_rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import write_jsonl

    (tmp_path / "data").mkdir()
    write_jsonl(tmp_path / "data" / "reviews.jsonl", toy_rows)
    monkeypatch.chdir(tmp_path)  # a path relative to where the user stands must work
    result = runner.invoke(
        app,
        [
            "run",
            "--train-file",
            "data/reviews.jsonl",
            "--task-name",
            "reviews",
            "--model",
            str(tiny_bert),
            "--epochs",
            "1",
            "--latency-samples",
            "2",
            "--db",
            str(tmp_path / "b.db"),
        ],
    )
    assert result.exit_code == 0, result.output
    rec = ResultsStore(tmp_path / "b.db").experiments("done")[0]
    assert rec.task == "reviews" and rec.label_names == ["neg", "pos"] and rec.metrics.n == 4


def test_cli_unreadable_store(tmp_path: Path, data_dir: Path) -> None:
    bad = tmp_path / "b.db"
    bad.write_bytes(b"\x00garbage" * 200)
    result = _run(["--task", "rte", "--model", "minilm", "--db", str(bad)], data_dir)
    assert result.exit_code != 0 and "not a readable bakeoff results store" in " ".join(
        result.output.split()
    )
    assert bad.read_bytes() == b"\x00garbage" * 200


def test_sigkill_mid_grid_then_resume(tmp_path: Path, data_dir: Path, tiny_bert: Path) -> None:
    """Kill a running grid with SIGKILL; the re-run keeps every finished experiment and redoes the rest."""
    db = tmp_path / "b.db"
    cmd = [
        sys.executable,
        "-m",
        "bakeoff.cli",
        "run",
        "--task",
        "rte,sst2,boolq,anli_r1",
        "--model",
        str(tiny_bert),
        "--train-limit",
        "48",
        "--eval-limit",
        "32",
        "--epochs",
        "1",
        "--latency-samples",
        "2",
        "--db",
        str(db),
    ]
    env = {**os.environ, "BAKEOFF_DATA_DIR": str(data_dir)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    done_before: dict[str, float] = {}
    try:
        while time.time() < deadline and proc.poll() is None:
            if db.exists():
                try:
                    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
                        rows = conn.execute(
                            "SELECT id, finished_at FROM experiments WHERE status='done'"
                        ).fetchall()
                except sqlite3.Error:
                    rows = []
                if rows:
                    done_before = dict(rows)
                    break
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert done_before, "no experiment finished before the deadline"
    store = ResultsStore(db)
    assert store.integrity_ok()
    snapshot = {r.id: (r.status, r.finished_at) for r in store.experiments(None)}
    assert len([s for s, _ in snapshot.values() if s == "done"]) < 4, (
        "grid finished before the kill"
    )
    for eid in done_before:
        assert len(store.predictions(eid)) == 32
    store.close()
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    out = " ".join(rerun.stdout.split())
    store = ResultsStore(db)
    records = {r.id: r for r in store.experiments(None)}
    assert len(records) == 4 and all(r.status == "done" for r in records.values())
    for eid, (status, finished_at) in snapshot.items():
        if status == "done":
            assert (
                records[eid].finished_at == finished_at and records[eid].attempts == 1
            )  # not repeated
            assert eid in out  # reported as skipped
    assert all(len(store.predictions(eid)) == 32 for eid in records)
    assert store.integrity_ok()


def test_same_command_twice_gives_identical_predictions(
    tmp_path: Path, data_dir: Path, tiny_bert: Path
) -> None:
    """Two processes (with different hash seeds) running one command store the same predictions
    and scores: sampling, training and evaluation depend on the seed alone."""
    stores = []
    for run, hash_seed in enumerate(("1", "2")):
        db = tmp_path / f"run{run}.db"
        cmd = [
            sys.executable, "-m", "bakeoff.cli", "run", "--task", "rte", "--model",
            str(tiny_bert), "--train-limit", "32", "--eval-limit", "24", "--epochs", "1",
            "--latency-samples", "2", "--db", str(db),
        ]  # fmt: skip
        env = {**os.environ, "BAKEOFF_DATA_DIR": str(data_dir), "PYTHONHASHSEED": hash_seed}
        subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=600)
        stores.append(ResultsStore(db, readonly=True))
    (a,), (b,) = (s.experiments("done") for s in stores)
    assert a.id == b.id
    first, second = stores[0].predictions(a.id), stores[1].predictions(b.id)
    assert [(p.idx, p.pred, p.raw_scores) for p in first] == [
        (p.idx, p.pred, p.raw_scores) for p in second
    ]


def test_device_reaches_every_planned_experiment(data_dir: Path, tiny_bert: Path) -> None:
    experiments = plan(_grid(data_dir, tiny_bert, device="cpu", seeds=[1, 2]))
    assert [e.config.device for e in experiments] == ["cpu", "cpu"]
    # timing-only: the same experiment whichever device runs it
    assert experiments[0].id == plan(_grid(data_dir, tiny_bert, seeds=[1, 2]))[0].id
