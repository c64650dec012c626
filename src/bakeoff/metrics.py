"""Classification metrics with uncertainty: what the study reported, plus what it should have.

Invalid predictions (answers that map to no label) count as wrong everywhere and are reported as a
rate of their own, never turned into a class.

Calibration: where a method gives per-label probabilities, the expected calibration error (ECE)
says how far its confidence is from its accuracy, and :func:`reliability_data` gives the bins a
reliability diagram draws. A method can rank labels well and still be overconfident; a user who
thresholds on confidence (route unsure examples to a person) needs to know.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.stats import binomtest
from sklearn.metrics import (
    confusion_matrix,
    f1_score,
    matthews_corrcoef,
    precision_recall_fscore_support,
)

from bakeoff.classifier import INVALID
from bakeoff.records import ClassMetrics, Metrics


def accuracy_interval(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion: well-behaved near 0 and 1 and for small n."""
    if n == 0:
        return (0.0, 0.0)
    ci = binomtest(correct, n).proportion_ci(confidence_level=confidence, method="wilson")
    return (float(ci.low), float(ci.high))


def format_accuracy(accuracy: float, ci_low: float, ci_high: float) -> str:
    """'87.6 [85.2, 89.7]': accuracy in percent and its 95% interval. A Wilson interval is not
    symmetric, so it is printed as [low, high]; one spelling for the CLI table and the report."""
    return f"{100 * accuracy:.1f} [{100 * ci_low:.1f}, {100 * ci_high:.1f}]"


def compute_metrics(
    gold: Sequence[int],
    pred: Sequence[int],
    label_names: Sequence[str],
    scores: Sequence[Sequence[float]] | None = None,
) -> Metrics:
    """Accuracy (+95% CI), macro-F1, MCC, per-class precision/recall/F1, confusion matrix, n,
    and the expected calibration error where ``scores`` (per-label probabilities) are given."""
    gold_a = np.asarray(gold, dtype=int)
    pred_a = np.asarray(pred, dtype=int)
    n = int(gold_a.size)
    labels = list(range(len(label_names)))
    correct = int((gold_a == pred_a).sum())
    low, high = accuracy_interval(correct, n)
    n_invalid = int((pred_a == INVALID).sum())
    precision, recall, f1, support = precision_recall_fscore_support(
        gold_a, pred_a, labels=labels, zero_division=0
    )
    return Metrics(
        n=n,
        accuracy=correct / n if n else 0.0,
        accuracy_ci_low=low,
        accuracy_ci_high=high,
        macro_f1=float(f1_score(gold_a, pred_a, labels=labels, average="macro", zero_division=0)),
        mcc=float(matthews_corrcoef(gold_a, pred_a)) if n else 0.0,
        n_invalid=n_invalid,
        invalid_rate=n_invalid / n if n else 0.0,
        per_class={
            name: ClassMetrics(float(precision[i]), float(recall[i]), float(f1[i]), int(support[i]))
            for i, name in enumerate(label_names)
        },
        confusion_matrix=confusion_matrix(gold_a, pred_a, labels=labels).tolist(),
        ece=None if scores is None else expected_calibration_error(scores, gold, pred),
    )


# -- calibration ------------------------------------------------------------------------------

#: equal-width confidence bins for ECE and the reliability diagram (Guo et al. 2017 use 15)
ECE_BINS = 15


@dataclass(frozen=True)
class ReliabilityBin:
    """One confidence bin ``(lower, upper]`` (the first also holds 0): how many predictions fell
    in it, their mean confidence and their accuracy (both None for an empty bin)."""

    lower: float
    upper: float
    count: int
    confidence: float | None
    accuracy: float | None


class ScoredRow(Protocol):
    """What :func:`reliability_data` reads from a stored prediction (``store.PredictionRow``)."""

    gold: int
    pred: int
    scores: list[float] | None


def calibration_bins(
    confidence: Sequence[float], correct: Sequence[bool], bins: int = ECE_BINS
) -> list[ReliabilityBin]:
    """Bin predictions by confidence into ``bins`` equal-width bins on [0, 1].

    Bin m holds confidences in ((m-1)/M, m/M]; a confidence of exactly 0 goes to the first bin.
    """
    conf = np.clip(np.asarray(confidence, dtype=float), 0.0, 1.0)
    hit = np.asarray(correct, dtype=bool)
    which = np.clip(np.ceil(conf * bins).astype(int) - 1, 0, bins - 1)
    out = []
    for m in range(bins):
        inside = which == m
        count = int(inside.sum())
        out.append(
            ReliabilityBin(
                lower=m / bins,
                upper=(m + 1) / bins,
                count=count,
                confidence=float(conf[inside].mean()) if count else None,
                accuracy=float(hit[inside].mean()) if count else None,
            )
        )
    return out


def ece_from_bins(bins: Sequence[ReliabilityBin]) -> float | None:
    """Sum over bins of (share of predictions) x |accuracy - mean confidence|; None when empty."""
    n = sum(b.count for b in bins)
    if n == 0:
        return None
    return float(
        sum(
            b.count / n * abs(b.accuracy - b.confidence)  # type: ignore[operator]
            for b in bins
            if b.count
        )
    )


def _confidence_and_correct(
    scores: Sequence[Sequence[float] | None], gold: Sequence[int], pred: Sequence[int]
) -> tuple[list[float], list[bool]]:
    """The top-class probability of every scored example and whether its prediction was right.

    Confidence is the largest probability, whatever label was predicted; correctness is the
    stored prediction's (an invalid answer is wrong). For every method that predicts the top
    label the two agree; rows without scores are left out.
    """
    conf, correct = [], []
    for row, g, p in zip(scores, gold, pred):
        if row is None or len(row) == 0:
            continue
        conf.append(float(max(row)))
        correct.append(p != INVALID and p == g)
    return conf, correct


def expected_calibration_error(
    scores: Sequence[Sequence[float] | None],
    gold: Sequence[int],
    pred: Sequence[int],
    bins: int = ECE_BINS,
) -> float | None:
    """Expected calibration error of the top-class probability, ``bins`` equal-width bins.

    0 means confidence matches accuracy in every bin; an overconfident model that says 0.95 and
    is right 70% of the time has an ECE near 0.25. None when no example has scores.
    """
    conf, correct = _confidence_and_correct(scores, gold, pred)
    return ece_from_bins(calibration_bins(conf, correct, bins)) if conf else None


def reliability_data(rows: Sequence[ScoredRow], bins: int = ECE_BINS) -> list[ReliabilityBin]:
    """The bins of a reliability diagram for one experiment's stored predictions.

    Draw bar ``(lower, upper]`` at height ``accuracy`` (or mean ``confidence`` against
    ``accuracy`` as points) next to the diagonal; skip bins with ``count == 0``. An empty list
    means the experiment has no probabilities (e.g. generation scoring).
    """
    conf, correct = _confidence_and_correct(
        [r.scores for r in rows], [r.gold for r in rows], [r.pred for r in rows]
    )
    return calibration_bins(conf, correct, bins) if conf else []
