"""The results store: one SQLite file holding every experiment, its predictions and its examples.

Why SQLite: one file to copy, transactional writes, readable by any tool. Guarantees:

- An experiment becomes ``done`` in the same transaction that stores all its predictions, so a
  crash (even SIGKILL) never leaves a 'done' experiment with missing predictions.
- A finished result is never destroyed by a later attempt: a re-run (``--force``, or a second
  process) leaves the ``done`` row and its predictions alone until its own result is complete,
  then replaces both in one transaction. A failure or Ctrl-C of the later attempt changes nothing.
- Two processes never run one experiment at once: starting takes a lease (owner and heartbeat,
  renewed by a background thread while the experiment runs). A second process finds a live lease
  and skips the experiment, saying so; a lease whose holder died (no heartbeat for
  ``LEASE_TIMEOUT_S``, or, on the same machine, its process is gone) is taken over, so a killed
  run is simply run again.
- What an experiment produced for reuse (a fine-tuned model's folder, a prompted recipe) sits in
  the artifacts folder beside the store (``<store>.artifacts/``); the ``artifacts`` table says
  which experiment's artifact is kept there, its size, or why it is not, and is written in the
  same transaction that marks the experiment done.
- Read-only commands open the file read-only; a store this version cannot read (newer or older
  schema, missing columns, damaged JSON) is one clear line, never a traceback.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bakeoff.classifier import Predictions
from bakeoff.config import ExperimentConfig
from bakeoff.data import Example
from bakeoff.errors import BakeoffError
from bakeoff.records import Metrics, Timing, TrainingRecord

DEFAULT_DB = "bakeoff.db"
DB_ENV = "BAKEOFF_DB"
#: 2: typed settings per method, leases, raw per-label scores
SCHEMA_VERSION = 2
#: a running experiment's lease is renewed this often, and taken over after this long without
LEASE_HEARTBEAT_S = 10.0
LEASE_TIMEOUT_S = 60.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS experiments (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    task TEXT NOT NULL,
    model TEXT NOT NULL,
    method TEXT NOT NULL,
    dataset_key TEXT NOT NULL,
    eval_split TEXT NOT NULL,
    config TEXT NOT NULL,
    label_names TEXT NOT NULL,
    metrics TEXT,
    timing TEXT,
    training TEXT,
    environment TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_at REAL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE TABLE IF NOT EXISTS examples (
    dataset_key TEXT NOT NULL,
    idx INTEGER NOT NULL,
    text TEXT NOT NULL,
    text_pair TEXT,
    gold INTEGER NOT NULL,
    PRIMARY KEY (dataset_key, idx)
);
CREATE TABLE IF NOT EXISTS datasets (
    dataset_key TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    train_label_counts TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS predictions (
    experiment_id TEXT NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    gold INTEGER NOT NULL,
    pred INTEGER NOT NULL,
    scores TEXT,
    raw_scores TEXT,
    raw TEXT,
    PRIMARY KEY (experiment_id, idx)
);
CREATE TABLE IF NOT EXISTS artifacts (
    experiment_id TEXT PRIMARY KEY REFERENCES experiments(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('weights', 'recipe')),
    path TEXT,
    bytes INTEGER NOT NULL DEFAULT 0,
    note TEXT,
    created_at REAL NOT NULL
);
"""
#: added to schema 2 without a version bump: created on open where missing, absent reads as none
ARTIFACTS_TABLE = SCHEMA.split("CREATE TABLE IF NOT EXISTS artifacts")[1]


def default_db_path() -> Path:
    """``$BAKEOFF_DB`` if set, else ``bakeoff.db`` in the current directory."""
    return Path(os.environ.get(DB_ENV) or DEFAULT_DB)


#: columns a store must have for this version to read it
REQUIRED_COLUMNS = {
    "experiments": {
        "id", "status", "task", "model", "method", "dataset_key", "eval_split", "config",
        "label_names", "metrics", "timing", "training", "environment", "error", "attempts",
        "lease_owner", "lease_at", "created_at", "started_at", "finished_at",
    },
    "examples": {"dataset_key", "idx", "text", "text_pair", "gold"},
    "datasets": {"dataset_key", "task", "train_label_counts"},
    "predictions": {"experiment_id", "idx", "gold", "pred", "scores", "raw_scores", "raw"},
}  # fmt: skip


def _machine() -> str:
    """This host, plus its pid namespace where there is one (containers sharing a hostname)."""
    try:
        return f"{socket.gethostname()}/{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return socket.gethostname()


def process_owner() -> str:
    """Who holds a lease: host and pid, so a user can find the process."""
    return f"{_machine()}:{os.getpid()}"


def _lease_alive(owner: str, lease_at: float | None, now: float) -> bool:
    """Whether another process still holds a lease: renewed within ``LEASE_TIMEOUT_S`` and, when
    it ran on this machine, still running. A run killed here (SIGKILL, out of memory) is taken
    over at once by the next run, instead of being skipped as busy until its lease expires."""
    if lease_at is None or now - lease_at >= LEASE_TIMEOUT_S:
        return False
    machine, _, pid = owner.rpartition(":")
    if machine == _machine() and pid.isdigit() and os.name == "posix":
        try:
            os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            return False
        except OSError:  # it exists, owned by another user
            return True
    return True


@dataclass
class ExperimentRecord:
    id: str
    status: str
    task: str
    model: str
    method: str
    dataset_key: str
    eval_split: str
    config: ExperimentConfig
    label_names: list[str]
    metrics: Metrics | None
    timing: Timing | None
    training: TrainingRecord | None
    environment: dict[str, Any] | None
    error: str | None
    attempts: int
    created_at: float
    started_at: float | None
    finished_at: float | None


@dataclass
class ArtifactRow:
    """What the store records of an experiment's artifact. ``path`` is relative to the artifacts
    folder and None when it was not kept (``note`` says why)."""

    experiment_id: str
    kind: str
    path: str | None
    bytes: int
    note: str | None
    created_at: float


@dataclass
class PredictionRow:
    idx: int
    gold: int
    pred: int
    scores: list[float] | None
    raw: str | None
    #: per-label raw scores: log-likelihoods (prompted) or logits (trained), where kept
    raw_scores: list[float] | None = None


@dataclass
class ExampleRow:
    idx: int
    text: str
    text_pair: str | None
    gold: int


class StoreError(BakeoffError):
    """The results store itself failed (full disk, I/O error, lock, unreadable file): not one
    experiment's problem, so a grid that goes on would only meet it again."""


def _explain(exc: sqlite3.Error, path: Path, reading: bool = False) -> StoreError:
    """One line for an SQLite error: what it means for the user's store and what to do."""
    msg = str(exc).lower()
    if "disk is full" in msg or "disk full" in msg:
        return StoreError(
            f"the disk holding the results store {path} is full; nothing was half-written. "
            "Free some space and run the same command again"
        )
    if "disk i/o error" in msg:
        return StoreError(
            f"disk I/O error on the results store {path}; check the disk, then run again"
        )
    if "locked" in msg or "busy" in msg:
        return StoreError(
            f"results store {path} is locked by another process; wait for it to finish "
            "or pass a different --db"
        )
    if "not a database" in msg or "malformed" in msg or "file is encrypted" in msg:
        return StoreError(
            f"{path} is not a readable bakeoff results store (not SQLite or damaged); "
            "pass a different --db or move that file away"
        )
    if reading and ("readonly" in msg or "unable to open" in msg or "permission" in msg):
        return StoreError(
            f"cannot read the results store {path} ({exc}); check its permissions, or copy it "
            "together with its -wal file to a writable folder"
        )
    if "readonly" in msg or "unable to open" in msg or "permission" in msg:
        return StoreError(
            f"cannot write the results store {path} ({exc}); check the folder exists and is "
            "writable, or pass a different --db"
        )
    return StoreError(f"results store {path}: {exc}; pass a different --db")


def _loads(value: str | None, what: str, experiment_id: str, path: Path) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except (json.JSONDecodeError, TypeError):
        raise BakeoffError(
            f"experiment {experiment_id} in {path} has damaged {what} (not JSON); re-run it "
            "with --force, or pass a different --db"
        ) from None


class ResultsStore:
    """All reads and writes of the results database go through here.

    ``readonly=True`` opens an existing file without write access (``results``, ``report``):
    those commands work on a read-only file or folder and can never change the store.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        timeout_s: float | None = None,
        readonly: bool = False,
    ) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self.readonly = readonly
        self.owner = process_owner()
        self._heartbeats: dict[str, threading.Event] = {}
        self.timeout = (
            timeout_s if timeout_s is not None else float(os.environ.get("BAKEOFF_DB_TIMEOUT", 10))
        )
        if self.path.exists() and self.path.is_dir():
            raise BakeoffError(
                f"--db {self.path} is a directory; give a file path like {self.path}/bakeoff.db"
            )
        if readonly and not self.path.is_file():
            raise BakeoffError(
                f"no results store at {self.path}; run `bakeoff run` first or pass --db"
            )
        if not self.path.parent.exists():
            raise BakeoffError(
                f"folder {self.path.parent} for the results store does not exist; create it "
                "or pass a different --db"
            )
        if not readonly:
            target = self.path if self.path.exists() else self.path.parent
            if not os.access(target, os.W_OK):
                raise BakeoffError(
                    f"cannot write the results store {self.path} (permission denied); make it "
                    "writable or pass a different --db"
                )
        try:
            self._conn = self._connect()
            if readonly:
                self._check_schema()
            else:
                self._create_schema()
        except sqlite3.Error as exc:
            raise _explain(exc, self.path, reading=readonly) from None

    def _connect(self) -> sqlite3.Connection:
        if self.readonly:
            return self._connect_readonly()
        conn = sqlite3.connect(
            self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
        )
        # connection settings only: the file's journal mode is set once it is known to be ours
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _connect_readonly(self) -> sqlite3.Connection:
        """Open without write access. A WAL store needs its ``-shm`` index, which a reader cannot
        create in a read-only folder; when no ``-wal`` file holds pending writes, every result is
        in the main file and nobody can write it in WAL mode there, so it is opened immutable."""
        uri = self.path.resolve().as_uri()

        def connect(query: str) -> sqlite3.Connection:
            conn = sqlite3.connect(
                f"{uri}?{query}",
                uri=True,
                timeout=self.timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the file now
            return conn

        try:
            return connect("mode=ro")
        except sqlite3.OperationalError as exc:
            wal = Path(f"{self.path}-wal")
            pending_wal = wal.exists() and wal.stat().st_size > 0
            if pending_wal or not any(w in str(exc) for w in ("readonly", "unable to open")):
                raise
            return connect("mode=ro&immutable=1")

    def _schema_version(self) -> int | None:
        tables = {
            r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if "meta" not in tables:
            return None
        # another program's file may have a table of that name too (queried, it would fail as
        # "no such column: value")
        if not {"key", "value"} <= {r[1] for r in self._conn.execute("PRAGMA table_info(meta)")}:
            raise BakeoffError(
                f"{self.path} is an SQLite file of another program (its meta table is not "
                "bakeoff's), not a bakeoff results store; pass a different --db"
            )
        row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            return None
        try:
            return int(row[0])
        except (TypeError, ValueError):
            raise BakeoffError(
                f"{self.path} has a damaged schema version ({row[0]!r}); it is not a store this "
                "bakeoff can use: pass a different --db"
            ) from None

    def _check_schema(self) -> None:
        version = self._schema_version()
        if version is None:
            raise BakeoffError(
                f"{self.path} is not a bakeoff results store (no schema version); pass a different --db"
            )
        if version > SCHEMA_VERSION:
            raise BakeoffError(
                f"{self.path} was written by a newer bakeoff (schema {version}); "
                "upgrade bakeoff or pass a different --db"
            )
        if version < SCHEMA_VERSION:
            raise BakeoffError(
                f"{self.path} was written by an older bakeoff (schema {version}, this one reads "
                f"{SCHEMA_VERSION}); run the grid again into a new --db"
            )
        for table, needed in REQUIRED_COLUMNS.items():
            have = {r[1] for r in self._conn.execute(f"PRAGMA table_info({table})")}
            if not have:
                raise BakeoffError(
                    f"{self.path} is damaged or not a bakeoff store: it has no {table} table; "
                    "pass a different --db"
                )
            missing = sorted(needed - have)
            if missing:
                raise BakeoffError(
                    f"{self.path} is damaged or not a bakeoff store: table {table} lacks "
                    f"{', '.join(missing)}; pass a different --db"
                )

    def _create_schema(self) -> None:
        """Create the tables in a new (or empty) file; check an existing store. A file that is
        not ours is refused before anything, even its journal mode, is changed."""
        if self._schema_version() is None:
            tables = {
                r[0]
                for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            # read the version again: another process may have just created this store
            if tables - {"meta"} and self._schema_version() is None:
                raise BakeoffError(
                    f"{self.path} is an SQLite file but not a bakeoff results store; pass a "
                    "different --db"
                )
        if self._schema_version() is None:
            self._conn.execute("PRAGMA journal_mode = WAL")
            with self._write() as conn:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(
                    "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
        self._check_schema()
        self._conn.execute("PRAGMA journal_mode = WAL")
        if not self._has_table("artifacts"):  # a schema-2 store from before artifacts were kept
            with self._write() as conn:
                conn.execute("CREATE TABLE IF NOT EXISTS artifacts" + ARTIFACTS_TABLE)

    def _has_table(self, name: str) -> bool:
        return bool(
            self._conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)
            ).fetchone()
        )

    @property
    def artifacts_dir(self) -> Path:
        """Where kept artifacts live: beside the store, named after it (``bakeoff.artifacts``)."""
        return self.path.with_name(self.path.stem + ".artifacts")

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: all of it lands, or none of it. Whatever stops it (an
        SQLite error, Ctrl-C even at COMMIT) rolls it back, so the connection never stays inside
        a transaction that would hold the write lock and refuse the next one."""
        if self.readonly:
            raise RuntimeError("this store was opened read-only")
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._rollback()
            raise _explain(exc, self.path) from None
        try:
            yield conn
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise _explain(exc, self.path) from None
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        """Roll back if a transaction is still open (SQLite may already have ended it, e.g. on a
        full disk; a failing ROLLBACK must not hide the real error)."""
        if self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            cur = self._conn.execute(sql, params)
            return cur.fetchall()
        except sqlite3.Error as exc:
            raise _explain(exc, self.path) from None

    def close(self) -> None:
        for stop in self._heartbeats.values():
            stop.set()
        self._conn.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes -----------------------------------------------------------------------------

    def save_examples(
        self,
        dataset_key: str,
        indexed: Sequence[tuple[int, Example]],
        task: str = "",
        train_label_counts: Sequence[int] | None = None,
    ) -> None:
        """Keep the evaluated examples' text, so reports never need the original files, and the
        train split's label counts, from which the majority-class baseline is scored."""
        with self._write() as conn:
            if train_label_counts is not None:
                conn.execute(
                    """INSERT OR IGNORE INTO datasets(dataset_key, task, train_label_counts)
                       VALUES (?,?,?)""",
                    (dataset_key, task, json.dumps([int(c) for c in train_label_counts])),
                )
            conn.executemany(
                "INSERT OR IGNORE INTO examples(dataset_key, idx, text, text_pair, gold) VALUES (?,?,?,?,?)",
                [(dataset_key, i, ex.text, ex.text_pair, ex.label) for i, ex in indexed],
            )

    def start(
        self,
        experiment_id: str,
        config: ExperimentConfig,
        dataset_key: str,
        label_names: Sequence[str],
        environment: dict[str, Any],
    ) -> bool:
        """Take the experiment's lease and mark it running; False when another live process holds
        it (the caller skips it). A ``done`` row keeps its status and result: a forced re-run
        replaces them only in :meth:`finish`."""
        now = time.time()
        with self._write() as conn:
            row = conn.execute(
                "SELECT status, lease_owner, lease_at FROM experiments WHERE id = ?",
                (experiment_id,),
            ).fetchone()
            if row is not None:
                _, owner, lease_at = row
                if owner is not None and owner != self.owner and _lease_alive(owner, lease_at, now):
                    return False
            conn.execute(
                """INSERT INTO experiments(id, status, task, model, method, dataset_key, eval_split,
                       config, label_names, environment, attempts, lease_owner, lease_at,
                       created_at, started_at)
                   VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)
                   ON CONFLICT(id) DO UPDATE SET
                       status = CASE WHEN status = 'done' THEN 'done' ELSE 'running' END,
                       error = CASE WHEN status = 'done' THEN error ELSE NULL END,
                       attempts = attempts + 1, lease_owner = excluded.lease_owner,
                       lease_at = excluded.lease_at""",
                (
                    experiment_id,
                    config.task,
                    config.model,
                    config.method,
                    dataset_key,
                    config.eval_split,
                    json.dumps(config.model_dump(mode="json"), sort_keys=True),
                    json.dumps(list(label_names)),
                    json.dumps(environment),
                    self.owner,
                    now,
                    now,
                    now,
                ),
            )
        self._start_heartbeat(experiment_id)
        return True

    def _start_heartbeat(self, experiment_id: str) -> None:
        """Renew the lease from a thread with its own connection while the experiment runs."""
        stop = threading.Event()
        self._heartbeats[experiment_id] = stop

        def beat() -> None:
            try:
                conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            except sqlite3.Error:
                return
            try:
                while not stop.wait(LEASE_HEARTBEAT_S):
                    try:
                        conn.execute(
                            "UPDATE experiments SET lease_at = ? WHERE id = ? AND lease_owner = ?",
                            (time.time(), experiment_id, self.owner),
                        )
                    except sqlite3.Error:
                        pass  # a busy or full disk: the next beat tries again
            finally:
                conn.close()

        threading.Thread(target=beat, name=f"lease-{experiment_id}", daemon=True).start()

    def _release(self, conn: sqlite3.Connection, experiment_id: str) -> None:
        conn.execute(
            "UPDATE experiments SET lease_owner = NULL, lease_at = NULL WHERE id = ? AND lease_owner = ?",
            (experiment_id, self.owner),
        )

    def _stop_heartbeat(self, experiment_id: str) -> None:
        stop = self._heartbeats.pop(experiment_id, None)
        if stop is not None:
            stop.set()

    def finish(
        self,
        experiment_id: str,
        indices: Sequence[int],
        gold: Sequence[int],
        predictions: Predictions,
        metrics: Metrics,
        timing: Timing,
        training: TrainingRecord,
        config: ExperimentConfig | None = None,
        environment: dict[str, Any] | None = None,
        artifact: ArtifactRow | None = None,
    ) -> None:
        """Store all predictions and mark the experiment done, atomically; a result that was
        already there is replaced in the same transaction, never before. ``artifact`` (what was
        kept for reuse, or why not) is recorded in the same transaction."""
        if not (len(indices) == len(gold) == len(predictions)):
            raise ValueError("indices, gold and predictions must have the same length")
        rows = [
            (
                experiment_id,
                int(idx),
                int(g),
                int(predictions.labels[i]),
                None
                if predictions.scores is None
                else json.dumps([round(float(s), 6) for s in predictions.scores[i]]),
                None
                if predictions.raw_scores is None
                else json.dumps([float(s) for s in predictions.raw_scores[i]]),
                None if predictions.raw is None else predictions.raw[i],
            )
            for i, (idx, g) in enumerate(zip(indices, gold))
        ]
        self._stop_heartbeat(experiment_id)
        with self._write() as conn:
            conn.execute("DELETE FROM predictions WHERE experiment_id = ?", (experiment_id,))
            conn.executemany(
                """INSERT INTO predictions(experiment_id, idx, gold, pred, scores, raw_scores, raw)
                   VALUES (?,?,?,?,?,?,?)""",
                rows,
            )
            conn.execute(
                """UPDATE experiments SET status='done', metrics=?, timing=?, training=?, error=NULL,
                       finished_at=?, started_at=?,
                       config=COALESCE(?, config), environment=COALESCE(?, environment)
                   WHERE id=?""",
                (
                    json.dumps(metrics.to_json()),
                    json.dumps(timing.to_json()),
                    json.dumps(training.to_json()),
                    time.time(),
                    time.time() - timing.total_s,
                    None
                    if config is None
                    else json.dumps(config.model_dump(mode="json"), sort_keys=True),
                    None if environment is None else json.dumps(environment),
                    experiment_id,
                ),
            )
            if artifact is not None:
                self._put_artifact(conn, artifact)
            self._release(conn, experiment_id)

    @staticmethod
    def _put_artifact(conn: sqlite3.Connection, a: ArtifactRow) -> None:
        conn.execute(
            """INSERT OR REPLACE INTO artifacts(experiment_id, kind, path, bytes, note, created_at)
               VALUES (?,?,?,?,?,?)""",
            (a.experiment_id, a.kind, a.path, a.bytes, a.note, a.created_at),
        )

    def drop_artifact(self, experiment_id: str, note: str) -> None:
        """Record that an experiment's artifact was removed from disk, and why."""
        with self._write() as conn:
            conn.execute(
                "UPDATE artifacts SET path=NULL, bytes=0, note=? WHERE experiment_id=?",
                (note, experiment_id),
            )

    def forget(self, experiment_ids: Sequence[str]) -> list[ArtifactRow]:
        """Delete experiments with their predictions and artifact records, all in one
        transaction, and return the artifact records deleted: their files are the caller's to
        remove once this is committed (a file without a record is harmless, a record without
        its file is not). Evaluated examples stay: they belong to the data set, not to one
        experiment."""
        ids = list(dict.fromkeys(experiment_ids))
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        has_artifacts = self._has_table("artifacts")
        with self._write() as conn:
            running = conn.execute(
                f"SELECT id, lease_owner, lease_at FROM experiments WHERE id IN ({marks}) "
                "AND status = 'running'",
                ids,
            ).fetchall()
            for rid, owner, lease_at in running:
                if owner and owner != self.owner and _lease_alive(owner, lease_at, time.time()):
                    raise BakeoffError(
                        f"experiment {rid} is running now ({owner}); let it finish or stop "
                        "that process, then forget it"
                    )
            rows = (
                conn.execute(
                    "SELECT experiment_id, kind, path, bytes, note, created_at FROM artifacts "
                    f"WHERE experiment_id IN ({marks})",
                    ids,
                ).fetchall()
                if has_artifacts
                else []
            )
            conn.execute(f"DELETE FROM predictions WHERE experiment_id IN ({marks})", ids)
            if has_artifacts:
                conn.execute(f"DELETE FROM artifacts WHERE experiment_id IN ({marks})", ids)
            conn.execute(f"DELETE FROM experiments WHERE id IN ({marks})", ids)
        return [ArtifactRow(*r) for r in rows]

    def artifacts(self) -> list[ArtifactRow]:
        """Every artifact record (kept or not), oldest first; none for a store from before."""
        return self._artifact_rows("ORDER BY created_at")

    def _artifact_rows(self, where: str, params: Sequence[Any] = ()) -> list[ArtifactRow]:
        if not self._has_table("artifacts"):
            return []
        rows = self._query(
            "SELECT experiment_id, kind, path, bytes, note, created_at FROM artifacts " + where,
            params,
        )
        return [ArtifactRow(*r) for r in rows]

    def kept_weights(self, dataset_key: str) -> list[tuple[str, float]]:
        """(experiment id, accuracy) of every finished experiment on ``dataset_key`` whose model
        weights are kept: what ``--keep best`` compares a new model with."""
        if not self._has_table("artifacts"):
            return []
        rows = self._query(
            """SELECT e.id, json_extract(e.metrics, '$.accuracy') FROM artifacts a
               JOIN experiments e ON e.id = a.experiment_id
               WHERE a.kind = 'weights' AND a.path IS NOT NULL AND e.status = 'done'
                 AND e.dataset_key = ?""",
            (dataset_key,),
        )
        return [(r[0], float(r[1])) for r in rows if r[1] is not None]

    def artifact(self, experiment_id: str) -> ArtifactRow | None:
        rows = self._artifact_rows("WHERE experiment_id = ?", (experiment_id,))
        return rows[0] if rows else None

    def fail(self, experiment_id: str, error: str) -> None:
        """Record a failed attempt; a finished result from an earlier attempt stays as it was."""
        self._stop_heartbeat(experiment_id)
        with self._write() as conn:
            conn.execute(
                """UPDATE experiments SET status='failed', error=?, finished_at=?
                   WHERE id=? AND status != 'done' AND (lease_owner IS NULL OR lease_owner = ?)""",
                (error, time.time(), experiment_id, self.owner),
            )
            self._release(conn, experiment_id)

    # -- reads ------------------------------------------------------------------------------

    def status(self, experiment_id: str) -> str | None:
        rows = self._query("SELECT status FROM experiments WHERE id = ?", (experiment_id,))
        return rows[0][0] if rows else None

    def statuses(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self._query("SELECT id, status FROM experiments")}

    def experiments(self, status: str | None = "done") -> list[ExperimentRecord]:
        sql = "SELECT * FROM experiments"
        params: tuple[Any, ...] = ()
        if status is not None:
            sql += " WHERE status = ?"
            params = (status,)
        sql += " ORDER BY task, method, model, created_at"
        self._conn.row_factory = sqlite3.Row
        try:
            rows = self._query(sql, params)
        finally:
            self._conn.row_factory = None
        return [self._record(r) for r in rows]

    def _record(self, r: sqlite3.Row) -> ExperimentRecord:
        rid = r["id"]

        def j(column: str) -> Any:
            return _loads(r[column], column, rid, self.path)

        try:
            config = ExperimentConfig.model_validate(j("config"))
            metrics = j("metrics")
            timing = j("timing")
            training = j("training")
            return ExperimentRecord(
                id=rid,
                status=r["status"],
                task=r["task"],
                model=r["model"],
                method=r["method"],
                dataset_key=r["dataset_key"],
                eval_split=r["eval_split"],
                config=config,
                label_names=j("label_names"),
                metrics=None if metrics is None else Metrics.from_json(metrics),
                timing=None if timing is None else Timing.from_json(timing),
                training=None if training is None else TrainingRecord.from_json(training),
                environment=j("environment"),
                error=r["error"],
                attempts=r["attempts"],
                created_at=r["created_at"],
                started_at=r["started_at"],
                finished_at=r["finished_at"],
            )
        except (ValidationError, TypeError, AttributeError) as exc:
            raise BakeoffError(
                f"experiment {rid} in {self.path} cannot be read ({type(exc).__name__}); re-run "
                "it with --force, or pass a different --db"
            ) from None

    def predictions(self, experiment_id: str) -> list[PredictionRow]:
        rows = self._query(
            """SELECT idx, gold, pred, scores, raw, raw_scores FROM predictions
               WHERE experiment_id = ? ORDER BY idx""",
            (experiment_id,),
        )
        return [
            PredictionRow(
                idx,
                gold,
                pred,
                _loads(scores, "scores", experiment_id, self.path),
                raw,
                _loads(raw_scores, "raw scores", experiment_id, self.path),
            )
            for idx, gold, pred, scores, raw, raw_scores in rows
        ]

    def examples(self, dataset_key: str) -> dict[int, ExampleRow]:
        rows = self._query(
            "SELECT idx, text, text_pair, gold FROM examples WHERE dataset_key = ? ORDER BY idx",
            (dataset_key,),
        )
        return {r[0]: ExampleRow(*r) for r in rows}

    def train_label_counts(self, dataset_key: str) -> list[int] | None:
        rows = self._query(
            "SELECT train_label_counts FROM datasets WHERE dataset_key = ?", (dataset_key,)
        )
        return _loads(rows[0][0], "label counts", dataset_key, self.path) if rows else None

    def integrity_ok(self) -> bool:
        return self._query("PRAGMA integrity_check")[0][0] == "ok"
