"""K-fold cross-validation for small data sets: ``--cv K`` (``cv: K`` in a grid file).

A 200-row file with a 20% hold-out leaves 40 evaluation examples: an interval of about +-15
points, too wide to separate anything. With ``--cv K`` every labelled example (the train and
evaluation data pooled) is predicted by a model that never saw it: the pool is split into K
stratified folds, and for each fold the method is prepared on the other K-1 folds (fine-tuned,
fitted, or given its demonstrations from them) and evaluated on it. Every example then has one
out-of-fold prediction, so accuracy and its interval use all of the data, and the paired tests
pair every example of two experiments.

The folds are the same for every experiment of a task (a fixed seed, not the experiment's), so
two methods are compared on identical splits; the experiment's seed still draws the training
sample (``--train-limit``) and the training randomness inside each fold. The stored evaluation
split is named ``cv<K>`` (the report's "eval split" column says which protocol produced a
number), and its examples are the whole pool, kept apart from hold-out results of the same task.

Timings: throughput is over all K evaluations (every example once); latency is measured in the
first fold; peak memory is the largest of any fold. Training time is the mean per fold, what
training one model costs (the total is in the training details). No model is kept: K models
trained on parts of the data are not the one to deploy; train the chosen configuration on all
of it with an ordinary run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from statistics import mean
from typing import TYPE_CHECKING

from bakeoff.classifier import Predictions, Progress
from bakeoff.data import TaskData
from bakeoff.errors import BakeoffError
from bakeoff.records import Timing, TrainingRecord
from bakeoff.timing import timed_evaluation

if TYPE_CHECKING:
    from bakeoff.config import ExperimentConfig
    from bakeoff.methods import MethodSpec

#: fold assignment seed, the same for every experiment so their predictions pair example by example
FOLD_SEED = 0


def split_name(k: int) -> str:
    return f"cv{k}"


def pooled(data: TaskData, k: int) -> TaskData:
    """The task's labelled examples as one pool that is both trained on (out of fold) and
    evaluated. Raises a one-line error when a class has fewer than ``k`` examples."""
    pool = list(data.train) + list(data.eval)
    if k > len(pool):
        raise BakeoffError(
            f"--cv {k}: task '{data.task.name}' has only {len(pool)} labelled examples; use "
            f"--cv {max(2, min(10, len(pool)))} or fewer folds"
        )
    counts = Counter(ex.label for ex in pool)
    rare = [(data.task.label_names[label], n) for label, n in sorted(counts.items()) if n < k]
    if rare:
        name, n = min(rare, key=lambda x: x[1])
        raise BakeoffError(
            f"--cv {k}: class '{name}' of task '{data.task.name}' has only {n} examples, so some "
            f"folds would have none; use --cv {max(2, n)} or fewer, or drop that class"
        )
    return replace(
        data,
        train=pool,
        eval=pool,
        train_split=f"{data.train_split}+{data.eval_split}",
        eval_split=split_name(k),
    )


def folds(labels: list[int], k: int) -> list[list[int]]:
    """K stratified folds of positions into ``labels`` (each position in exactly one fold)."""
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=FOLD_SEED)
    return [sorted(test.tolist()) for _, test in splitter.split(labels, labels)]


def _merge_timing(timings: list[Timing]) -> Timing:
    n = sum(t.n_examples for t in timings)
    total = sum(t.total_s for t in timings)
    first = timings[0]
    return Timing(
        n_examples=n,
        batch_size=first.batch_size,
        total_s=total,
        throughput_per_s=n / total if total > 0 else 0.0,
        latency_median_ms=first.latency_median_ms,
        latency_p95_ms=first.latency_p95_ms,
        latency_n=first.latency_n,
        peak_memory_mb=max(t.peak_memory_mb for t in timings),
        memory_kind=first.memory_kind,
        device=first.device,
        # the busiest fold's load: the one that slowed the merged throughput most
        load_avg=max((t.load_avg for t in timings if t.load_avg is not None), default=None),
        cpus=first.cpus,
    )


def _merge_training(records: list[TrainingRecord], accuracies: list[float]) -> TrainingRecord:
    first = records[0]
    losses = [r.loss for r in records if r.loss is not None]
    steps = [r.steps for r in records if r.steps is not None]
    warnings = list(dict.fromkeys(w for r in records for w in r.warnings))
    return TrainingRecord(
        labels_used=round(mean(r.labels_used for r in records)),
        train_time_s=mean(r.train_time_s for r in records),
        load_time_s=mean(r.load_time_s for r in records),
        steps=round(mean(steps)) if steps else None,
        loss=mean(losses) if losses else None,
        loss_per_epoch=first.loss_per_epoch,
        precision=first.precision,
        model_path=first.model_path,
        warnings=warnings,
        details={
            **first.details,
            "cross_validation": {
                "folds": len(records),
                "fold_seed": FOLD_SEED,
                "accuracy_per_fold": [round(a, 4) for a in accuracies],
                "labels_used_per_fold": [r.labels_used for r in records],
                "train_time_s_total": round(sum(r.train_time_s for r in records), 3),
                "loss_per_epoch": "of the first fold",
                "latency": "measured in the first fold",
            },
        },
    )


def cross_validate(
    spec: MethodSpec,
    config: ExperimentConfig,
    data: TaskData,
    progress: Progress,
) -> tuple[Predictions, Timing, TrainingRecord]:
    """Prepare and evaluate the method once per fold of ``data`` (a :func:`pooled` task); the
    out-of-fold predictions come back in the pool's order."""
    k = int(config.cv or 0)
    pool = data.eval
    parts: list[tuple[list[int], Predictions]] = []
    timings, records, accuracies = [], [], []
    for f, test in enumerate(folds([ex.label for ex in pool], k)):
        held = set(test)
        fold = replace(
            data,
            train=[ex for i, ex in enumerate(pool) if i not in held],
            eval=[pool[i] for i in test],
            eval_split=f"fold {f + 1} of {k}",
        )
        progress.note(f"fold {f + 1} of {k}: {len(fold.train)} to learn from, {len(test)} to score")
        prepared = spec.factory().prepare(config, fold, progress)
        predictions, timing = timed_evaluation(
            prepared.classifier,
            fold.eval,
            latency_samples=config.latency_samples if f == 0 else 1,
            seed=config.seed,
            progress=progress,
            what=f"fold {f + 1} examples",
        )
        records.append(prepared.training)
        del prepared  # one fold's model at a time
        gold = [ex.label for ex in fold.eval]
        accuracies.append(sum(p == g for p, g in zip(predictions.labels, gold)) / len(gold))
        parts.append((test, predictions))
        timings.append(timing)
    return (
        _in_pool_order(parts, len(pool)),
        _merge_timing(timings),
        _merge_training(records, accuracies),
    )


def _in_pool_order(parts: list[tuple[list[int], Predictions]], n: int) -> Predictions:
    """Fold predictions put back at their examples' positions in the pool."""
    order = [i for test, _ in parts for i in test]
    merged = Predictions.concat([p for _, p in parts])
    if sorted(order) != list(range(n)):
        raise AssertionError("cross-validation folds do not cover the pool exactly once")
    return merged.reorder(order)
