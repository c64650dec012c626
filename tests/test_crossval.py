"""--cv K: every labelled example predicted out of fold, by a model that never trained on it."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bakeoff import crossval
from bakeoff.classifier import Predictions, Prepared
from bakeoff.cli import app
from bakeoff.config import ExperimentConfig
from bakeoff.data import Example, TaskData
from bakeoff.errors import BakeoffError
from bakeoff.methods import get_method_spec
from bakeoff.records import TrainingRecord
from bakeoff.store import ResultsStore
from bakeoff.tasks import TaskSpec

runner = CliRunner()


def _task_data(n: int = 60, classes: int = 3) -> TaskData:
    task = TaskSpec("toy", "toy task", ("text",), tuple(f"c{i}" for i in range(classes)))
    rows = [Example(f"row {i}", i % classes) for i in range(n)]
    return TaskData(task, rows[: n - 12], rows[n - 12 :], "train", "validation", "test", "fp")


@dataclass
class Recorder:
    """A method that answers the majority label of what it trained on, and records each fold."""

    seen: list[tuple[set[str], list[str]]] = field(default_factory=list)

    def factory(self) -> Recorder:
        return self

    def prepare(self, config: ExperimentConfig, data: TaskData, progress) -> Prepared:
        self.seen.append(({ex.text for ex in data.train}, [ex.text for ex in data.eval]))
        majority = max(range(3), key=lambda c: sum(ex.label == c for ex in data.train))

        class Clf:
            device = "cpu"
            batch_size = 8
            label_names = data.task.label_names

            def predict(self, examples, batch_size=None, advance=None) -> Predictions:
                n = len(examples)
                return Predictions([majority] * n, [[1 / 3] * 3] * n)

        return Prepared(Clf(), TrainingRecord(labels_used=len(data.train), train_time_s=1.0))


def test_folds_partition_the_pool_and_keep_class_shares() -> None:
    labels = [i % 3 for i in range(60)]
    folds = crossval.folds(labels, 5)
    assert sorted(i for f in folds for i in f) == list(range(60))
    for f in folds:
        assert [sum(labels[i] == c for i in f) for c in range(3)] == [4, 4, 4]
    assert folds == crossval.folds(labels, 5)  # the same for every experiment


def test_every_example_is_scored_by_a_model_that_never_saw_it() -> None:
    import dataclasses

    data = crossval.pooled(_task_data(), 5)
    assert data.eval_split == "cv5" and len(data.eval) == 60 and data.train == data.eval
    recorder = Recorder()
    spec = dataclasses.replace(get_method_spec("finetune"), factory=recorder.factory)
    config = ExperimentConfig(
        task="toy", data_fingerprint="fp", eval_split="cv5", model="m", method="finetune", cv=5
    )
    predictions, timing, training = crossval.cross_validate(spec, config, data, _NoProgress())
    assert len(recorder.seen) == 5
    scored = [t for _, evals in recorder.seen for t in evals]
    assert sorted(scored) == sorted(ex.text for ex in data.eval)  # each exactly once
    for trained, evals in recorder.seen:
        assert not trained & set(evals) and len(trained) + len(evals) == 60
    assert len(predictions) == 60 and timing.n_examples == 60
    assert training.details["cross_validation"]["folds"] == 5
    assert training.labels_used == 48 and training.train_time_s == pytest.approx(1.0)


class _NoProgress:
    def stage(self, description, total):
        return lambda n=1: None

    def note(self, text):
        pass


def test_a_class_smaller_than_k_is_one_line() -> None:
    data = _task_data(n=12)
    with pytest.raises(BakeoffError, match=r"--cv 10: class 'c0' .* only 4 examples"):
        crossval.pooled(data, 10)


def test_cv_ids_leave_old_ids_alone() -> None:
    base = dict(task="t", data_fingerprint="f", eval_split="v", model="m", method="finetune")
    assert "cv" not in ExperimentConfig(**base).identity()
    assert (
        ExperimentConfig(**base).experiment_id() != ExperimentConfig(**base, cv=5).experiment_id()
    )


def _csv(path: Path, n: int, data_dir: Path) -> Path:
    import json

    rows = [json.loads(line) for line in (data_dir / "sst2" / "validation.jsonl").open()]
    random.Random(0).shuffle(rows)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        for r in rows[:n]:
            writer.writerow([r["sentence"], ["neg", "pos"][r["label"]]])
    return path


def test_cli_cv_on_a_200_row_file_predicts_every_row(
    tmp_path: Path, data_dir: Path, tiny_bert: Path
) -> None:
    source = _csv(tmp_path / "reviews.csv", 200, data_dir)
    db = tmp_path / "b.db"
    args = ["run", "--train-file", str(source), "--model", str(tiny_bert), "--method",
            "finetune", "--epochs", "1", "--latency-samples", "2", "--cv", "5", "--db", str(db)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    with ResultsStore(db, readonly=True) as store:
        [record] = store.experiments("done")
        assert record.eval_split == "cv5" and record.metrics.n == 200
        predictions = store.predictions(record.id)
        assert len(predictions) == 200 and len(store.examples(record.dataset_key)) == 200
        assert store.artifacts() == []  # K fold models are not the one to deploy
    report = runner.invoke(app, ["report", "--db", str(db), "--out", str(tmp_path / "r")])
    assert report.exit_code == 0, report.output
    md = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert "5-fold CV, every example out of fold" in md

    bad = runner.invoke(app, [*args[:-2], "--limit", "50", "--db", str(tmp_path / "c.db")])
    assert bad.exit_code == 2 and "leave out eval_limit" in bad.output
    assert not (tmp_path / "c.db").exists()
