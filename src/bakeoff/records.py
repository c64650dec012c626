"""Typed records that layers hand each other: what training produced, the metrics, the timing.

Methods return a :class:`TrainingRecord`, metrics come back as :class:`Metrics`, the timing
protocol as :class:`Timing`. Only the results store turns them into JSON (``to_json``) and back
(``from_json``); the runner, the CLI and the report read fields, never string keys with defaults,
so a field a method forgot is a type error at once instead of a silent 0 in a table.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

R = TypeVar("R")


def _from_json(cls: type[R], data: dict[str, Any]) -> R:
    """Build ``cls`` from a stored dict, ignoring keys it does not know (a newer writer's)."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class TrainingRecord:
    """How a method obtained its classifier: labels consumed, time, and what training did.

    ``labels_used`` is what the label-budget advice and curves read: training rows for trained
    methods, demonstrations shown for few-shot prompting, 0 for zero-shot.
    """

    labels_used: int
    train_time_s: float = 0.0
    load_time_s: float = 0.0
    steps: int | None = None
    #: mean training loss over the whole run, and per epoch (empty where a method has no loss)
    loss: float | None = None
    loss_per_epoch: list[float] = field(default_factory=list)
    #: precision the classifier ran in ("bf16", "fp32")
    precision: str = ""
    #: where the model came from (hub id, folder, GGUF file)
    model_path: str = ""
    #: one-line sanity warnings raised while preparing (see bakeoff.checks)
    warnings: list[str] = field(default_factory=list)
    #: method-specific facts (JSON-safe), shown in the report's experiment details
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainingRecord:
        return _from_json(cls, data)


@dataclass
class ClassMetrics:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class Metrics:
    """Accuracy with its Wilson 95% interval, macro-F1, MCC, per class, confusion matrix, and
    calibration (ECE) where there are probabilities."""

    n: int
    accuracy: float
    accuracy_ci_low: float
    accuracy_ci_high: float
    macro_f1: float
    mcc: float
    n_invalid: int
    invalid_rate: float
    per_class: dict[str, ClassMetrics]
    #: rows: gold label, columns: predicted label (invalid answers are not a column)
    confusion_matrix: list[list[int]]
    #: expected calibration error of the top-class probability (15 equal-width bins), where the
    #: method gives probabilities; None for methods without scores and for records stored before
    #: it existed (a default, so those still load)
    ece: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Metrics:
        m = _from_json(cls, data)
        m.per_class = {
            k: v if isinstance(v, ClassMetrics) else _from_json(ClassMetrics, v)
            for k, v in (data.get("per_class") or {}).items()
        }
        return m


@dataclass
class Timing:
    """What the timing protocol (``timing.py``) measured for one experiment."""

    n_examples: int
    batch_size: int
    total_s: float
    throughput_per_s: float
    latency_median_ms: float
    latency_p95_ms: float
    latency_n: int
    peak_memory_mb: float
    memory_kind: str
    device: str
    #: the machine's 1-minute load average when the timed split ended, and its CPU count: speeds
    #: measured under different load are not comparable, and the report says so (None: not
    #: measured, or stored before it was)
    load_avg: float | None = None
    cpus: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Timing:
        return _from_json(cls, data)
