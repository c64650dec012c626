"""Classification metrics with uncertainty: what the study reported, plus what it should have.

Invalid predictions (answers that map to no label) count as wrong everywhere and are reported as a
rate of their own, never turned into a class.
"""

from __future__ import annotations

from collections.abc import Sequence

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
    gold: Sequence[int], pred: Sequence[int], label_names: Sequence[str]
) -> Metrics:
    """Accuracy (+95% CI), macro-F1, MCC, per-class precision/recall/F1, confusion matrix, n."""
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
    )
