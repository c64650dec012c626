"""The majority-class baseline: what always answering the train split's commonest label scores.

Every verdict is measured against it. A model that answers one label for everything scores
exactly this, so an experiment is only worth recommending when a paired exact test says it is
significantly better (``beats``). The baseline is computed from the store alone: the train split's
label counts are stored with the evaluated examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bakeoff.metrics import accuracy_interval
from bakeoff.stats import DEFAULT_ALPHA, McNemarResult, mcnemar_exact
from bakeoff.store import ExampleRow, PredictionRow

NAME = "majority class (baseline)"

#: where an experiment stands against the baseline: significantly better, not separable from it,
#: or significantly worse (a model worse than answering one label is not "about the baseline")
Standing = Literal["above", "level", "below"]


def standing(a_only: int, b_only: int, p_value: float, alpha: float = DEFAULT_ALPHA) -> Standing:
    """The side of a significant paired test (a = the experiment, b = the baseline)."""
    if p_value >= alpha or a_only == b_only:
        return "level"
    return "above" if a_only > b_only else "below"


@dataclass(frozen=True)
class Baseline:
    """The majority-class predictor on one task's evaluated examples."""

    label: int
    label_name: str
    #: example index -> whether the majority label is right there
    correct: dict[int, bool]

    @property
    def n(self) -> int:
        return len(self.correct)

    @property
    def accuracy(self) -> float:
        return sum(self.correct.values()) / self.n if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return accuracy_interval(sum(self.correct.values()), self.n)

    def test(self, rows: Sequence[PredictionRow]) -> McNemarResult:
        """Paired exact test of an experiment's predictions against the baseline (a = experiment)."""
        shared = [r for r in rows if r.idx in self.correct]
        return mcnemar_exact(
            [r.pred == r.gold for r in shared], [self.correct[r.idx] for r in shared]
        )

    def beats(self, rows: Sequence[PredictionRow], alpha: float = DEFAULT_ALPHA) -> bool:
        """Significantly more accurate than the baseline on the same examples."""
        return self.standing(rows, alpha) == "above"

    def standing(self, rows: Sequence[PredictionRow], alpha: float = DEFAULT_ALPHA) -> Standing:
        """Above, level with or below the baseline on the same examples (unadjusted test)."""
        result = self.test(rows)
        return standing(result.a_only, result.b_only, result.p_value, alpha)


def majority_baseline(
    train_label_counts: Sequence[int] | None,
    examples: dict[int, ExampleRow],
    label_names: Sequence[str],
) -> Baseline | None:
    """The baseline on ``examples`` (None where the train label counts were not stored).

    Ties between label counts go to the first label, as ``argmax`` does.
    """
    if not train_label_counts or not examples:
        return None
    label = max(range(len(train_label_counts)), key=lambda i: (train_label_counts[i], -i))
    name = label_names[label] if label < len(label_names) else str(label)
    return Baseline(label, name, {idx: ex.gold == label for idx, ex in examples.items()})
