"""The results store: atomic completion, re-runs, and unusable stores."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bakeoff.classifier import Predictions
from bakeoff.config import ExperimentConfig, FinetuneSettings
from bakeoff.data import Example
from bakeoff.errors import BakeoffError
from bakeoff.metrics import compute_metrics
from bakeoff.records import Timing, TrainingRecord
from bakeoff.store import ResultsStore


def _cfg() -> ExperimentConfig:
    return ExperimentConfig(
        task="t",
        data_fingerprint="f",
        eval_split="validation",
        model="m",
        method="finetune",
        settings=FinetuneSettings(),
    )


def _timing(total_s: float = 1.0) -> Timing:
    return Timing(2, 2, total_s, 2 / total_s, 1.0, 1.0, 2, 10.0, "process_peak_rss", "cpu")


def test_done_only_with_all_predictions(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "b.db")
    cfg = _cfg()
    eid = cfg.experiment_id()
    store.save_examples("t:f:validation", [(0, Example("a", 0)), (5, Example("b", 1))])
    store.start(eid, cfg, "t:f:validation", ["x", "y"], {"device": "cpu"})
    assert store.status(eid) == "running" and store.experiments("done") == []
    metrics = compute_metrics([0, 1], [0, 0], ["x", "y"])
    with pytest.raises(ValueError):  # mismatched lengths: nothing written, still running
        store.finish(eid, [0, 5], [0, 1], Predictions([0]), metrics, _timing(), TrainingRecord(0))
    assert store.status(eid) == "running" and store.predictions(eid) == []
    store.finish(
        eid,
        [0, 5],
        [0, 1],
        Predictions([0, 0], [[0.9, 0.1], [0.6, 0.4]], None, [[2.0, -0.2], [0.3, -0.1]]),
        metrics,
        _timing(),
        TrainingRecord(labels_used=2, loss_per_epoch=[0.7, 0.5]),
    )
    rec = store.experiments("done")[0]
    assert rec.id == eid and rec.metrics == metrics and rec.label_names == ["x", "y"]
    assert rec.config == cfg and rec.training.loss_per_epoch == [0.7, 0.5]
    preds = store.predictions(eid)
    assert [(p.idx, p.gold, p.pred) for p in preds] == [(0, 0, 0), (5, 1, 0)]
    assert preds[1].scores == [0.6, 0.4] and preds[0].raw_scores == [2.0, -0.2]
    assert store.examples("t:f:validation")[5].text == "b"
    # a re-start (e.g. --force) keeps the finished result until a new one is complete
    store.start(eid, cfg, "t:f:validation", ["x", "y"], {})
    assert store.status(eid) == "done" and len(store.predictions(eid)) == 2
    assert store.experiments(None)[0].attempts == 2
    store.fail(eid, "interrupted")  # the later attempt fails: the earlier result stands
    assert store.status(eid) == "done" and len(store.predictions(eid)) == 2
    assert store.integrity_ok()


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("this is not sqlite, it is a text file that happens to be long enough" * 20)
    with pytest.raises(BakeoffError, match="not a readable bakeoff results store") as e:
        ResultsStore(path)
    assert "\n" not in str(e.value)
    assert path.read_text().startswith("this is not sqlite")  # never overwritten


def test_locked_store(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    ResultsStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(BakeoffError, match="locked by another process"):
            store = ResultsStore(path, timeout_s=0.2)
            store.save_examples("k", [(0, Example("a", 0))])
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_missing_folder_and_directory(tmp_path: Path) -> None:
    with pytest.raises(BakeoffError, match="does not exist"):
        ResultsStore(tmp_path / "no" / "such" / "b.db")
    with pytest.raises(BakeoffError, match="is a directory"):
        ResultsStore(tmp_path)
