"""No command deletes what it did not write (issue 20): `export` and `report` refuse any folder
they did not mark, `.`, the store's folder and its artifacts, and replace their own output only
whole; a `--force` re-run whose final store write fails leaves the kept artifact and
`predict -e` exactly as they were; leftovers of killed runs are cleaned by the next run, and
nothing else is."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bakeoff.cli import app
from bakeoff.errors import BakeoffError
from bakeoff.outputs import MARKER
from bakeoff.store import ResultsStore

runner = CliRunner()


def _state(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and a hash of its content (SQLite's -wal/-shm index files,
    which a reader of the store may leave, aside)."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


def _one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    assert "Traceback" not in output
    return lines[0]


def _dead_pid() -> int:
    """The id of a process that has exited (what a killed run leaves in its file names)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@dataclass
class Outcome:
    exit_code: int
    output: str


def _invoke(args: list[str], data_dir: Path | None = None, **env: str) -> Outcome:
    """Run the CLI; a BakeoffError that reaches the entry point is printed as
    ``bakeoff.cli.main`` prints it (one ``error:`` line, exit 2)."""
    if data_dir is not None:
        env["BAKEOFF_DATA_DIR"] = str(data_dir)
    result = runner.invoke(app, args, env=env)
    if isinstance(result.exception, BakeoffError):
        return Outcome(result.exception.exit_code, result.output + f"error: {result.exception}\n")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Outcome(result.exit_code, result.output)


def _run_args(db: Path, tiny_bert: Path, *extra: str) -> list[str]:
    return [
        "run", "--task", "rte", "--model", str(tiny_bert), "--method", "finetune",
        "--train-limit", "48", "--eval-limit", "24", "--epochs", "1", "--latency-samples", "2",
        "--db", str(db), *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, data_dir: Path, tiny_bert: Path
) -> tuple[Path, str]:
    """A store with one finished fine-tuning experiment whose model is kept."""
    db = tmp_path_factory.mktemp("trained") / "b.db"
    result = _invoke(_run_args(db, tiny_bert), data_dir)
    assert result.exit_code == 0, result.output
    with ResultsStore(db, readonly=True) as store:
        [record] = store.experiments("done")
        assert store.artifact(record.id).path == record.id
    return db, record.id


@pytest.fixture
def store_copy(trained: tuple[Path, str], tmp_path: Path) -> tuple[Path, str]:
    """A private copy of the trained store and its artifacts folder, in ``tmp_path/store``."""
    db, experiment_id = trained
    folder = tmp_path / "store"
    folder.mkdir()
    shutil.copy2(db, folder / db.name)
    shutil.copytree(db.with_name("b.artifacts"), folder / "b.artifacts")
    return folder / db.name, experiment_id


def _user_folder(path: Path) -> Path:
    """A folder of the user's own files, with a sub-folder."""
    (path / "sub").mkdir(parents=True)
    (path / "notes.txt").write_text("my notes\n", encoding="utf-8")
    (path / "sub" / "data.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    return path


# ---- export never deletes what it did not write ----------------------------------------------

#: where `export -o TARGET --overwrite` is pointed, relative to the user's folder (the current
#: folder for the command), and a word the one-line refusal must contain
EXPORT_REFUSED: list[tuple[str, str, str]] = [
    ("dot", ".", "current folder"),
    ("cwd-by-name", "{cwd}", "current folder"),
    ("parent-of-cwd", "..", "current folder"),
    ("user-folder", "mine", "not written by bakeoff"),
    ("user-file", "notes.txt", "is a file"),
    ("store-folder", "{store}", "would replace or hold"),
    ("kept-artifact", "{artifact}", "would replace or hold"),
    ("artifacts-folder", "{artifacts}", "would replace or hold"),
]


@pytest.mark.parametrize(
    "target, needle", [(t, n) for _, t, n in EXPORT_REFUSED], ids=[i for i, _, _ in EXPORT_REFUSED]
)
def test_export_overwrite_never_deletes_what_bakeoff_did_not_write(
    store_copy: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    needle: str,
) -> None:
    db, experiment_id = store_copy
    home = _user_folder(tmp_path / "home")
    _user_folder(home / "mine")
    (db.parent / "my-own-file.txt").write_text("keep me\n", encoding="utf-8")
    monkeypatch.chdir(home)
    before = {"home": _state(home), "store": _state(db.parent)}
    output = target.format(
        cwd=home,
        store=db.parent,
        artifact=db.with_name("b.artifacts") / experiment_id,
        artifacts=db.with_name("b.artifacts"),
    )
    result = _invoke(["export", "-e", experiment_id, "-o", output, "--db", str(db), "--overwrite"])
    assert result.exit_code == 2, result.output
    assert needle in _one_error_line(result.output)
    assert {"home": _state(home), "store": _state(db.parent)} == before
    assert sorted(p.name for p in home.parent.iterdir()) == ["home", "store"]  # no staging left


def test_reexport_replaces_only_its_own_folder(
    store_copy: tuple[Path, str], tmp_path: Path
) -> None:
    db, experiment_id = store_copy
    out = tmp_path / "hf"
    args = ["export", "-e", experiment_id, "-o", str(out), "--db", str(db)]
    first = _invoke(args)
    assert first.exit_code == 0, first.output
    marker = json.loads((out / MARKER).read_text(encoding="utf-8"))
    assert marker["command"] == "export" and "README.md" in marker["files"]
    assert set(marker["files"]) == set(_state(out)) - {MARKER}

    again = _invoke(args)
    assert again.exit_code == 2 and "--overwrite" in _one_error_line(again.output)
    (out / "README.md").write_text("stale\n", encoding="utf-8")
    replaced = _invoke([*args, "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert "Wilson" in (out / "README.md").read_text(encoding="utf-8")

    # a file of the user's inside the export: the folder is no longer bakeoff's alone
    (out / "my-notes.txt").write_text("mine\n", encoding="utf-8")
    before = _state(out)
    refused = _invoke([*args, "--overwrite"])
    assert refused.exit_code == 2
    assert "my-notes.txt" in _one_error_line(refused.output)
    assert _state(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf", "store"]


def test_failed_reexport_leaves_the_old_export_whole(
    store_copy: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, experiment_id = store_copy
    out = tmp_path / "hf"
    args = ["export", "-e", experiment_id, "-o", str(out), "--db", str(db), "--overwrite"]
    assert _invoke(args).exit_code == 0
    before = _state(out)

    def full_disk(*_: Any, **__: Any) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("bakeoff.export.model_card", full_disk)
    result = _invoke(args)
    assert result.exit_code == 2
    assert "No space left on device" in _one_error_line(result.output)
    assert _state(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf", "store"]


def test_export_into_a_read_only_folder_is_one_line(
    store_copy: tuple[Path, str], tmp_path: Path
) -> None:
    """Permissions bind only a process without root's override capabilities, so the command
    runs in a child process (as tests/test_faults.py does for read-only stores)."""
    db, experiment_id = store_copy
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    code = (
        "import sys\nfrom bakeoff.cli import main\n"
        f"sys.argv = ['bakeoff', 'export', '-e', {experiment_id!r}, '-o', "
        f"{str(locked / 'hf')!r}, '--db', {str(db)!r}]\nmain()"
    )
    cmd = [sys.executable, "-c", code]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root and setpriv is missing: permissions cannot bind")
        cmd = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", *cmd]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    finally:
        locked.chmod(0o755)
    assert done.returncode == 2, done.stderr
    line = _one_error_line(done.stderr)
    assert "cannot write" in line and "Permission denied" in line and "--output" in line
    assert list(locked.iterdir()) == []


# ---- report --out ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.report_fixtures import build_store

    db = tmp_path_factory.mktemp("report-store") / "r.db"
    build_store(db).close()
    return db


def _report(db: Path, out: Path | str) -> Any:
    return _invoke(["report", "--db", str(db), "--out", str(out)])


@pytest.mark.parametrize(
    "target, needle",
    [("mine", "not written by bakeoff"), (".", "current folder"), ("{store}", "would replace")],
    ids=["user-folder", "dot", "store-folder"],
)
def test_report_refuses_a_folder_it_did_not_write(
    report_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    needle: str,
) -> None:
    home = _user_folder(tmp_path / "home")
    _user_folder(home / "mine")
    monkeypatch.chdir(home)
    before = _state(home)
    result = _report(report_db, target.format(store=report_db.parent))
    assert result.exit_code == 2
    assert needle in _one_error_line(result.output)
    assert _state(home) == before


def test_report_replaces_its_own_folder_and_adopts_an_older_one(
    report_db: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    first = _report(report_db, out)
    assert first.exit_code == 0, first.output
    written = _state(out)
    assert {"report.md", "report.html", MARKER} <= set(written)
    assert _report(report_db, out).exit_code == 0  # its own folder: replaced

    # a report folder written by an older bakeoff (no marker), with a killed run's leftovers
    (out / MARKER).unlink()
    dead = _dead_pid()
    (out / f".figures.{dead}.tmp").mkdir()
    (out / f".figures.{dead}.tmp" / "accuracy.png").write_bytes(b"half")
    (out / f".report.md.{dead}.tmp").write_text("half", encoding="utf-8")
    adopted = _report(report_db, out)
    assert adopted.exit_code == 0, adopted.output
    assert set(_state(out)) == set(written)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]

    # the user adds a file: no longer bakeoff's alone, so the next report refuses
    (out / "figures" / "my-sketch.png").write_bytes(b"mine")
    refused = _report(report_db, out)
    assert refused.exit_code == 2 and "my-sketch.png" in _one_error_line(refused.output)
    assert (out / "figures" / "my-sketch.png").read_bytes() == b"mine"


def test_killed_report_leftovers_are_cleaned_and_an_interrupted_swap_restored(
    report_db: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    assert _report(report_db, out).exit_code == 0
    before = _state(out)
    dead = _dead_pid()
    # killed mid-swap: the old report set aside, the new one staged, neither in place
    aside = tmp_path / f".report.{dead}.old"
    out.rename(aside)
    staged = tmp_path / f".report.{dead}.tmp"
    shutil.copytree(aside, staged)
    live = tmp_path / f".report.{os.getpid()}.tmp"  # a live writer's staging: not touched
    live.mkdir()
    (tmp_path / ".report.notours").mkdir()  # not our pattern: not touched

    from bakeoff.outputs import sweep

    sweep(out)
    assert _state(out) == before, "the set-aside report was not put back"
    assert not aside.exists() and not staged.exists()
    assert live.is_dir() and (tmp_path / ".report.notours").is_dir()


# ---- a failed --force re-run keeps the finished result and its artifact -----------------------


def _predict(db: Path, experiment_id: str, source: Path, out: Path) -> str:
    result = _invoke(
        ["predict", str(source), "-o", str(out), "--db", str(db), "-e", experiment_id]
        + ["--text-pair-column", "text_pair"]  # RTE: the model was trained on text pairs
    )
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def _locked_finish(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Another process holds the store's write lock while the re-run makes its final write."""
    real = ResultsStore.finish

    def finish(self: ResultsStore, *args: Any, **kwargs: Any) -> None:
        holder = sqlite3.connect(self.path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            real(self, *args, **kwargs)
        finally:
            holder.execute("ROLLBACK")
            holder.close()

    monkeypatch.setattr(ResultsStore, "finish", finish)
    return lambda: None


def _full_disk_in_transaction(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """SQLite runs out of space inside the final transaction (after the old predictions were
    deleted in it), so it rolls back."""

    def put(*_: Any, **__: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(ResultsStore, "_put_artifact", staticmethod(put))
    return lambda: None


def _os_error_at_commit(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """The final write fails with an OSError (a full disk seen by the OS, not SQLite)."""

    def finish(*_: Any, **__: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ResultsStore, "finish", finish)
    return lambda: None


FINAL_WRITE_FAILURES = {
    "locked": _locked_finish,
    "disk-full-in-sqlite": _full_disk_in_transaction,
    "disk-full": _os_error_at_commit,
}


@pytest.mark.parametrize("failure", list(FINAL_WRITE_FAILURES))
def test_failed_force_rerun_keeps_the_artifact_and_predict(
    store_copy: tuple[Path, str],
    tmp_path: Path,
    data_dir: Path,
    tiny_bert: Path,
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
) -> None:
    db, experiment_id = store_copy
    artifacts = db.with_name("b.artifacts")
    source = tmp_path / "in.csv"
    source.write_text("text,text_pair\nit rains,it is wet\nhe left,he stayed\n", encoding="utf-8")
    expected = _predict(db, experiment_id, source, tmp_path / "before.csv")
    with ResultsStore(db, readonly=True) as store:
        row_before = store.artifact(experiment_id)
        [done] = store.experiments("done")
        predictions_before = store.predictions(experiment_id)
    files_before = _state(artifacts)

    FINAL_WRITE_FAILURES[failure](monkeypatch)
    result = _invoke(_run_args(db, tiny_bert, "--force"), data_dir, BAKEOFF_DB_TIMEOUT="0.2")
    monkeypatch.undo()
    # the store (locked, full) stops the grid (2); any other error fails the attempt (1)
    assert result.exit_code in (1, 2), result.output
    assert "Traceback" not in result.output

    assert _state(artifacts) == files_before, "the kept artifact changed"
    assert sorted(p.name for p in artifacts.iterdir()) == [experiment_id]
    with ResultsStore(db, readonly=True) as store:
        assert store.artifact(experiment_id) == row_before
        [after] = store.experiments("done")
        assert after.id == experiment_id and after.metrics == done.metrics
        assert store.predictions(experiment_id) == predictions_before
    assert _predict(db, experiment_id, source, tmp_path / "after.csv") == expected

    # the same command then replaces it: a new name, the old one deleted after the commit
    again = _invoke(_run_args(db, tiny_bert, "--force"), data_dir)
    assert again.exit_code == 0, again.output
    with ResultsStore(db, readonly=True) as store:
        row = store.artifact(experiment_id)
    assert row.path and row.path != experiment_id and row.path.startswith(experiment_id + ".")
    assert sorted(p.name for p in artifacts.iterdir()) == [row.path]
    _predict(db, experiment_id, source, tmp_path / "new.csv")


def test_killed_runs_leftovers_in_the_artifacts_folder_are_cleaned(
    store_copy: tuple[Path, str], data_dir: Path, tiny_bert: Path
) -> None:
    db, experiment_id = store_copy
    artifacts = db.with_name("b.artifacts")
    kept = _state(artifacts / experiment_id)
    dead = _dead_pid()
    left = {
        f".{experiment_id}.{dead}.tmp": "dir",  # killed while staging
        f".{experiment_id}.json.{dead}.tmp": "file",
        f"{experiment_id}.{dead}": "dir",  # killed between writing and committing
    }
    stays = {
        f".{experiment_id}.{os.getpid()}.tmp": "dir",  # a live process is writing it
        "my-notes.txt": "file",  # not bakeoff's naming
        f"{experiment_id}.backup": "dir",
    }
    for name, kind in {**left, **stays}.items():
        if kind == "dir":
            (artifacts / name).mkdir()
            (artifacts / name / "model.safetensors").write_bytes(b"x")
        else:
            (artifacts / name).write_bytes(b"x")

    result = _invoke(_run_args(db, tiny_bert), data_dir)  # the same command: all done, skipped
    assert result.exit_code == 0, result.output
    names = {p.name for p in artifacts.iterdir()}
    assert names == {experiment_id, *stays}, names
    assert _state(artifacts / experiment_id) == kept
