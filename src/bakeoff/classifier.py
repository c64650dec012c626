"""The one interface every method produces: a ready classifier that predicts a batch of examples.

Encoders (after fine-tuning) and prompted LLMs both end as a :class:`Classifier`, so evaluation and
timing (``timing.py``) treat them identically: same inputs, same clock, same protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bakeoff.data import Example
from bakeoff.records import TrainingRecord

#: prediction value for an answer that maps to no label (generation mode); it always counts as wrong
INVALID = -1

Advance = Callable[[int], None]


@dataclass
class Predictions:
    """Per-example outputs, in the order of the examples given."""

    labels: list[int]
    #: per-label probabilities (rows sum to 1), or None where a method has no scores
    scores: list[list[float]] | None = None
    #: the raw generated answer, for generation-based methods
    raw: list[str | None] | None = None
    #: per-label raw scores before normalisation: log-likelihoods (prompted) or logits (trained),
    #: kept so calibration and margins can be recomputed from the store
    raw_scores: list[list[float]] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @staticmethod
    def concat(parts: Sequence[Predictions]) -> Predictions:
        labels = [x for p in parts for x in p.labels]
        scores = (
            None
            if any(p.scores is None for p in parts)
            else [s for p in parts for s in (p.scores or [])]
        )
        raw = (
            None
            if all(p.raw is None for p in parts)
            else [r for p in parts for r in (p.raw or [None] * len(p))]
        )
        raw_scores = (
            None
            if any(p.raw_scores is None for p in parts)
            else [s for p in parts for s in (p.raw_scores or [])]
        )
        return Predictions(labels, scores, raw, raw_scores)

    def reorder(self, order: Sequence[int]) -> Predictions:
        """Undo a sort: ``order[i]`` is the original position of the i-th prediction."""
        n = len(order)
        inverse = [0] * n
        for sorted_pos, original in enumerate(order):
            inverse[original] = sorted_pos
        return Predictions(
            [self.labels[inverse[i]] for i in range(n)],
            None if self.scores is None else [self.scores[inverse[i]] for i in range(n)],
            None if self.raw is None else [self.raw[inverse[i]] for i in range(n)],
            None if self.raw_scores is None else [self.raw_scores[inverse[i]] for i in range(n)],
        )


class Classifier(Protocol):
    """A model ready to label examples. ``predict`` includes building inputs and tokenising."""

    label_names: tuple[str, ...]
    batch_size: int
    #: torch device string ("cpu", "cuda:0"), used to synchronise clocks
    device: str

    def predict(
        self,
        examples: Sequence[Example],
        batch_size: int | None = None,
        advance: Advance | None = None,
    ) -> Predictions: ...


class Progress(Protocol):
    """Where methods report progress; the CLI shows it with rich, tests pass :class:`NullProgress`."""

    def stage(self, description: str, total: int | None) -> Advance: ...

    def note(self, text: str) -> None:
        """A line worth keeping on screen (a training epoch's loss, a sanity warning)."""
        ...


class NullProgress:
    def stage(self, description: str, total: int | None) -> Advance:
        def advance(n: int = 1) -> None:
            return None

        return advance

    def note(self, text: str) -> None:
        pass


@dataclass
class Prepared:
    """What a method hands back before evaluation: the classifier and how it was obtained."""

    classifier: Classifier
    training: TrainingRecord
