"""Paired significance between experiments of one task: McNemar's exact test with Holm correction.

Why paired: every experiment on a task labels the *same* examples, so the question "is A better
than B?" is answered by the examples where exactly one of them is right (the discordant pairs).
Comparing two accuracies with independent intervals ignores that pairing and is far less sensitive.

Why exact: with a few hundred examples (RTE has 277) the discordant counts are small, where the
chi-square approximation of McNemar's test is poor; the exact test is a two-sided binomial test of
the discordant counts against 1/2.

Why Holm: a task with k experiments has k(k-1)/2 comparisons; at alpha = 0.05 each, some would be
"significant" by chance. Holm's step-down correction keeps the family-wise error at alpha and is
uniformly more powerful than Bonferroni.

The winner rule follows from that: an experiment *wins* a task only when it is significantly better
than every other experiment on it after correction; otherwise the verdict names the experiments it
is statistically tied with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Literal

from scipy.stats import binomtest
from statsmodels.stats.multitest import multipletests

from bakeoff.store import ExperimentRecord, PredictionRow

DEFAULT_ALPHA = 0.05


@dataclass(frozen=True)
class McNemarResult:
    """Exact McNemar test of two classifiers' correctness on the same examples."""

    n: int
    #: examples only the first classifier got right
    a_only: int
    #: examples only the second classifier got right
    b_only: int
    p_value: float


def mcnemar_exact(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> McNemarResult:
    """Two-sided exact McNemar test: binomial test of ``a_only`` out of the discordant pairs.

    With no discordant pairs the classifiers are indistinguishable and p is 1.
    """
    if len(correct_a) != len(correct_b):
        raise ValueError("correct_a and correct_b must cover the same examples")
    a_only = sum(1 for x, y in zip(correct_a, correct_b) if x and not y)
    b_only = sum(1 for x, y in zip(correct_a, correct_b) if y and not x)
    discordant = a_only + b_only
    p = 1.0 if discordant == 0 else float(binomtest(a_only, discordant, 0.5).pvalue)
    return McNemarResult(n=len(correct_a), a_only=a_only, b_only=b_only, p_value=min(1.0, p))


def holm(p_values: Sequence[float], alpha: float = DEFAULT_ALPHA) -> tuple[list[bool], list[float]]:
    """Holm step-down correction: (reject at ``alpha``, adjusted p-values), in input order."""
    if not p_values:
        return [], []
    reject, adjusted, _, _ = multipletests(list(p_values), alpha=alpha, method="holm")
    return [bool(r) for r in reject], [float(p) for p in adjusted]


@dataclass(frozen=True)
class Outcomes:
    """One experiment's per-example correctness, keyed by example index within its dataset."""

    id: str
    dataset_key: str
    correct: Mapping[int, bool]

    @property
    def accuracy(self) -> float:
        return sum(self.correct.values()) / len(self.correct) if self.correct else 0.0

    @staticmethod
    def from_predictions(record: ExperimentRecord, rows: Sequence[PredictionRow]) -> Outcomes:
        """An invalid answer (pred -1) never equals a gold label, so it counts as wrong."""
        return Outcomes(record.id, record.dataset_key, {r.idx: r.pred == r.gold for r in rows})


@dataclass(frozen=True)
class PairedComparison:
    """A vs B on the examples both evaluated. ``p_holm``/``significant`` are None when not compared."""

    a: str
    b: str
    comparable: bool
    n: int = 0
    a_only: int = 0
    b_only: int = 0
    accuracy_a: float = 0.0
    accuracy_b: float = 0.0
    p_value: float | None = None
    p_holm: float | None = None
    significant: bool | None = None
    note: str | None = None

    @property
    def better(self) -> str | None:
        """The significantly better of the two, or None (tied or not compared)."""
        if not self.significant:
            return None
        return self.a if self.a_only > self.b_only else self.b

    def involves(self, experiment_id: str) -> bool:
        return experiment_id in (self.a, self.b)

    def other(self, experiment_id: str) -> str:
        return self.b if experiment_id == self.a else self.a


def compare_pair(x: Outcomes, y: Outcomes) -> PairedComparison:
    """Pair two experiments on their common examples (before any multiplicity correction)."""
    if x.dataset_key != y.dataset_key:
        return PairedComparison(
            x.id,
            y.id,
            comparable=False,
            note=f"not compared: evaluated on different data ({x.dataset_key} vs {y.dataset_key})",
        )
    shared = sorted(set(x.correct) & set(y.correct))
    if not shared:
        return PairedComparison(
            x.id, y.id, comparable=False, note="not compared: no example in common"
        )
    note = None
    if len(shared) != len(x.correct) or len(shared) != len(y.correct):
        note = (
            f"evaluated on different example sets ({len(x.correct)} and {len(y.correct)}); "
            f"compared on the {len(shared)} both scored"
        )
    ca = [x.correct[i] for i in shared]
    cb = [y.correct[i] for i in shared]
    test = mcnemar_exact(ca, cb)
    return PairedComparison(
        x.id,
        y.id,
        comparable=True,
        n=test.n,
        a_only=test.a_only,
        b_only=test.b_only,
        accuracy_a=sum(ca) / len(ca),
        accuracy_b=sum(cb) / len(cb),
        p_value=test.p_value,
        note=note,
    )


def compare_all(
    outcomes: Sequence[Outcomes], alpha: float = DEFAULT_ALPHA
) -> list[PairedComparison]:
    """Every pair of one task's experiments, Holm-corrected across the comparable pairs."""
    raw = [compare_pair(x, y) for x, y in combinations(outcomes, 2)]
    tested = [c for c in raw if c.comparable]
    reject, adjusted = holm([c.p_value for c in tested if c.p_value is not None], alpha)
    corrected = {id(c): (r, p) for c, r, p in zip(tested, reject, adjusted)}
    out = []
    for c in raw:
        if id(c) in corrected:
            r, p = corrected[id(c)]
            c = PairedComparison(**{**c.__dict__, "p_holm": p, "significant": r})
        out.append(c)
    return out


@dataclass
class TaskVerdict:
    """Who wins a task, or with whom the most accurate experiment is statistically tied."""

    #: "winner": significantly better than every other; "tie": not; "alone": nothing to compare;
    #: "baseline": the leader is not significantly better than the majority-class baseline
    status: Literal["winner", "tie", "alone", "empty", "baseline"]
    leader: str | None
    alpha: float
    #: experiments the leader is not significantly different from
    tied_with: list[str] = field(default_factory=list)
    #: experiments the leader is significantly better than
    beats: list[str] = field(default_factory=list)
    #: experiments significantly better than the leader on their shared examples (only possible
    #: when example sets differ) and experiments that could not be paired with it
    not_beaten: list[str] = field(default_factory=list)
    not_comparable: list[str] = field(default_factory=list)
    comparisons: list[PairedComparison] = field(default_factory=list)

    @property
    def top_group(self) -> list[str]:
        """The leader and everything tied with it: the set the data cannot separate."""
        return ([self.leader] if self.leader else []) + self.tied_with

    def comparison(self, a: str, b: str) -> PairedComparison | None:
        for c in self.comparisons:
            if {c.a, c.b} == {a, b}:
                return c
        return None

    def tied(self, a: str, b: str) -> bool:
        """True when a and b were compared and the difference is not significant."""
        c = self.comparison(a, b)
        return c is not None and c.comparable and not c.significant


def decide(outcomes: Sequence[Outcomes], alpha: float = DEFAULT_ALPHA) -> TaskVerdict:
    """Apply the winner rule to one task's experiments.

    The leader is the most accurate experiment (on its own evaluated examples; ties broken by
    input order). It is the winner only if every other experiment was paired with it and the
    Holm-corrected test says the leader is better.
    """
    if not outcomes:
        return TaskVerdict("empty", None, alpha)
    leader = max(outcomes, key=lambda o: o.accuracy).id
    return leader_verdict(leader, len(outcomes), compare_all(outcomes, alpha), alpha)


def leader_verdict(
    leader: str, n_experiments: int, comparisons: Sequence[PairedComparison], alpha: float
) -> TaskVerdict:
    """The winner rule once the pairs are tested (Holm-corrected): the leader wins only if it
    significantly beats every one of the other ``n_experiments - 1``. Shared by :func:`decide`
    and the report's seeded variant, which tests pairs differently but must decide alike."""
    comparisons = list(comparisons)
    if n_experiments == 1:
        return TaskVerdict("alone", leader, alpha, comparisons=comparisons)
    verdict = TaskVerdict("tie", leader, alpha, comparisons=comparisons)
    for c in comparisons:
        if not c.involves(leader):
            continue
        other = c.other(leader)
        if not c.comparable:
            verdict.not_comparable.append(other)
        elif not c.significant:
            verdict.tied_with.append(other)
        elif c.better == leader:
            verdict.beats.append(other)
        else:
            verdict.not_beaten.append(other)
    if len(verdict.beats) == n_experiments - 1:
        verdict.status = "winner"
    return verdict


def task_verdict(
    records: Sequence[ExperimentRecord],
    predictions: Mapping[str, Sequence[PredictionRow]],
    alpha: float = DEFAULT_ALPHA,
) -> TaskVerdict:
    """:func:`decide` for experiments read from the results store (all of one task)."""
    tasks = {r.task for r in records}
    if len(tasks) > 1:
        raise ValueError(f"task_verdict compares experiments of one task, got {sorted(tasks)}")
    return decide([Outcomes.from_predictions(r, predictions[r.id]) for r in records], alpha)
