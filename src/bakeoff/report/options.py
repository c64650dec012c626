"""What the reader tells the report about their situation (kept light: no scipy, no matplotlib).

``bakeoff.cli`` imports the report command at start-up, so this module and ``command.py`` must not
pull in the statistics or plotting stacks; those load only when a report is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bakeoff.errors import BakeoffError

LatencyStat = Literal["median", "p95"]
#: significance level of the paired tests (family-wise per task, after Holm); equals
#: ``bakeoff.stats.DEFAULT_ALPHA``, repeated here so the CLI need not import scipy to start
DEFAULT_ALPHA = 0.05


@dataclass(frozen=True)
class ReportOptions:
    """What the reader tells the report about their situation; all of it is optional.

    ``labels``: labelled examples available (experiments that trained on more are not feasible;
    with a label-budget curve, the advice also reads the curve at this budget).
    ``daily_volume``: examples to classify per day (turns throughput into device-hours and money).
    ``latency_budget_ms``: per-example latency limit, checked against ``latency_stat``.
    ``horizon_days``: how many days of running costs to weigh against one-off training cost.
    ``challenge_tasks``: tasks on challenge.html (None: every task).
    """

    price_per_hour: float = 1.0
    labels: int | None = None
    daily_volume: float | None = None
    latency_budget_ms: float | None = None
    latency_stat: LatencyStat = "p95"
    horizon_days: float = 30.0
    alpha: float = DEFAULT_ALPHA
    hard_examples: int = 10
    challenge_size: int = 12
    challenge_tasks: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        checks = [
            (self.price_per_hour >= 0, "--price-per-hour must be >= 0 (USD per device-hour)"),
            (self.labels is None or self.labels >= 0, "--labels must be >= 0"),
            (self.daily_volume is None or self.daily_volume > 0, "--daily-volume must be > 0"),
            (
                self.latency_budget_ms is None or self.latency_budget_ms > 0,
                "--latency-budget-ms must be > 0",
            ),
            (self.latency_stat in ("median", "p95"), "--latency-stat must be median or p95"),
            (self.horizon_days > 0, "--horizon-days must be > 0"),
            (0 < self.alpha < 1, "--alpha must be between 0 and 1"),
            (self.hard_examples >= 1, "--hard-examples must be >= 1"),
            (self.challenge_size >= 1, "--challenge-size must be >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise BakeoffError(f"{message}; fix that option")
