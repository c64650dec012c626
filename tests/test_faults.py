"""Fault injection: a crash at every step that writes the results store, Ctrl-C, two processes on
one store, a full disk, read-only and hand-edited stores.

Every test checks the store's promise (``bakeoff.store``): a finished result is never lost, no
experiment is ``done`` without all its predictions, nothing is half-written, the file passes
SQLite's integrity check, and running again recovers.

Crashes are injected at chosen SQL statements *inside* each step's transaction (after the step's
earlier statements ran), two ways: an exception raised there in this process (an SQLite error,
or Ctrl-C's KeyboardInterrupt), and SIGKILL of a separate process there. The store steps use a
synthetic experiment (no model), so every point costs milliseconds; the scenarios a user meets
(Ctrl-C during training, the same command twice, a full disk) run the real CLI on a tiny BERT.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import bakeoff.store as store_module
from bakeoff.classifier import Predictions
from bakeoff.cli import app
from bakeoff.config import ExperimentConfig, FinetuneSettings
from bakeoff.data import Example
from bakeoff.errors import BakeoffError
from bakeoff.metrics import compute_metrics
from bakeoff.records import Timing, TrainingRecord
from bakeoff.store import ResultsStore, StoreError

REPO = Path(__file__).resolve().parents[1]
#: src/bakeoff/report/command.py opens the store with ResultsStore(path), not readonly=True

# ---- a synthetic experiment ------------------------------------------------------------------

LABELS = ["neg", "pos"]
KEY = "t:f:validation"
OTHER_KEY = "t:g:validation"
IDX = [0, 2, 4, 6, 8, 10]  # a sample's indices are not contiguous
GOLD = [0, 1, 0, 1, 0, 1]
N = len(IDX)
#: the finished result predicts OLD everywhere; a later attempt predicts NEW
OLD, NEW = 0, 1


def _config(seed: int) -> ExperimentConfig:
    return ExperimentConfig(
        task="t",
        data_fingerprint="f",
        eval_split="validation",
        model="m",
        method="finetune",
        seed=seed,
        settings=FinetuneSettings(),
    )


#: done in every seeded store, then re-run (as ``--force`` or a second process would)
FIRST = _config(99)
#: never finished before: its first attempt is the one that crashes
SECOND = _config(7)


def _examples(key_texts: str) -> list[tuple[int, Example]]:
    return [(i, Example(f"{key_texts} {i}", g)) for i, g in zip(IDX, GOLD)]


def _finish(store: ResultsStore, config: ExperimentConfig, value: int) -> None:
    probs = [0.8, 0.2] if value == 0 else [0.2, 0.8]
    store.finish(
        config.experiment_id(),
        IDX,
        GOLD,
        Predictions([value] * N, [probs] * N, None, [[1.0, -1.0]] * N),
        compute_metrics(GOLD, [value] * N, LABELS),
        Timing(N, 1, 1.0, float(N), 1.0, 1.0, 2, 10.0, "process_peak_rss", "cpu"),
        TrainingRecord(labels_used=10 + value),
    )


def _start(store: ResultsStore, config: ExperimentConfig) -> bool:
    return store.start(config.experiment_id(), config, KEY, LABELS, {"device": "cpu"})


def seed_store(path: Path) -> None:
    """A store holding one finished experiment (FIRST, predicting OLD)."""
    with ResultsStore(path) as store:
        store.save_examples(KEY, _examples("text"), "t", [3, 3])
        assert _start(store, FIRST)
        _finish(store, FIRST, OLD)


# ---- crash points ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """A crash inside ``step`` at the first SQL statement containing ``sql``."""

    step: str
    sql: str
    where: str

    @property
    def id(self) -> str:
        return f"{self.step}@{self.where}"


POINTS = [
    Point("save_examples", "INSERT OR IGNORE INTO examples", "examples"),
    Point("save_examples", "COMMIT", "commit"),
    Point("start", "INSERT INTO experiments", "upsert"),
    Point("start", "COMMIT", "commit"),
    # a forced re-run of FIRST: the old predictions are already deleted at the second point
    Point("finish", "DELETE FROM predictions", "delete"),
    Point("finish", "INSERT INTO predictions", "predictions"),
    Point("finish", "SET status='done'", "mark-done"),
    Point("finish", "SET lease_owner = NULL", "release"),
    Point("finish", "COMMIT", "commit"),
    # SECOND's first attempt: nothing may say 'done' without its predictions
    Point("finish-new", "INSERT INTO predictions", "predictions"),
    Point("finish-new", "COMMIT", "commit"),
    Point("fail", "SET status='failed'", "mark-failed"),
    Point("fail", "COMMIT", "commit"),
    Point("heartbeat", "SET lease_at", "renew"),
]


class Tripwire:
    """Stands in for the store's sqlite3 connection: runs every statement, except that the first
    one containing ``sql`` calls ``crash`` instead of running."""

    def __init__(self, conn: sqlite3.Connection, sql: str, crash: Callable[[], None]) -> None:
        self._conn, self._sql, self._crash, self._armed = conn, sql, crash, True

    def _check(self, sql: str) -> None:
        if self._armed and self._sql in sql:
            self._armed = False
            self._crash()

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        self._check(sql)
        return self._conn.execute(sql, *args)

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        self._check(sql)
        return self._conn.executemany(sql, rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class Crash:
    """What the tripwire does: raise ``exc`` here, or (``exc=None``) SIGKILL this process."""

    def __init__(self, exc: BaseException | None) -> None:
        self.exc = exc
        self.fired = threading.Event()

    def __call__(self) -> None:
        self.fired.set()
        if self.exc is None:
            os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(60)  # SIGKILL is not deferred; never reached
        raise self.exc


def attempt(store: ResultsStore, point: Point, crash: Crash, patch: Callable[..., None]) -> None:
    """Run the store calls up to ``point.step`` normally, then the step with its tripwire armed.
    ``patch`` is ``monkeypatch.setattr`` here and plain ``setattr`` in a child process."""
    if point.step == "heartbeat":
        patch(store_module, "LEASE_HEARTBEAT_S", 0.02)
        real_connect = sqlite3.connect

        def connect(*args: Any, **kwargs: Any) -> Any:
            conn = real_connect(*args, **kwargs)
            if threading.current_thread().name.startswith("lease-"):
                return Tripwire(conn, point.sql, crash)
            return conn

        patch(sqlite3, "connect", connect)
        assert _start(store, FIRST)
        assert crash.fired.wait(30), "the heartbeat never ran"
        _finish(store, FIRST, NEW)
        return
    if point.step in ("finish", "fail"):
        assert _start(store, FIRST)
    if point.step == "finish-new":
        assert _start(store, SECOND)
    store._conn = Tripwire(store._conn, point.sql, crash)  # type: ignore[assignment]
    if point.step == "save_examples":
        store.save_examples(OTHER_KEY, _examples("other"), "t", [3, 3])
    elif point.step == "start":
        _start(store, FIRST)
    elif point.step == "finish":
        _finish(store, FIRST, NEW)
    elif point.step == "finish-new":
        _finish(store, SECOND, NEW)
    elif point.step == "fail":
        store.fail(FIRST.experiment_id(), "interrupted")
    else:
        raise AssertionError(point.step)


def verify(path: Path, first_value: int = OLD) -> None:
    """What any crash must leave: FIRST done with all its predictions (``first_value``), no
    other row done without predictions or holding some, no half-saved examples, an intact file."""
    with ResultsStore(path, readonly=True) as store:
        assert store.integrity_ok()
        records = {r.id: r for r in store.experiments(None)}
        first = records[FIRST.experiment_id()]
        assert first.status == "done", f"the finished result was lost: {first.status}"
        assert first.metrics == compute_metrics(GOLD, [first_value] * N, LABELS)
        expected = [(i, g, first_value) for i, g in zip(IDX, GOLD)]
        assert [(p.idx, p.gold, p.pred) for p in store.predictions(first.id)] == expected
        for r in records.values():
            n = len(store.predictions(r.id))
            if r.status == "done":
                assert r.metrics is not None and n == r.metrics.n == N, r.id
            else:
                assert n == 0, f"{r.status} experiment {r.id} holds {n} predictions"
        assert len(store.examples(OTHER_KEY)) in (0, N), "examples half-saved"
        assert len(store.examples(KEY)) == N


def recover(path: Path, point: Point) -> None:
    """Run the crashed step again, in a new process's place: it is not blocked and completes."""
    with ResultsStore(path) as store:
        if point.step == "save_examples":
            store.save_examples(OTHER_KEY, _examples("other"), "t", [3, 3])
            assert len(store.examples(OTHER_KEY)) == N
            return
        config = SECOND if point.step == "finish-new" else FIRST
        assert _start(store, config), "the crashed attempt's lease blocks the re-run"
        _finish(store, config, NEW)
        assert store.status(config.experiment_id()) == "done"
        assert [p.pred for p in store.predictions(config.experiment_id())] == [NEW] * N
        assert store.integrity_ok()


# ---- (a) an exception at each point ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite-error", "ctrl-c"])
@pytest.mark.parametrize("point", POINTS, ids=[p.id for p in POINTS])
def test_exception_at_each_store_step(
    point: Point, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if point.step == "heartbeat" and kind == "ctrl-c":
        pytest.skip("Ctrl-C reaches only the main thread, never the heartbeat")
    exc: BaseException = (
        KeyboardInterrupt() if kind == "ctrl-c" else sqlite3.OperationalError("disk I/O error")
    )
    path = tmp_path / "b.db"
    seed_store(path)
    crash = Crash(exc)
    store = ResultsStore(path)
    if point.step == "heartbeat":
        # a failed renewal is retried at the next beat; the experiment finishes as usual
        attempt(store, point, crash, monkeypatch.setattr)
        store.close()
        verify(path, first_value=NEW)
        recover(path, point)
        return
    # an SQLite error is the store's own failure: StoreError, a one-line BakeoffError
    expected = KeyboardInterrupt if isinstance(exc, KeyboardInterrupt) else StoreError
    with pytest.raises(expected) as info:
        attempt(store, point, crash, monkeypatch.setattr)
    assert crash.fired.is_set(), f"no statement contains {point.sql!r}: the point is stale"
    if expected is StoreError:
        assert "disk I/O error" in str(info.value) and "\n" not in str(info.value)
    # what the runner does next on the same connection: record the failed attempt
    if point.step in ("finish", "finish-new"):
        config = FIRST if point.step == "finish" else SECOND
        store.fail(config.experiment_id(), "interrupted")
    store.close()
    verify(path)
    recover(path, point)


# ---- (b) SIGKILL at each point, in separate processes ----------------------------------------

#: imports once, then forks one child per point; each child is SIGKILLed at its point
ZYGOTE = """
import os, sys
from pathlib import Path
from tests.test_faults import POINTS, kill_at
for point, path in zip(POINTS, sys.argv[1:]):
    pid = os.fork()
    if pid == 0:
        kill_at(Path(path), point)
        os._exit(3)
    _, status = os.waitpid(pid, 0)
    code = os.WTERMSIG(status) if os.WIFSIGNALED(status) else -os.WEXITSTATUS(status)
    print(point.id, code, flush=True)
"""


def kill_at(path: Path, point: Point) -> None:
    """In a child process: the attempt, killed by SIGKILL at ``point``."""
    try:
        attempt(ResultsStore(path), point, Crash(None), setattr)
    except BaseException:
        traceback.print_exc()
        os._exit(4)


def _child_env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, int]]:
    if not hasattr(os, "fork"):
        pytest.skip("needs os.fork")
    folder = tmp_path_factory.mktemp("killed")
    paths = []
    for point in POINTS:
        paths.append(folder / f"{point.id}.db")
        seed_store(paths[-1])
    done = subprocess.run(
        [sys.executable, "-c", ZYGOTE, *map(str, paths)],
        cwd=REPO,
        env=_child_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    codes = dict(line.split() for line in done.stdout.splitlines())
    return {p.id: (path, int(codes[p.id])) for p, path in zip(POINTS, paths)}


@pytest.mark.parametrize("point", POINTS, ids=[p.id for p in POINTS])
def test_sigkill_at_each_store_step(point: Point, killed: dict[str, tuple[Path, int]]) -> None:
    path, code = killed[point.id]
    assert code == signal.SIGKILL, f"the child was not killed at {point.id} (exit {code})"
    verify(path)
    recover(path, point)  # also: the dead process's lease does not block the re-run


# ---- the CLI on a tiny BERT: Ctrl-C, the same command twice, two processes -------------------

SMALL = (
    "--task", "rte", "--method", "finetune", "--train-limit", "32", "--eval-limit", "16",
    "--epochs", "1", "--latency-samples", "2", "--set", "finetune.min_steps=0",
)  # fmt: skip


def _run_args(model: Path, db: Path, *extra: str) -> list[str]:
    return ["run", *SMALL, "--model", str(model), "--db", str(db), *extra]


def _invoke(args: list[str], data_dir: Path, **env: str) -> Any:
    # wide enough that rich wraps no progress line: each message is one line to look for
    env = {"BAKEOFF_DATA_DIR": str(data_dir), "COLUMNS": "400", **env}
    return CliRunner().invoke(app, args, env=env)


def _cli(args: list[str], data_dir: Path) -> tuple[int, str]:
    """Exit code and output as the installed command gives them: a BakeoffError that leaves a
    subcommand is printed as one ``error:`` line by ``bakeoff.cli.main`` (checked for real by
    :func:`test_entry_point_prints_a_subcommand_error_as_one_line`)."""
    result = _invoke(args, data_dir)
    if isinstance(result.exception, BakeoffError):
        return result.exception.exit_code, f"{result.output}error: {result.exception}\n"
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        args[0],
        "".join(traceback.format_exception(result.exception)),
    )
    return result.exit_code, result.output


@contextlib.contextmanager
def _raw(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        yield conn
    finally:
        conn.close()


def _snapshot(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every finished result as stored, and every prediction, byte for byte."""
    with _raw(path) as conn:
        return {
            "done": conn.execute(
                """SELECT id, metrics, timing, training, config, environment, finished_at
                   FROM experiments WHERE status = 'done' ORDER BY id"""
            ).fetchall(),
            "predictions": conn.execute(
                "SELECT * FROM predictions ORDER BY experiment_id, idx"
            ).fetchall(),
        }


def _rows(path: Path) -> list[tuple[Any, ...]]:
    with _raw(path) as conn:
        return conn.execute(
            "SELECT status, attempts, lease_owner, error FROM experiments ORDER BY created_at"
        ).fetchall()


def _copy(src: Path, dst: Path) -> Path:
    """A consistent copy (SQLite's backup: whatever is still in the -wal comes along)."""
    with _raw(src) as source, contextlib.closing(sqlite3.connect(dst)) as target:
        source.backup(target)
    return dst


def _one_line(output: str, fragment: str) -> str:
    lines = [line for line in output.splitlines() if fragment in line]
    assert len(lines) == 1, output
    assert "Traceback" not in output, output
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, data_dir: Path, tiny_bert: Path) -> Path:
    """A store in which `bakeoff run` finished one experiment."""
    db = tmp_path_factory.mktemp("trained") / "b.db"
    result = _invoke(_run_args(tiny_bert, db), data_dir)
    assert result.exit_code == 0, result.output
    [(status, attempts, owner, _)] = _rows(db)
    assert (status, attempts, owner) == ("done", 1, None)
    return db


@pytest.fixture
def store_copy(trained: Path, tmp_path: Path) -> Path:
    return _copy(trained, tmp_path / "b.db")


def _interrupt_training(monkeypatch: pytest.MonkeyPatch, real_signal: bool = False) -> None:
    """Ctrl-C at the first training step: a KeyboardInterrupt raised there, or a real SIGINT
    sent to this process (Python's handler raises KeyboardInterrupt at the next bytecode)."""
    import transformers

    step = transformers.Trainer.training_step

    def interrupted(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not real_signal:
            raise KeyboardInterrupt
        os.kill(os.getpid(), signal.SIGINT)
        return step(self, *args, **kwargs)

    monkeypatch.setattr(transformers.Trainer, "training_step", interrupted)


def _check_interrupted(result: Any, db: Path, before: dict[str, Any]) -> None:
    assert result.exit_code == 130, result.output
    line = _one_line(result.output, "interrupted:")
    assert "Run the same command to resume" in line
    assert _snapshot(db) == before, "the finished result or its predictions changed"
    [(status, attempts, owner, error)] = _rows(db)
    assert (status, attempts, owner, error) == ("done", 2, None, None)
    with ResultsStore(db, readonly=True) as store:
        assert store.integrity_ok()


def test_forced_rerun_interrupted_in_training_keeps_the_result(
    store_copy: Path, data_dir: Path, tiny_bert: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue scenario (a): ``--force``, then Ctrl-C (a real SIGINT) while the model trains."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT is handled by something else in this process")
    before = _snapshot(store_copy)
    _interrupt_training(monkeypatch, real_signal=True)
    result = _invoke(_run_args(tiny_bert, store_copy, "--force"), data_dir)
    _check_interrupted(result, store_copy, before)
    shown = CliRunner().invoke(app, ["results", "--db", str(store_copy), "--format", "json"])
    assert shown.exit_code == 0, shown.output
    assert [r["kind"] for r in json.loads(shown.output)["results"]] == ["experiment", "baseline"]
    again = _invoke(_run_args(tiny_bert, store_copy), data_dir)
    assert again.exit_code == 0 and "Nothing new to run" in again.output


def test_second_run_of_the_same_command_interrupted_keeps_the_done_row(
    store_copy: Path, data_dir: Path, tiny_bert: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue scenario (b): the same command twice; the second read the store while the first was
    still running (so it runs the experiment too), the first finished, Ctrl-C the second."""
    before = _snapshot(store_copy)
    monkeypatch.setattr(ResultsStore, "statuses", lambda self: {})
    _interrupt_training(monkeypatch)
    result = _invoke(_run_args(tiny_bert, store_copy), data_dir)
    _check_interrupted(result, store_copy, before)


#: ``python -c WRAPPER run ...``: the CLI, held at its first training step until the test
#: creates the FAULTS_RELEASE file
WRAPPER = """
import os, sys, time
from pathlib import Path
import transformers
step = transformers.Trainer.training_step
holding, release = Path(os.environ["FAULTS_HOLDING"]), Path(os.environ["FAULTS_RELEASE"])
def patched(self, *args, **kwargs):
    if not holding.exists():
        holding.touch()  # tell the test that this process is running the experiment
        deadline = time.time() + 300
        while not release.exists() and time.time() < deadline:
            time.sleep(0.05)
    return step(self, *args, **kwargs)
transformers.Trainer.training_step = patched
from bakeoff.cli import main
sys.argv = ["bakeoff", *sys.argv[1:]]
main()
"""


def _wrapped(args: list[str]) -> list[str]:
    return [sys.executable, "-c", WRAPPER, *args]


def _wrapper_env(data_dir: Path, **env: str) -> dict[str, str]:
    return {**_child_env(), "BAKEOFF_DATA_DIR": str(data_dir), "COLUMNS": "200", **env}


def test_two_processes_on_one_store_run_each_experiment_once(
    tmp_path: Path, data_dir: Path, tiny_bert: Path
) -> None:
    """Process A runs the grid and is held inside training; process B (this one) starts the same
    grid, finds A's live lease and skips the experiment, saying so; A finishes; B then finds it
    done. The experiment ran once (one attempt), the store is intact."""
    db = tmp_path / "b.db"
    holding, release = tmp_path / "holding", tmp_path / "release"
    args = _run_args(tiny_bert, db)
    proc = subprocess.Popen(
        _wrapped(args),
        env=_wrapper_env(data_dir, FAULTS_HOLDING=str(holding), FAULTS_RELEASE=str(release)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 240
        while not holding.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert holding.exists(), f"process A never started training: {proc.communicate()[1]}"
        second = _invoke(args, data_dir)
        assert second.exit_code == 0, second.output
        _one_line(second.output, "another process is running it")
        [(status, attempts, owner, _)] = _rows(db)
        assert (status, attempts) == ("running", 1) and owner.endswith(f":{proc.pid}")
    finally:
        release.touch()
        out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    assert [r[:3] for r in _rows(db)] == [("done", 1, None)]
    with ResultsStore(db, readonly=True) as store:
        assert store.integrity_ok()
        [record] = store.experiments("done")
        assert len(store.predictions(record.id)) == 16
    third = _invoke(args, data_dir)
    assert third.exit_code == 0 and "Nothing new to run" in third.output
    assert [r[:2] for r in _rows(db)] == [("done", 1)]


# ---- a full disk -----------------------------------------------------------------------------


def _fill_disk(conn: Any) -> None:
    """SQLite's own SQLITE_FULL: the file may not grow past the pages it has now."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")


def _free_disk(conn: Any) -> None:
    conn.execute("PRAGMA max_page_count = 2147483646")


@pytest.mark.parametrize("step", ["save_examples", "start", "finish", "fail"])
def test_disk_full_at_each_step(step: str, tmp_path: Path) -> None:
    """Each write that needs room on a full disk: one line, nothing half-written, and the same
    call succeeds once there is room."""
    path = tmp_path / "b.db"
    seed_store(path)
    big = "x" * 200_000  # needs new pages whatever the free space inside the file
    store = ResultsStore(path)

    def call() -> None:
        if step == "save_examples":
            store.save_examples(OTHER_KEY, [(i, Example(big, g)) for i, g in zip(IDX, GOLD)])
        elif step == "start":
            store.start(SECOND.experiment_id(), SECOND, KEY, LABELS, {"note": big})
        elif step == "finish":
            store.finish(
                FIRST.experiment_id(),
                IDX,
                GOLD,
                Predictions([NEW] * N, None, [big] * N),
                compute_metrics(GOLD, [NEW] * N, LABELS),
                Timing(N, 1, 1.0, float(N), 1.0, 1.0, 2, 10.0, "process_peak_rss", "cpu"),
                TrainingRecord(labels_used=11),
            )
        else:
            store.fail(SECOND.experiment_id(), big)

    if step in ("finish", "fail"):
        assert _start(store, FIRST if step == "finish" else SECOND)
    _fill_disk(store._conn)
    with pytest.raises(StoreError, match="is full") as info:
        call()
    assert "\n" not in str(info.value) and "run the same command again" in str(info.value)
    verify(path)  # FIRST still holds its old result
    _free_disk(store._conn)
    call()  # the same connection recovers: no transaction was left open
    store.close()
    verify(path, first_value=NEW if step == "finish" else OLD)


def test_disk_full_during_run_is_one_line_and_a_rerun_recovers(
    store_copy: Path, data_dir: Path, tiny_bert: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills up while a new experiment trains: its result cannot be stored. The user
    sees one line saying so; the earlier result is untouched; the same command, run again once
    there is room, finishes the experiment."""
    before = _snapshot(store_copy)
    start = ResultsStore.start

    def start_then_fill(self: ResultsStore, *args: Any, **kwargs: Any) -> bool:
        taken = start(self, *args, **kwargs)
        _fill_disk(self._conn)
        return taken

    monkeypatch.setattr(ResultsStore, "start", start_then_fill)
    args = _run_args(tiny_bert, store_copy, "--seed", "7")
    full = _invoke(args, data_dir)
    assert full.exit_code in (1, 2), full.output
    _one_line(full.output, "is full")
    assert _snapshot(store_copy) == before
    statuses = [r[0] for r in _rows(store_copy)]
    assert statuses[0] == "done" and statuses[1] != "done"
    with ResultsStore(store_copy, readonly=True) as store:
        assert store.integrity_ok()
    monkeypatch.undo()
    again = _invoke(args, data_dir)
    assert again.exit_code == 0, again.output
    assert [r[0] for r in _rows(store_copy)] == ["done", "done"]
    after = _snapshot(store_copy)
    assert set(before["done"]) < set(after["done"])
    assert set(before["predictions"]) < set(after["predictions"])


# ---- read-only stores ------------------------------------------------------------------------

#: runs CLI commands in one process and prints their exit codes and output as JSON
DRIVER = r"""
import json, sys
from typer.testing import CliRunner
from bakeoff.cli import app
out = []
from bakeoff.errors import BakeoffError
for args in json.loads(sys.argv[1]):
    r = CliRunner().invoke(app, args)
    code, output = r.exit_code, r.output
    if isinstance(r.exception, BakeoffError):  # as bakeoff.cli.main prints it
        code, output = r.exception.exit_code, output + f"error: {r.exception}\n"
    crashed = r.exception is not None and not isinstance(r.exception, (SystemExit, BakeoffError))
    out.append({"code": code, "output": output, "crashed": crashed})
print(json.dumps(out))
"""


def _without_write_permission(commands: list[list[str]], env: dict[str, str]) -> list[Any]:
    """Run ``bakeoff`` commands in a process that file permissions bind: as root, one without
    the capabilities that override them (root otherwise writes a file whatever its mode)."""
    cmd = [sys.executable, "-c", DRIVER, json.dumps(commands)]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root and setpriv is missing: permissions cannot bind")
        drop = "-dac_override,-dac_read_search,-fowner,-linux_immutable"
        cmd = ["setpriv", "--bounding-set", drop, *cmd]
    done = subprocess.run(
        cmd, env={**_child_env(), **env}, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _folder_state(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


#: (folder, mode of b.db, mode of its folder): a read-only file, a read-only folder, both
READ_ONLY = [("file", 0o444, 0o755), ("folder", 0o644, 0o555), ("both", 0o444, 0o555)]


@pytest.fixture(scope="module")
def read_only(
    tmp_path_factory: pytest.TempPathFactory, data_dir: Path, tiny_bert: Path, trained: Path
) -> dict[str, Any]:
    """`run` on each read-only store, `results` on each, `report` on the read-only file in the
    read-only folder: all in one process that permissions bind. Returns each command's outcome,
    and each folder's files before and after."""
    root = tmp_path_factory.mktemp("read-only")
    for name, file_mode, _ in READ_ONLY:
        (root / name).mkdir()
        _copy(trained, root / name / "b.db").chmod(file_mode)
    for name, _, folder_mode in READ_ONLY:
        (root / name).chmod(folder_mode)
    writable = root / "writable"
    writable.mkdir(mode=0o777)
    writable.chmod(0o777)
    before = {name: _folder_state(root / name) for name, _, _ in READ_ONLY}
    commands: dict[str, list[str]] = {}
    for name, _, _ in READ_ONLY:
        db = root / name / "b.db"
        commands[f"run-{name}"] = _run_args(tiny_bert, db)
        commands[f"results-{name}"] = ["results", "--db", str(db), "--format", "json"]
    commands["report-both"] = ["report", "--db", str(root / "both" / "b.db"), "--out",
                               str(writable / "report")]  # fmt: skip
    env = {"BAKEOFF_DATA_DIR": str(data_dir), "MPLCONFIGDIR": str(writable)}
    try:
        outcomes = _without_write_permission(list(commands.values()), env)
        after = {name: _folder_state(root / name) for name, _, _ in READ_ONLY}
    finally:
        for name, _, _ in READ_ONLY:
            (root / name).chmod(0o755)
    return {
        "outcomes": dict(zip(commands, outcomes)),
        "before": before,
        "after": after,
        "report": writable / "report",
    }


@pytest.mark.parametrize("name", [n for n, _, _ in READ_ONLY])
def test_run_on_a_read_only_store_is_one_line(name: str, read_only: dict[str, Any]) -> None:
    run = read_only["outcomes"][f"run-{name}"]
    assert run["code"] == 2 and not run["crashed"], run
    lines = [line for line in run["output"].splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot write the results store" in lines[0], run["output"]
    assert read_only["after"][name]["b.db"] == read_only["before"][name]["b.db"]


@pytest.mark.parametrize("name", [n for n, _, _ in READ_ONLY])
def test_results_reads_a_read_only_store(name: str, read_only: dict[str, Any]) -> None:
    results = read_only["outcomes"][f"results-{name}"]
    assert results["code"] == 0 and not results["crashed"], results["output"]
    assert [r["kind"] for r in json.loads(results["output"])["results"]] == [
        "experiment",
        "baseline",
    ]
    assert read_only["after"][name]["b.db"] == read_only["before"][name]["b.db"]
    if name != "file":  # in a writable folder SQLite may leave its -wal/-shm index files
        assert read_only["after"][name] == read_only["before"][name]


def test_report_reads_a_read_only_store(read_only: dict[str, Any]) -> None:
    report = read_only["outcomes"]["report-both"]
    assert report["code"] == 0 and not report["crashed"], report["output"]
    assert (read_only["report"] / "report.html").is_file()
    assert read_only["after"]["both"] == read_only["before"]["both"]


# ---- hand-edited and foreign stores ----------------------------------------------------------

EDITS: dict[str, str] = {
    "dropped-column": "ALTER TABLE experiments DROP COLUMN training",
    "dropped-table": "DROP TABLE predictions",
    "schema-version-text": "UPDATE meta SET value = 'two' WHERE key = 'schema_version'",
    "schema-version-older": "UPDATE meta SET value = '1' WHERE key = 'schema_version'",
    "schema-version-newer": "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
    "no-schema-version": "DELETE FROM meta",
    "metrics-not-json": "UPDATE experiments SET metrics = '{\"accuracy\": 0.5,'",
    "metrics-wrong-shape": "UPDATE experiments SET metrics = '[0.5]'",
    "config-not-json": "UPDATE experiments SET config = 'finetune, 3 epochs'",
    "label-names-not-json": "UPDATE experiments SET label_names = 'neg pos'",
    "scores-not-json": "UPDATE predictions SET scores = '[0.8,'",
    "foreign-sqlite": "",
    "empty-file": "",
}
#: edits that make the file unusable as a whole: `run` refuses it too (row-level damage only
#: matters to the commands that read rows)
WHOLE_FILE = {
    "dropped-column", "dropped-table", "schema-version-text", "schema-version-older",
    "schema-version-newer", "no-schema-version", "foreign-sqlite",
}  # fmt: skip


def _edited(path: Path, edit: str) -> Path:
    if edit == "foreign-sqlite":
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
            conn.execute("INSERT INTO notes (body) VALUES ('my own data')")
            conn.commit()
        return path
    if edit == "empty-file":
        path.write_bytes(b"")
        return path
    seed_store(path)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute(EDITS[edit])
        conn.commit()
    return path


def _edit_params() -> list[Any]:
    params = []
    for edit in EDITS:
        for command in ("results", "report", "run"):
            if command == "run" and edit not in WHOLE_FILE:
                continue  # `run` reads no rows: row-level damage is for the readers to report
            params.append(pytest.param(edit, command, id=f"{edit}-{command}"))
    return params


@pytest.mark.parametrize(("edit", "command"), _edit_params())
def test_hand_edited_store_is_one_line(
    edit: str, command: str, tmp_path: Path, data_dir: Path, tiny_bert: Path
) -> None:
    db = _edited(tmp_path / "b.db", edit)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    out = tmp_path / "report"
    args = {
        "results": ["results", "--db", str(db)],
        "report": ["report", "--db", str(db), "--out", str(out)],
        "run": _run_args(tiny_bert, db),
    }[command]
    code, output = _cli(args, data_dir)
    assert code == 2, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    assert "Traceback" not in output
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before, f"{command} changed the file"
    # a reader may leave SQLite's (empty) WAL index files beside the store; nothing else
    extra = {p.name for p in tmp_path.iterdir()} - {"b.db"}
    assert extra <= {"b.db-wal", "b.db-shm"}, f"{command} wrote {extra}"
    assert not (tmp_path / "b.db-wal").exists() or (tmp_path / "b.db-wal").stat().st_size == 0


def test_entry_point_prints_a_subcommand_error_as_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The entry point (``bakeoff.cli.main``) prints a subcommand's BakeoffError as one line on
    stderr and exits 2: what :func:`_cli` stands in for."""
    from bakeoff.cli import main

    db = _edited(tmp_path / "b.db", "metrics-not-json")
    out = tmp_path / "report"
    monkeypatch.setattr(sys, "argv", ["bakeoff", "report", "--db", str(db), "--out", str(out)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "damaged metrics" in lines[0], captured.err
    assert not captured.out.strip() and not out.exists()


def test_locked_store(tmp_path: Path, data_dir: Path, tiny_bert: Path) -> None:
    """Another process holds the write lock: `run` says so in one line once its wait is over;
    `results` reads meanwhile (WAL readers never wait for a writer)."""
    db = tmp_path / "b.db"
    seed_store(db)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        blocked = _invoke(_run_args(tiny_bert, db), data_dir, BAKEOFF_DB_TIMEOUT="0.2")
        shown = _invoke(["results", "--db", str(db)], data_dir)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert blocked.exit_code == 2, blocked.output
    assert "locked by another process" in _one_line(blocked.output, "error:")
    assert shown.exit_code == 0, shown.output
    with ResultsStore(db, readonly=True) as store:
        assert [r.status for r in store.experiments(None)] == ["done"]
