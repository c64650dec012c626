"""``bakeoff forget``: an experiment and the artifact the store records for it go, nothing else.

The store is made by real runs (a tiny random-weight BERT fine-tuned with ``--keep all``, so it
keeps a model folder; a tiny Llama prompted zero- and few-shot, which keep recipe files).
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bakeoff.cli import app
from bakeoff.store import ResultsStore
from tests.conftest import write_jsonl
from tests.llm_fixtures import tiny_llama_path

runner = CliRunner()


def _rows() -> list[dict]:
    good = ["a delight", "warm and wise", "loved it", "a triumph", "moving", "charming"]
    bad = ["a mess", "dull", "hated it", "a waste", "boring", "slow"]
    return [{"text": f"{t} {i}", "label": "pos"} for i, t in enumerate(good * 2)] + [
        {"text": f"{t} {i}", "label": "neg"} for i, t in enumerate(bad * 2)
    ]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, tiny_bert: Path) -> Path:
    """A store with one kept model folder and two kept recipes, made once for the module."""
    folder = tmp_path_factory.mktemp("forget")
    train = write_jsonl(folder / "toy.jsonl", _rows())
    db = folder / "b.db"
    common = ["--train-file", str(train), "--task-name", "toy", "--latency-samples", "2"]
    for args in (
        ["--model", str(tiny_bert), "--method", "finetune", "--epochs", "1",
         "--set", "finetune.min_steps=1", "--keep", "all"],
        ["--model", str(tiny_llama_path()), "--method", "zero-shot,few-shot", "-k", "2"],
    ):  # fmt: skip
        result = runner.invoke(app, ["run", *common, *args, "--db", str(db)])
        assert result.exit_code == 0, result.output
    return db


@pytest.fixture
def store_copy(built: Path, tmp_path: Path) -> Path:
    """A fresh copy of the built store and its artifacts folder, plus an unrelated file in it."""
    db = tmp_path / "b.db"
    shutil.copy(built, db)
    shutil.copytree(built.with_name("b.artifacts"), tmp_path / "b.artifacts")
    (tmp_path / "b.artifacts" / "my-notes.txt").write_text("not bakeoff's")
    return db


def _snapshot(db: Path) -> dict[str, str]:
    """Every file beside the store by content hash, and the store by its SQL dump (SQLite's own
    -wal/-shm housekeeping files are not content)."""
    files = {
        str(p.relative_to(db.parent)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(db.parent.rglob("*"))
        if p.is_file() and not p.name.startswith(db.name)
    }
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        files["b.db"] = hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()
    finally:
        conn.close()
    return files


def _state(db: Path) -> tuple[dict[str, str], dict[str, str | None]]:
    """(experiment id -> method, experiment id -> its kept artifact path)."""
    with ResultsStore(db, readonly=True) as store:
        experiments = {r.id: r.method for r in store.experiments(None)}
        kept = {a.experiment_id: a.path for a in store.artifacts()}
    return experiments, kept


def _id_of(db: Path, method: str) -> str:
    experiments, _ = _state(db)
    return next(rid for rid, m in experiments.items() if m == method)


@pytest.mark.parametrize("method", ["finetune", "few-shot"])
def test_forget_removes_the_experiment_and_its_artifact_and_nothing_else(
    store_copy: Path, method: str
) -> None:
    db = store_copy
    gone = _id_of(db, method)
    experiments, kept = _state(db)
    assert kept[gone], "the fixture must keep an artifact for the experiment"
    artifact = db.with_name("b.artifacts") / kept[gone]  # type: ignore[operator]
    assert artifact.exists()
    before = _snapshot(db)

    result = runner.invoke(app, ["forget", gone[:8], "--db", str(db), "--yes"])

    assert result.exit_code == 0, result.output
    after_experiments, after_kept = _state(db)
    assert gone not in after_experiments and gone not in after_kept
    # every other experiment and its artifact record is as it was
    assert after_experiments == {k: v for k, v in experiments.items() if k != gone}
    assert after_kept == {k: v for k, v in kept.items() if k != gone}
    with ResultsStore(db, readonly=True) as store:
        assert store.predictions(gone) == []
        for other in after_experiments:
            assert store.predictions(other)
    # on disk: exactly the forgotten artifact's files are gone, every other file is untouched
    after = _snapshot(db)
    removed = {f for f in before if f not in after}
    prefix = str(artifact.relative_to(db.parent))
    assert removed and all(f == prefix or f.startswith(prefix + "/") for f in removed)
    assert not artifact.exists()
    for name, digest in after.items():
        if name != "b.db":
            assert before[name] == digest, name
    assert (db.with_name("b.artifacts") / "my-notes.txt").read_text() == "not bakeoff's"
    # later results no longer show it
    results = runner.invoke(app, ["results", "--db", str(db), "--format", "json"])
    assert gone not in results.output and _id_of(db, "zero-shot") in results.output


def test_dry_run_lists_and_changes_nothing(store_copy: Path) -> None:
    db = store_copy
    target = _id_of(db, "finetune")
    before = _snapshot(db)
    result = runner.invoke(app, ["forget", "--method", "finetune", "--dry-run", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert target in result.output and "nothing was changed" in result.output
    assert _snapshot(db) == before


def test_declining_the_confirmation_changes_nothing(store_copy: Path) -> None:
    db = store_copy
    before = _snapshot(db)
    result = runner.invoke(app, ["forget", "--method", "zero-shot", "--db", str(db)], input="n\n")
    assert result.exit_code == 1
    assert _snapshot(db) == before


def test_unknown_id_is_one_line_exit_2(store_copy: Path) -> None:
    db = store_copy
    before = _snapshot(db)
    result = runner.invoke(app, ["forget", "ffffffffff", "--db", str(db), "--yes"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no experiment 'ffffffffff'")
    assert "Traceback" not in result.output
    assert _snapshot(db) == before


def test_nothing_named_is_an_error_not_forget_everything(store_copy: Path) -> None:
    db = store_copy
    before = _snapshot(db)
    result = runner.invoke(app, ["forget", "--db", str(db), "--yes"])
    assert result.exit_code == 2 and "name what to forget" in result.output
    assert _snapshot(db) == before


def test_a_recorded_path_outside_the_artifacts_folder_is_never_deleted(store_copy: Path) -> None:
    """The store decides what is deleted; a record pointing elsewhere must not reach it."""
    from bakeoff.forget import forget, select

    db = store_copy
    outside = db.with_name("precious.txt")
    outside.write_text("keep me")
    target = _id_of(db, "zero-shot")
    with ResultsStore(db) as store:
        with store._write() as conn:  # a damaged or hand-edited record
            conn.execute(
                "UPDATE artifacts SET path = '../precious.txt' WHERE experiment_id = ?", (target,)
            )
        plan = select(store, [target])
        assert target not in plan.files
        assert forget(store, plan) == []
    assert outside.read_text() == "keep me"
    assert target not in _state(db)[0]
