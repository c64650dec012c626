"""The results store: one SQLite file holding every experiment, its predictions and its examples.

Why SQLite: one file to copy, transactional writes, readable by any tool. An experiment row is
written as ``running`` when it starts and flipped to ``done`` in the same transaction that stores
all its predictions, so a crash (even SIGKILL) can never leave a 'done' experiment with missing
predictions; a ``running`` row left behind is simply run again.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bakeoff.classifier import Predictions
from bakeoff.config import ExperimentConfig
from bakeoff.data import Example
from bakeoff.errors import BakeoffError

DEFAULT_DB = "bakeoff.db"
DB_ENV = "BAKEOFF_DB"
SCHEMA_VERSION = 1

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
CREATE TABLE IF NOT EXISTS predictions (
    experiment_id TEXT NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    gold INTEGER NOT NULL,
    pred INTEGER NOT NULL,
    scores TEXT,
    raw TEXT,
    PRIMARY KEY (experiment_id, idx)
);
"""


def default_db_path() -> Path:
    """``$BAKEOFF_DB`` if set, else ``bakeoff.db`` in the current directory."""
    return Path(os.environ.get(DB_ENV) or DEFAULT_DB)


@dataclass
class ExperimentRecord:
    id: str
    status: str
    task: str
    model: str
    method: str
    dataset_key: str
    eval_split: str
    config: dict[str, Any]
    label_names: list[str]
    metrics: dict[str, Any] | None
    timing: dict[str, Any] | None
    training: dict[str, Any] | None
    environment: dict[str, Any] | None
    error: str | None
    attempts: int
    created_at: float
    started_at: float | None
    finished_at: float | None


@dataclass
class PredictionRow:
    idx: int
    gold: int
    pred: int
    scores: list[float] | None
    raw: str | None


@dataclass
class ExampleRow:
    idx: int
    text: str
    text_pair: str | None
    gold: int


def _explain(exc: sqlite3.Error, path: Path) -> BakeoffError:
    msg = str(exc).lower()
    if "locked" in msg or "busy" in msg:
        return BakeoffError(
            f"results store {path} is locked by another process; wait for it to finish "
            "or pass a different --db"
        )
    if "not a database" in msg or "malformed" in msg or "file is encrypted" in msg:
        return BakeoffError(
            f"{path} is not a readable bakeoff results store (not SQLite or damaged); "
            "pass a different --db or move that file away"
        )
    if "readonly" in msg or "unable to open" in msg or "permission" in msg:
        return BakeoffError(
            f"cannot write the results store {path} ({exc}); check the folder exists and is "
            "writable, or pass a different --db"
        )
    return BakeoffError(f"results store {path}: {exc}; pass a different --db")


class ResultsStore:
    """All reads and writes of the results database go through here."""

    def __init__(self, path: str | Path | None = None, timeout_s: float | None = None) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        timeout = (
            timeout_s if timeout_s is not None else float(os.environ.get("BAKEOFF_DB_TIMEOUT", 10))
        )
        if self.path.exists() and self.path.is_dir():
            raise BakeoffError(
                f"--db {self.path} is a directory; give a file path like {self.path}/bakeoff.db"
            )
        if not self.path.parent.exists():
            raise BakeoffError(
                f"folder {self.path.parent} for the results store does not exist; create it "
                "or pass a different --db"
            )
        try:
            self._conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            with self._write():
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
                version = self._conn.execute(
                    "SELECT value FROM meta WHERE key='schema_version'"
                ).fetchone()
                if version is None:
                    self._conn.execute(
                        "INSERT INTO meta(key, value) VALUES ('schema_version', ?)",
                        (str(SCHEMA_VERSION),),
                    )
                elif int(version[0]) > SCHEMA_VERSION:
                    raise BakeoffError(
                        f"{self.path} was written by a newer bakeoff (schema {version[0]}); "
                        "upgrade bakeoff or pass a different --db"
                    )
        except sqlite3.Error as exc:
            raise _explain(exc, self.path) from None

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: all of it lands, or none of it."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _explain(exc, self.path) from None
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK")
                raise _explain(exc, self.path) from None

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            cur = self._conn.execute(sql, params)
            return cur.fetchall()
        except sqlite3.Error as exc:
            raise _explain(exc, self.path) from None

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes -----------------------------------------------------------------------------

    def save_examples(self, dataset_key: str, indexed: Sequence[tuple[int, Example]]) -> None:
        """Keep the evaluated examples' text, so reports never need the original files."""
        with self._write() as conn:
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
    ) -> None:
        """Mark an experiment as running (a leftover 'running' row from a crash is reset)."""
        now = time.time()
        with self._write() as conn:
            conn.execute("DELETE FROM predictions WHERE experiment_id = ?", (experiment_id,))
            conn.execute(
                """INSERT INTO experiments(id, status, task, model, method, dataset_key, eval_split,
                       config, label_names, environment, attempts, created_at, started_at)
                   VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)
                   ON CONFLICT(id) DO UPDATE SET status='running', metrics=NULL, timing=NULL,
                       training=NULL, error=NULL, environment=excluded.environment,
                       attempts=attempts+1, started_at=excluded.started_at, finished_at=NULL""",
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
                    now,
                    now,
                ),
            )

    def finish(
        self,
        experiment_id: str,
        indices: Sequence[int],
        gold: Sequence[int],
        predictions: Predictions,
        metrics: dict[str, Any],
        timing: dict[str, Any],
        training: dict[str, Any],
    ) -> None:
        """Store all predictions and mark the experiment done, atomically."""
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
                None if predictions.raw is None else predictions.raw[i],
            )
            for i, (idx, g) in enumerate(zip(indices, gold))
        ]
        with self._write() as conn:
            conn.execute("DELETE FROM predictions WHERE experiment_id = ?", (experiment_id,))
            conn.executemany(
                "INSERT INTO predictions(experiment_id, idx, gold, pred, scores, raw) VALUES (?,?,?,?,?,?)",
                rows,
            )
            conn.execute(
                """UPDATE experiments SET status='done', metrics=?, timing=?, training=?, error=NULL,
                       finished_at=? WHERE id=?""",
                (
                    json.dumps(metrics),
                    json.dumps(timing),
                    json.dumps(training),
                    time.time(),
                    experiment_id,
                ),
            )

    def fail(self, experiment_id: str, error: str) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE experiments SET status='failed', error=?, finished_at=? WHERE id=?",
                (error, time.time(), experiment_id),
            )

    # -- reads ------------------------------------------------------------------------------

    def status(self, experiment_id: str) -> str | None:
        rows = self._query("SELECT status FROM experiments WHERE id = ?", (experiment_id,))
        return rows[0][0] if rows else None

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

        def _j(v: str | None) -> Any:
            return None if v is None else json.loads(v)

        return [
            ExperimentRecord(
                id=r["id"],
                status=r["status"],
                task=r["task"],
                model=r["model"],
                method=r["method"],
                dataset_key=r["dataset_key"],
                eval_split=r["eval_split"],
                config=json.loads(r["config"]),
                label_names=json.loads(r["label_names"]),
                metrics=_j(r["metrics"]),
                timing=_j(r["timing"]),
                training=_j(r["training"]),
                environment=_j(r["environment"]),
                error=r["error"],
                attempts=r["attempts"],
                created_at=r["created_at"],
                started_at=r["started_at"],
                finished_at=r["finished_at"],
            )
            for r in rows
        ]

    def predictions(self, experiment_id: str) -> list[PredictionRow]:
        rows = self._query(
            "SELECT idx, gold, pred, scores, raw FROM predictions WHERE experiment_id = ? ORDER BY idx",
            (experiment_id,),
        )
        return [
            PredictionRow(idx, gold, pred, None if scores is None else json.loads(scores), raw)
            for idx, gold, pred, scores, raw in rows
        ]

    def examples(self, dataset_key: str) -> dict[int, ExampleRow]:
        rows = self._query(
            "SELECT idx, text, text_pair, gold FROM examples WHERE dataset_key = ? ORDER BY idx",
            (dataset_key,),
        )
        return {r[0]: ExampleRow(*r) for r in rows}

    def integrity_ok(self) -> bool:
        return self._query("PRAGMA integrity_check")[0][0] == "ok"
