"""Label-budget curves and seed-aware statistics, computed on plain values.

How many labels is a prompt worth? A trained method (fine-tuning, embeddings + logistic
regression, SetFit) is run at several training-set sizes, each with several seeds; a prompted LLM
uses 0 (zero-shot) or k (few-shot) labels. This module turns their per-example correctness into:

- **a curve**: the mean accuracy over seeds at each size, with the seeds' range;
- **crossings**: the number of labels at which a trained method overtakes a prompted one
  ("data advantage" of the prompt, Le Scao & Rush 2021), interpolated linearly in log(labels)
  between the sizes tried, with a 95% interval;
- **advice at N labels**: which method is best at the user's budget (read from the curve) and how
  many more labels would change that answer;
- **seed-aware tests** between configurations, used by the report wherever a configuration was
  run with several seeds.

Every interval and test comes from one two-level bootstrap (:class:`SeedBootstrap`): each
replicate resamples the evaluated examples with replacement, one draw shared by every
configuration (so comparisons stay paired: the same examples are easy or hard for all), and then,
independently per configuration, resamples its seeds. The two sources of error in a result are
thus both in the interval: which examples happened to be evaluated, and which seeds happened to be
run. With few seeds the plain bootstrap understates the seed variance by a factor (S-1)/S; the
seed component of each replicate is scaled by sqrt(S/(S-1)) to remove that bias (the usual
small-sample correction, Davison & Hinkley 1997, section 3.3). A configuration run once has no
seed component: its seed-to-seed variation is unknown and counted as zero.

Nothing here reads the store or draws anything, so all of it is tested on planted numbers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from bakeoff.config import ExperimentConfig

#: bootstrap replicates for intervals and tests (see :func:`replicates_for` for many tests)
DEFAULT_REPLICATES = 10_000
#: replicates used for crossings and the advice (percentile intervals need about 2,000)
CURVE_REPLICATES = 2_000
#: the bootstrap is seeded, so a report is the same every time it is built from the same store
BOOTSTRAP_SEED = 20210601
#: points of the log-spaced grid on which the advice looks for the next change of winner
CHANGE_GRID = 241


def seed_group_key(config: ExperimentConfig) -> str:
    """What experiments run with different seeds share: the configuration without its seed.

    Experiments with equal keys are one configuration run several times; their results are
    averaged, and their spread is the seed-to-seed variation.
    """
    identity = {k: v for k, v in config.identity().items() if k != "seed"}
    return json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)


def replicates_for(n_tests: int, alpha: float) -> int:
    """Enough replicates that the smallest attainable p (2/(B+1)) passes Holm's first step
    (alpha / n_tests) with room to spare, never fewer than :data:`DEFAULT_REPLICATES`."""
    need = math.ceil(4 * max(1, n_tests) / alpha)
    return int(min(200_000, max(DEFAULT_REPLICATES, need)))


# ---------------------------------------------------------------------------------------------
# the two-level bootstrap


@dataclass(frozen=True)
class SeedComparison:
    """A vs B: difference of mean accuracies (A - B), its 95% interval and a two-sided p."""

    a: str
    b: str
    n: int
    difference: float
    low: float
    high: float
    p_value: float
    seeds_a: int
    seeds_b: int


def bootstrap_p(observed: float, replicates: np.ndarray) -> float:
    """Two-sided p for "no difference": twice the share of replicates on the far side of zero.

    This inverts the percentile interval (p < alpha exactly when the 1 - alpha interval excludes
    zero), with the +1 correction that keeps a Monte Carlo p-value valid.
    """
    reps = replicates[np.isfinite(replicates)]
    if observed == 0 or reps.size == 0:
        return 1.0
    far = int(np.sum(reps <= 0)) if observed > 0 else int(np.sum(reps >= 0))
    return float(min(1.0, 2 * (far + 1) / (reps.size + 1)))


def percentile_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile interval; works with infinite values (no interpolation between them)."""
    vals = values[~np.isnan(values)]
    if vals.size == 0:
        return (math.nan, math.nan)
    tail = (1 - confidence) / 2
    low, high = np.quantile(vals, [tail, 1 - tail], method="inverted_cdf")
    return (float(low), float(high))


class SeedBootstrap:
    """Shared example resampling, per-configuration seed resampling (see the module docstring).

    ``runs`` maps a configuration key to its seeds, each seed a mapping of example index to
    whether it was answered correctly. Indices are shared across configurations: index 7 is the
    same example for all. ``replicates(key)`` gives the configuration's mean accuracy (over
    seeds) in every replicate.
    """

    def __init__(
        self,
        runs: Mapping[str, Sequence[Mapping[int, bool]]],
        replicates: int = DEFAULT_REPLICATES,
        seed: int = BOOTSTRAP_SEED,
        chunk: int = 500,
    ) -> None:
        if replicates < 1:
            raise ValueError("replicates must be >= 1")
        self.runs = {k: [dict(s) for s in v] for k, v in runs.items() if v}
        self.n_replicates = replicates
        self.seed = seed
        universe = sorted({i for seeds in self.runs.values() for s in seeds for i in s})
        position = {idx: p for p, idx in enumerate(universe)}
        n = len(universe)
        slots = [(k, j) for k, seeds in self.runs.items() for j in range(len(seeds))]
        correct = np.zeros((len(slots), n))
        mask = np.zeros((len(slots), n))
        for r, (k, j) in enumerate(slots):
            for idx, ok in self.runs[k][j].items():
                mask[r, position[idx]] = 1.0
                correct[r, position[idx]] = 1.0 if ok else 0.0
        self.seed_accuracies: dict[str, list[float]] = {
            k: [sum(s.values()) / len(s) if s else math.nan for s in seeds]
            for k, seeds in self.runs.items()
        }
        rng = np.random.default_rng(seed)
        acc = np.full((replicates, len(slots)), math.nan)
        if n and slots:
            hits, seen = (correct * mask).T, mask.T
            for start in range(0, replicates, chunk):
                size = min(chunk, replicates - start)
                weights = rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(float)
                num, den = weights @ hits, weights @ seen
                acc[start : start + size] = np.divide(
                    num, den, out=np.full_like(num, math.nan), where=den > 0
                )
        self._means: dict[str, np.ndarray] = {}
        for k in self.runs:
            cols = [r for r, (key, _) in enumerate(slots) if key == k]
            per_seed = acc[:, cols]
            s = len(cols)
            if s == 1:
                self._means[k] = per_seed[:, 0]
                continue
            picks = rng.integers(0, s, size=(replicates, s))
            with np.errstate(invalid="ignore"):
                raw = np.nanmean(np.take_along_axis(per_seed, picks, axis=1), axis=1)
                centre = np.nanmean(per_seed, axis=1)
            self._means[k] = centre + math.sqrt(s / (s - 1)) * (raw - centre)

    def __contains__(self, key: str) -> bool:
        return key in self._means

    def estimate(self, key: str) -> float:
        """Mean accuracy over the configuration's seeds."""
        return float(np.mean(self.seed_accuracies[key]))

    def replicates(self, key: str, limit: int | None = None) -> np.ndarray:
        reps = self._means[key]
        return reps if limit is None else reps[:limit]

    def interval(self, key: str, confidence: float = 0.95) -> tuple[float, float]:
        return percentile_interval(self._means[key], confidence)

    def examples(self, key: str) -> set[int]:
        return {i for s in self.runs[key] for i in s}

    def compare(self, a: str, b: str) -> SeedComparison:
        """A vs B on the examples both evaluated (a fresh paired bootstrap where those differ)."""
        common = self.examples(a) & self.examples(b)
        seeds_a, seeds_b = len(self.runs[a]), len(self.runs[b])
        if not common:
            return SeedComparison(a, b, 0, 0.0, math.nan, math.nan, 1.0, seeds_a, seeds_b)
        if common != self.examples(a) or common != self.examples(b):
            sub = SeedBootstrap(
                {
                    k: [{i: s[i] for i in common if i in s} for s in self.runs[k]]
                    for k in dict.fromkeys((a, b))
                },
                self.n_replicates,
                self.seed + 1,
            )
            return sub.compare(a, b)
        observed = self.estimate(a) - self.estimate(b)
        diffs = self._means[a] - self._means[b]
        low, high = percentile_interval(diffs)
        return SeedComparison(
            a, b, len(common), observed, low, high, bootstrap_p(observed, diffs), seeds_a, seeds_b
        )


# ---------------------------------------------------------------------------------------------
# curves: interpolation in log(labels)


def crossing_many(xs: Sequence[float], ys: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Where each row of ``ys`` (accuracy at sizes ``xs``) reaches its level for good.

    Row by row: the last upward crossing after which the curve stays at or above the level,
    interpolated linearly in log(labels) between the two sizes around it. ``-inf``: at or above
    the level already at the smallest size (the crossing is at most ``xs[0]``); ``inf``: below it
    at the largest size (never within the sizes tried); ``nan`` where a value is missing.
    """
    x = np.asarray(xs, dtype=float)
    y = np.atleast_2d(np.asarray(ys, dtype=float))
    level = np.broadcast_to(np.asarray(levels, dtype=float), (y.shape[0],))
    out = np.full(y.shape[0], np.inf)
    above = y >= level[:, None]
    below = ~above
    ends_above = above[:, -1]
    any_below = below.any(axis=1)
    out[ends_above & ~any_below] = -np.inf
    rows = np.flatnonzero(ends_above & any_below)
    if rows.size:
        j = y.shape[1] - 1 - np.argmax(below[rows, ::-1], axis=1)
        y1, y2 = y[rows, j], y[rows, j + 1]
        t = (level[rows] - y1) / (y2 - y1)
        logx = np.log(x[j]) + t * (np.log(x[j + 1]) - np.log(x[j]))
        out[rows] = np.exp(logx)
    bad = np.isnan(y).any(axis=1) | np.isnan(level)
    out[bad] = np.nan
    return out


def crossing(xs: Sequence[float], ys: Sequence[float], level: float) -> float:
    """:func:`crossing_many` for one curve (see there for -inf / inf)."""
    return float(crossing_many(xs, np.asarray([ys], dtype=float), np.asarray([level]))[0])


def value_at_many(xs: Sequence[float], ys: np.ndarray, x: float) -> np.ndarray:
    """Accuracy at ``x`` labels, interpolated linearly in log(labels) between the sizes tried.

    ``nan`` below the smallest size (not measured, never extrapolated); at or beyond the largest
    size, the value there (with more labels one can always train on that many).
    """
    sizes = np.asarray(xs, dtype=float)
    y = np.atleast_2d(np.asarray(ys, dtype=float))
    if x < sizes[0]:
        return np.full(y.shape[0], np.nan)
    if x >= sizes[-1]:
        return y[:, -1].copy()
    j = int(np.searchsorted(sizes, x, side="right")) - 1
    t = (math.log(x) - math.log(sizes[j])) / (math.log(sizes[j + 1]) - math.log(sizes[j]))
    return y[:, j] + t * (y[:, j + 1] - y[:, j])


def value_at(xs: Sequence[float], ys: Sequence[float], x: float) -> float:
    return float(value_at_many(xs, np.asarray([ys], dtype=float), x)[0])


# ---------------------------------------------------------------------------------------------
# the curve of one task


@dataclass(frozen=True)
class Level:
    """One configuration on the curve: its labels, mean accuracy over seeds, and uncertainty."""

    key: str
    name: str
    labels: int
    mean: float
    seed_accuracies: tuple[float, ...]
    #: 95% bootstrap interval of the mean (examples and seeds)
    low: float
    high: float

    @property
    def seeds(self) -> int:
        return len(self.seed_accuracies)

    @property
    def seed_min(self) -> float:
        return min(self.seed_accuracies)

    @property
    def seed_max(self) -> float:
        return max(self.seed_accuracies)


@dataclass(frozen=True)
class CurveLine:
    """A trained method (model, method, settings) at several training-set sizes."""

    name: str
    points: tuple[Level, ...]

    @property
    def sizes(self) -> list[int]:
        return [p.labels for p in self.points]

    @property
    def means(self) -> list[float]:
        return [p.mean for p in self.points]


@dataclass(frozen=True)
class Crossing:
    """Where ``line`` reaches ``reference``'s accuracy: the reference's data advantage in labels.

    ``labels``/``low``/``high``: -inf means at or before the smallest size tried, inf never
    within the sizes tried (see :func:`crossing_many`).
    """

    line: str
    reference: str
    reference_labels: int
    labels: float
    low: float
    high: float
    smallest: int
    largest: int

    @property
    def advantage(self) -> float:
        """Labels the trained method needs beyond what the prompt itself uses (its k)."""
        return self.labels - self.reference_labels


@dataclass
class Curve:
    lines: list[CurveLine]
    #: prompted configurations: horizontal levels at their k (0 for zero-shot)
    references: list[Level]
    #: trained configurations run at a single size (a point, not a line)
    points: list[Level]
    baseline: float | None
    crossings: list[Crossing] = field(default_factory=list)

    def crossing(self, line: str, reference: str) -> Crossing | None:
        return next(
            (c for c in self.crossings if c.line == line and c.reference == reference), None
        )


def _level(boot: SeedBootstrap, key: str, name: str, labels: int) -> Level:
    low, high = boot.interval(key)
    return Level(key, name, labels, boot.estimate(key), tuple(boot.seed_accuracies[key]), low, high)


def build_curve(
    boot: SeedBootstrap,
    lines: Mapping[str, Sequence[tuple[int, str]]],
    references: Mapping[str, tuple[int, str]],
    points: Mapping[str, tuple[int, str]] | None = None,
    baseline_key: str | None = None,
    replicates: int = CURVE_REPLICATES,
) -> Curve:
    """The curve of one task from configurations already in ``boot``.

    ``lines``: line name -> (labels used, configuration key) per size (two sizes or more);
    ``references``: prompted configuration name -> (labels it uses, key); ``points``: trained
    configurations with one size. Crossings are computed for every line against every
    reference, on the first ``replicates`` bootstrap replicates.
    """
    curve_lines = [
        CurveLine(
            name,
            tuple(_level(boot, key, f"{name} · labels {x}", x) for x, key in sorted(members)),
        )
        for name, members in lines.items()
    ]
    refs = [_level(boot, key, name, x) for name, (x, key) in references.items()]
    pts = [_level(boot, key, name, x) for name, (x, key) in (points or {}).items()]
    baseline = boot.estimate(baseline_key) if baseline_key else None
    curve = Curve(curve_lines, refs, pts, baseline)
    for line in curve_lines:
        sizes = line.sizes
        reps = np.stack([boot.replicates(p.key, replicates) for p in line.points], axis=1)
        for ref in refs:
            estimate = crossing(sizes, line.means, ref.mean)
            boots = crossing_many(sizes, reps, boot.replicates(ref.key, replicates))
            low, high = percentile_interval(boots)
            curve.crossings.append(
                Crossing(line.name, ref.name, ref.labels, estimate, low, high, sizes[0], sizes[-1])
            )
    return curve


# ---------------------------------------------------------------------------------------------
# advice at a label budget


@dataclass(frozen=True)
class Candidate:
    """Something a user with N labels could do: a trained line (several sizes) or one
    configuration at a fixed number of labels (a prompt, or a trained method run at one size)."""

    name: str
    #: labels used at each configuration, ascending; one entry for a fixed configuration
    labels: tuple[int, ...]
    keys: tuple[str, ...]

    @property
    def is_line(self) -> bool:
        return len(self.labels) > 1

    def values(self, means: np.ndarray, x: float) -> np.ndarray:
        """Accuracy at ``x`` labels, per row of ``means`` (rows x configurations); nan where the
        candidate needs more than ``x`` labels."""
        if self.is_line:
            return value_at_many(self.labels, means, x)
        return means[:, 0] if x >= self.labels[0] else np.full(means.shape[0], np.nan)


@dataclass
class LabelAdvice:
    """Which candidate wins at ``labels`` and how many more labels would change the answer."""

    labels: int
    pick: str | None = None
    accuracy: float = math.nan
    low: float = math.nan
    high: float = math.nan
    #: how the accuracy at ``labels`` was read ("interpolated between 64 and 256 labels", ...)
    basis: str = ""
    #: share of bootstrap replicates in which the pick is the best candidate at ``labels``
    share_best: float = math.nan
    runner_up: str | None = None
    runner_up_accuracy: float = math.nan
    baseline_p: float | None = None
    #: first budget above ``labels`` at which another candidate is better (inf: none up to
    #: ``largest``; None: ``labels`` is already beyond every size tried), and its 95% interval
    change_at: float | None = None
    change_low: float = math.nan
    change_high: float = math.nan
    change_to: str | None = None
    largest: int = 0
    #: candidates not usable at ``labels`` or not better than the baseline: (name, reason)
    excluded: list[tuple[str, str]] = field(default_factory=list)
    no_pick_reason: str = ""


def _basis(c: Candidate, x: int) -> str:
    if not c.is_line:
        used = c.labels[0]
        return "needs no labels" if used == 0 else f"measured with {used:,} labels"
    if x >= c.labels[-1]:
        return f"measured at {c.labels[-1]:,} labels, the largest budget tried"
    if x in c.labels:
        return f"measured at {x:,} labels"
    j = int(np.searchsorted(c.labels, x, side="right")) - 1
    return f"interpolated between the {c.labels[j]:,}- and {c.labels[j + 1]:,}-label runs"


def advise_at(
    boot: SeedBootstrap,
    candidates: Sequence[Candidate],
    labels: int,
    baseline_key: str | None = None,
    alpha: float = 0.05,
    replicates: int = CURVE_REPLICATES,
) -> LabelAdvice:
    """Read the curve at ``labels``: the best candidate there, how sure, and what would change it.

    A candidate must be significantly better than the baseline at ``labels`` (two-sided
    bootstrap p < ``alpha``) to be picked. The change point is the first budget above
    ``labels`` (on a log-spaced grid up to the largest size tried) at which another candidate's
    accuracy is higher than the pick's; its interval comes from the same computation on every
    replicate (a replicate in which the pick is not best at ``labels`` changes at ``labels``).
    """
    advice = LabelAdvice(labels)
    if not candidates:
        advice.no_pick_reason = "no configuration to read the curve from"
        return advice
    estimates = [np.asarray([[boot.estimate(k) for k in c.keys]]) for c in candidates]
    reps = [np.stack([boot.replicates(k, replicates) for k in c.keys], axis=1) for c in candidates]
    at_n = np.array([c.values(estimates[i], labels)[0] for i, c in enumerate(candidates)])
    advice.largest = max(max(c.labels) for c in candidates)
    base_reps = boot.replicates(baseline_key, replicates) if baseline_key else None
    base_est = boot.estimate(baseline_key) if baseline_key else None
    rep_at_n = np.stack([c.values(reps[i], labels) for i, c in enumerate(candidates)], axis=1)
    order = [i for i in np.argsort(-np.nan_to_num(at_n, nan=-1.0)) if not np.isnan(at_n[i])]
    for i, c in enumerate(candidates):
        if np.isnan(at_n[i]):
            need = c.labels[0]
            advice.excluded.append(
                (c.name, f"needs at least {need:,} labelled examples, {labels:,} available")
            )
    pick = None
    for i in order:
        if base_reps is not None and base_est is not None:
            p = bootstrap_p(float(at_n[i] - base_est), rep_at_n[:, i] - base_reps)
            if not (at_n[i] > base_est and p < alpha):
                advice.excluded.append(
                    (
                        candidates[i].name,
                        f"at {labels:,} labels not significantly better than the majority-class "
                        f"baseline (bootstrap p = {p:.2g})",
                    )
                )
                continue
            advice.baseline_p = p
        pick = i
        break
    if pick is None:
        advice.no_pick_reason = (
            "no configuration usable with this many labels"
            if not order
            else "nothing usable at this budget is significantly better than the majority-class "
            "baseline"
        )
        return advice
    chosen = candidates[pick]
    advice.pick = chosen.name
    advice.accuracy = float(at_n[pick])
    advice.low, advice.high = percentile_interval(rep_at_n[:, pick])
    advice.basis = _basis(chosen, labels)
    others = [i for i in order if i != pick]
    if others:
        advice.runner_up = candidates[others[0]].name
        advice.runner_up_accuracy = float(at_n[others[0]])
        rivals = np.nan_to_num(np.delete(rep_at_n, pick, axis=1), nan=-np.inf)
        advice.share_best = float(np.mean(rep_at_n[:, pick] > rivals.max(axis=1)))
    else:
        advice.share_best = 1.0
    if labels >= advice.largest:
        advice.change_at = None
        return advice
    grid = np.unique(
        np.concatenate(
            [
                np.geomspace(max(labels, 1), advice.largest, CHANGE_GRID),
                [x for c in candidates for x in c.labels if x > labels],
            ]
        )
    )
    grid = grid[grid > labels]

    def first_change(values: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Per row: the first grid budget where some candidate beats the pick, and which."""
        rows = values[0].shape[0]
        when = np.full(rows, np.inf)
        who = np.full(rows, -1)
        for x in grid:
            table = np.stack([c.values(values[i], float(x)) for i, c in enumerate(candidates)], 1)
            table = np.nan_to_num(table, nan=-np.inf)
            mine = table[:, pick].copy()
            table[:, pick] = -np.inf
            best = table.argmax(axis=1)
            beaten = (table[np.arange(rows), best] > mine) & np.isinf(when)
            when[beaten] = x
            who[beaten] = best[beaten]
        return when, who

    when, who = first_change(estimates)
    advice.change_at = float(when[0])
    advice.change_to = candidates[int(who[0])].name if who[0] >= 0 else None
    rep_when, _ = first_change(reps)
    best_at_n = rep_at_n[:, pick] >= np.nan_to_num(
        np.delete(rep_at_n, pick, axis=1), nan=-np.inf
    ).max(axis=1, initial=-np.inf)
    rep_when[~best_at_n] = labels
    advice.change_low, advice.change_high = percentile_interval(rep_when)
    return advice


def round_labels(x: float) -> str:
    """A label count as a reader would say it: two significant figures, thousands separated."""
    if not math.isfinite(x):
        return "∞" if x > 0 else "-∞"
    if x < 10:
        return f"{x:.0f}" if x >= 1 else f"{x:.1g}"
    digits = int(math.floor(math.log10(x))) - 1
    return f"{round(x, -digits):,.0f}"


def describe_labels(x: float, smallest: int, largest: int) -> str:
    """'about 180 labels', 'at most 16 labels', 'more than 1,000 labels' (beyond the sizes tried)."""
    if math.isnan(x):
        return "unknown"
    if x == -math.inf:
        return f"at most {smallest:,} labels"
    if x == math.inf:
        return f"more than {largest:,} labels"
    return f"about {round_labels(x)} labels"


def interval_text(low: float, high: float, smallest: int, largest: int) -> str:
    """A crossing's interval as '[60, 420]', with the censored ends written out."""

    def end(x: float) -> str:
        if math.isnan(x):
            return "?"
        if x == -math.inf:
            return f"≤ {smallest:,}"
        if x == math.inf:
            return f"> {largest:,}"
        return round_labels(x)

    return f"[{end(low)}, {end(high)}]"
