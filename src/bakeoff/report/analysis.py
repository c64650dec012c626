"""Everything the report states, computed from the results store and nothing else.

The report never carries numbers or advice of its own: accuracies, intervals and timings come from
what ``bakeoff run`` stored; significance from :mod:`bakeoff.stats`; costs from measured
throughput times the user's price; advice from those numbers filtered by the user's constraints.
Drawing and templating live elsewhere so that this module can be tested on plain values.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

from bakeoff.baseline import Baseline, Standing, majority_baseline
from bakeoff.curves import (
    Candidate,
    Curve,
    LabelAdvice,
    SeedBootstrap,
    advise_at,
    build_curve,
    describe_labels,
    interval_text,
    replicates_for,
    round_labels,
    seed_group_key,
)
from bakeoff.errors import BakeoffError
from bakeoff.methods import MethodSpec, get_method_spec
from bakeoff.metrics import compute_metrics
from bakeoff.naming import experiment_names, short_model
from bakeoff.records import Metrics, Timing, TrainingRecord
from bakeoff.report.cautions import cautions
from bakeoff.report.options import LatencyStat, ReportOptions
from bakeoff.stats import (
    Outcomes,
    PairedComparison,
    TaskVerdict,
    compare_pair,
    decide,
    holm,
    leader_verdict,
)
from bakeoff.store import ExampleRow, ExperimentRecord, PredictionRow, ResultsStore
from bakeoff.tasks import BUILTIN_TASKS

__all__ = ["short_model"]


def method_order(method: str) -> int:
    """Tables and figures list trained encoders first, then prompting (the registry's order)."""
    return get_method_spec(method).order


# ---------------------------------------------------------------------------------------------
# cost


@dataclass(frozen=True)
class Cost:
    """Device time and money to classify one million examples, plus the one-off training run."""

    hours_per_million: float
    usd_per_million: float
    train_hours: float
    train_usd: float


def cost_per_million(
    throughput_per_s: float, price_per_hour: float, train_time_s: float = 0.0
) -> Cost:
    """Time at the measured throughput, priced per device-hour (the device it was measured on)."""
    hours = 1e6 / throughput_per_s / 3600.0 if throughput_per_s > 0 else math.inf
    train_hours = train_time_s / 3600.0
    return Cost(hours, hours * price_per_hour, train_hours, train_hours * price_per_hour)


@dataclass(frozen=True)
class DailyLoad:
    """What a daily volume costs at an experiment's throughput."""

    volume: float
    device_hours: float
    #: devices of the measured kind needed to keep up, running around the clock
    devices: int
    usd_per_day: float
    horizon_days: float
    #: one-off training plus ``horizon_days`` of running
    usd_over_horizon: float


def daily_load(cost: Cost, volume: float, price_per_hour: float, horizon_days: float) -> DailyLoad:
    hours = cost.hours_per_million * volume / 1e6
    devices = max(1, math.ceil(hours / 24.0)) if math.isfinite(hours) else 0
    per_day = hours * price_per_hour
    return DailyLoad(
        volume, hours, devices, per_day, horizon_days, cost.train_usd + per_day * horizon_days
    )


# ---------------------------------------------------------------------------------------------
# experiments as the report sees them


@dataclass
class Entry:
    """One finished experiment with its predictions, as shown in the report; or one
    configuration run with several seeds (``seeds`` holds each run).

    For a seed group, ``record`` is the first seed's record with the group's numbers in it:
    accuracy is the mean over seeds with a bootstrap interval over examples and seeds, timings
    are means, and ``rows`` hold the seeds' consensus answer per example (their most common
    label), which is what the hard examples and the challenge page show. ``all_rows`` are every
    seed's own answers (the confusion matrices sum them).
    """

    record: ExperimentRecord
    name: str
    rows: list[PredictionRow]
    cost: Cost
    seeds: list[Entry] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def runs(self) -> list[Entry]:
        """The experiments behind this entry: the seeds of a group, else the entry itself."""
        return self.seeds or [self]

    @property
    def all_rows(self) -> list[PredictionRow]:
        return [r for e in self.runs for r in e.rows]

    @property
    def seed_accuracies(self) -> list[float]:
        return [e.accuracy for e in self.runs]

    @property
    def task(self) -> str:
        return self.record.task

    @property
    def model(self) -> str:
        return short_model(self.record.model)

    @property
    def method(self) -> str:
        return self.record.method

    @property
    def spec(self) -> MethodSpec:
        return get_method_spec(self.record.method)

    @property
    def family(self) -> str:
        return self.spec.family

    @property
    def metrics(self) -> Metrics:
        assert self.record.metrics is not None, "the report reads finished experiments only"
        return self.record.metrics

    @property
    def timings(self) -> Timing | None:
        return self.record.timing

    @property
    def training(self) -> TrainingRecord | None:
        return self.record.training

    @property
    def accuracy(self) -> float:
        return self.metrics.accuracy

    @property
    def ci_low(self) -> float:
        return self.metrics.accuracy_ci_low

    @property
    def ci_high(self) -> float:
        return self.metrics.accuracy_ci_high

    @property
    def n(self) -> int:
        return self.metrics.n

    @property
    def invalid_rate(self) -> float:
        return self.metrics.invalid_rate

    @property
    def n_invalid(self) -> int:
        return self.metrics.n_invalid

    @property
    def throughput(self) -> float:
        return self.timings.throughput_per_s if self.timings else 0.0

    def latency_ms(self, stat: LatencyStat = "median") -> float:
        if self.timings is None:
            return 0.0
        return self.timings.latency_median_ms if stat == "median" else self.timings.latency_p95_ms

    @property
    def peak_memory_mb(self) -> float:
        return self.timings.peak_memory_mb if self.timings else 0.0

    @property
    def memory_kind(self) -> str:
        kind = self.timings.memory_kind if self.timings else ""
        return {
            "gpu_max_allocated": "GPU",
            "process_peak_rss": "RSS",
            "process_lifetime_peak_rss": "RSS, process lifetime",
        }.get(kind, kind)

    @property
    def device(self) -> str:
        """The device plus its name from the stored environment ('cuda:0 · NVIDIA H100')."""
        env = self.record.environment or {}
        device = (self.timings.device if self.timings else "") or str(env.get("device", ""))
        detail = env.get("gpu") if device.startswith("cuda") else env.get("cpu")
        return f"{device} · {detail}" if detail else device

    @property
    def train_time_s(self) -> float:
        return self.training.train_time_s if self.training else 0.0

    @property
    def labels_used(self) -> int | None:
        """Labelled examples consumed: training rows, demonstrations shown, or 0 (zero-shot)."""
        return self.training.labels_used if self.training else None

    @property
    def warnings(self) -> list[str]:
        return list(self.training.warnings) if self.training else []


@dataclass(frozen=True)
class Answer:
    """One experiment's answer to one example."""

    name: str
    family: str
    label: str
    correct: bool
    #: the highest class probability, where the method reports scores
    confidence: float | None
    raw: str | None


@dataclass(frozen=True)
class HardExample:
    idx: int
    text: str
    text_pair: str | None
    gold: str
    n_wrong: int
    n_answered: int
    answers: tuple[Answer, ...]
    #: for encoder/LLM disagreements: each family's majority answer
    encoder_answer: str | None = None
    llm_answer: str | None = None


# ---------------------------------------------------------------------------------------------
# advice


@dataclass(frozen=True)
class Exclusion:
    entry: Entry
    reason: str


@dataclass
class Advice:
    """The best feasible experiment for a task under the reader's constraints, and why."""

    task: str
    constraints: list[str]
    pick: Entry | None = None
    reasons: list[str] = field(default_factory=list)
    #: feasible experiments statistically tied with the pick
    tied: list[Entry] = field(default_factory=list)
    #: the cheapest of ``tied`` when it is cheaper than the pick: the data cannot say it is worse
    alternative: Entry | None = None
    alternative_reason: str = ""
    excluded: list[Exclusion] = field(default_factory=list)
    loads: dict[str, DailyLoad] = field(default_factory=dict)
    #: the majority-class baseline the pick had to beat (None where it could not be computed)
    baseline: Baseline | None = None
    #: set when no feasible experiment is significantly better than the baseline
    no_pick_reason: str = ""
    #: what to try next when nothing beats the baseline
    suggestions: list[str] = field(default_factory=list)
    #: with ``--labels`` and a label-budget curve: the curve read at that budget
    at_labels: LabelAdvice | None = None
    #: ``at_labels`` in sentences: the headline, then the reasons
    at_labels_lines: list[str] = field(default_factory=list)
    #: what limits these results, whatever the pick: prompts without label names, too few
    #: demonstrations, an evaluation set too small, speeds measured under different load
    cautions: list[str] = field(default_factory=list)


def _fmt_int(x: float) -> str:
    return f"{x:,.0f}"


def _fmt_usd(x: float) -> str:
    if not math.isfinite(x):
        return "unbounded"
    return f"${x:,.2f}" if x >= 0.01 or x == 0 else f"${x:.2g}"


def constraint_lines(options: ReportOptions) -> list[str]:
    lines = []
    if options.labels is not None:
        lines.append(f"{_fmt_int(options.labels)} labelled examples available")
    if options.latency_budget_ms is not None:
        lines.append(
            f"latency budget {options.latency_budget_ms:g} ms ({options.latency_stat} per example)"
        )
    if options.daily_volume is not None:
        lines.append(
            f"{_fmt_int(options.daily_volume)} examples per day, costed over {options.horizon_days:g} days "
            f"at ${options.price_per_hour:g} per device-hour"
        )
    return lines


#: the majority-class baseline's key in a task's bootstrap
BASELINE_KEY = "majority class (baseline)"


def baseline_standings(
    baseline: Baseline | None,
    entries: Sequence[Entry],
    alpha: float,
    boot: SeedBootstrap | None = None,
) -> dict[str, tuple[Standing, float]]:
    """Experiment id -> (above, level with or below the baseline, Holm-adjusted p), by the
    paired exact test on the examples both scored, corrected over the task's experiments as the
    pairwise comparisons are. A configuration run with several seeds is tested by the
    bootstrap over examples and seeds instead (see :mod:`bakeoff.curves`)."""
    if baseline is None:
        return {}
    tests: dict[str, tuple[float, int]] = {}
    for e in entries:
        if e.seeds and boot is not None and e.id in boot and BASELINE_KEY in boot:
            c = boot.compare(e.id, BASELINE_KEY)
            tests[e.id] = (c.p_value, (c.difference > 0) - (c.difference < 0))
        else:
            t = baseline.test(e.rows)
            tests[e.id] = (t.p_value, (t.a_only > t.b_only) - (t.a_only < t.b_only))
    reject, adjusted = holm([p for p, _ in tests.values()], alpha)
    out: dict[str, tuple[Standing, float]] = {}
    for (rid, (_, sign)), r, p in zip(tests.items(), reject, adjusted):
        side: Standing = "level" if not r or sign == 0 else ("above" if sign > 0 else "below")
        out[rid] = (side, p)
    return out


def _what_to_try(entries: Sequence[Entry]) -> list[str]:
    tips = []
    families = {e.family for e in entries}
    if any(e.spec.trains for e in entries):
        tips.append(
            "train on more labelled examples (or more steps), and look at the training-loss "
            "warnings: a loss that did not fall means the model learned nothing"
        )
    else:
        tips.append("add a trained method (finetune, embed-logreg or setfit) if you have labels")
    if "LLM" in families:
        tips.append(
            "for prompted LLMs: a larger model, few-shot demonstrations, and answer words that "
            "are single, distinct tokens (`bakeoff prompt` shows them)"
        )
    tips.append("evaluate on more examples: small evaluation sets cannot separate close scores")
    return tips


def advise(
    task: str,
    entries: Sequence[Entry],
    verdict: TaskVerdict,
    options: ReportOptions,
    baseline: Baseline | None = None,
    vs_baseline: dict[str, tuple[bool, float]] | None = None,
    below: set[str] | None = None,
) -> Advice:
    """Pick the experiment to use for ``task``.

    1. Drop experiments the reader cannot use: trained on more labels than available, unknown
       label needs when labels are limited, or slower than the latency budget.
    2. Pick the most accurate of the rest.
    3. Drop experiments that are not significantly better than the majority-class baseline: a
       model that answers one label for everything must never be recommended. When none is
       left, say so plainly and say what to try.
    4. Among the experiments the paired tests cannot separate from the pick (Holm-corrected
       McNemar), name the cheapest as an alternative when it costs less: total cost over the
       horizon (training + daily volume) when a volume is given, else cost per million examples.
       A non-significant difference is not proof of equal accuracy, so the cheaper one is offered,
       not silently chosen.
    """
    advice = Advice(task, constraint_lines(options), baseline=baseline)
    vs_baseline = vs_baseline or {}
    feasible: list[Entry] = []
    for e in entries:
        used = e.labels_used
        latency = e.latency_ms(options.latency_stat)
        if options.labels is not None and used is None:
            advice.excluded.append(Exclusion(e, "number of labels it trained on is not recorded"))
        elif options.labels is not None and used is not None and used > options.labels:
            advice.excluded.append(
                Exclusion(
                    e,
                    f"needs {_fmt_int(used)} labelled examples, {_fmt_int(options.labels)} available",
                )
            )
        elif options.latency_budget_ms is not None and latency > options.latency_budget_ms:
            advice.excluded.append(
                Exclusion(
                    e,
                    f"{options.latency_stat} latency {latency:.3g} ms exceeds the "
                    f"{options.latency_budget_ms:g} ms budget",
                )
            )
        else:
            feasible.append(e)
    advice.excluded.sort(key=lambda x: -x.entry.accuracy)
    if options.daily_volume is not None:
        advice.loads = {
            e.id: daily_load(
                e.cost, options.daily_volume, options.price_per_hour, options.horizon_days
            )
            for e in entries
        }
    if not feasible:
        return advice
    if baseline is not None:
        weak = [e for e in feasible if not vs_baseline.get(e.id, (False, 1.0))[0]]
        for e in weak:
            p = vs_baseline.get(e.id, (False, 1.0))[1]
            advice.excluded.append(
                Exclusion(
                    e,
                    f"below the baseline: significantly worse than always answering "
                    f"'{baseline.label_name}' ({100 * e.accuracy:.1f}% against "
                    f"{100 * baseline.accuracy:.1f}%; Holm-adjusted p = {p:.2g})"
                    if below and e.id in below
                    else f"not significantly better than always answering "
                    f"'{baseline.label_name}' ({100 * baseline.accuracy:.1f}%; Holm-adjusted "
                    f"p = {p:.2g})",
                )
            )
        feasible = [e for e in feasible if e not in weak]
        advice.excluded.sort(key=lambda x: -x.entry.accuracy)
        if not feasible:
            advice.no_pick_reason = (
                f"no experiment is significantly better than the majority-class baseline, which "
                f"always answers '{baseline.label_name}' and scores {100 * baseline.accuracy:.1f}% "
                "on the same examples: none of them can be recommended"
            )
            advice.suggestions = _what_to_try(entries)
            return advice

    pick = max(feasible, key=lambda e: e.accuracy)
    advice.pick = pick
    advice.tied = [e for e in feasible if e is not pick and verdict.tied(pick.id, e.id)]

    def price(e: Entry) -> float:
        if options.daily_volume is not None:
            return advice.loads[e.id].usd_over_horizon
        return e.cost.usd_per_million

    per = (
        f"over {options.horizon_days:g} days at {_fmt_int(options.daily_volume)} examples a day"
        if options.daily_volume is not None
        else "per million examples"
    )
    acc = f"{100 * pick.accuracy:.1f}% (95% interval [{100 * pick.ci_low:.1f}, {100 * pick.ci_high:.1f}])"
    if pick.seeds:
        acc += f", the mean over {len(pick.seeds)} seeds"
    advice.reasons.append(f"most accurate of the {len(feasible)} feasible experiments: {acc}")
    if baseline is not None:
        advice.reasons.append(
            f"significantly better than always answering '{baseline.label_name}' "
            f"({100 * baseline.accuracy:.1f}%; Holm-adjusted p = {vs_baseline[pick.id][1]:.2g})"
        )
    cheaper = [e for e in advice.tied if price(e) < price(pick)]
    if cheaper:
        alt = min(cheaper, key=lambda e: (price(e), -e.accuracy))
        comparison = verdict.comparison(pick.id, alt.id)
        p = comparison.p_holm if comparison and comparison.p_holm is not None else 1.0
        advice.alternative = alt
        advice.alternative_reason = (
            f"{100 * alt.accuracy:.1f}% against {100 * pick.accuracy:.1f}%, a difference the paired "
            f"test cannot tell from noise (Holm-adjusted p = {p:.2g}), for {_fmt_usd(price(alt))} "
            f"instead of {_fmt_usd(price(pick))} {per}"
        )
    elif advice.tied:
        names = ", ".join(e.name for e in advice.tied)
        advice.reasons.append(
            f"the paired tests cannot separate it from {names}, but none of those is cheaper {per}"
        )
    used = pick.labels_used
    if used == 0:
        advice.reasons.append("needs no labelled examples")
    elif used is not None:
        have = f" of {_fmt_int(options.labels)} available" if options.labels is not None else ""
        advice.reasons.append(f"uses {_fmt_int(used)} labelled examples{have}")
    if options.latency_budget_ms is not None:
        advice.reasons.append(
            f"{options.latency_stat} latency {pick.latency_ms(options.latency_stat):.3g} ms, "
            f"within the {options.latency_budget_ms:g} ms budget"
        )
    if options.daily_volume is not None:
        load = advice.loads[pick.id]
        advice.reasons.append(
            f"{_fmt_int(load.volume)} examples a day take {load.device_hours:.3g} device-hours "
            f"({load.devices} device{'s' if load.devices != 1 else ''} of the measured kind), "
            f"{_fmt_usd(load.usd_per_day)} a day, {_fmt_usd(load.usd_over_horizon)} over "
            f"{options.horizon_days:g} days"
            + (" including training" if pick.cost.train_usd else "")
        )
    else:
        advice.reasons.append(
            f"{_fmt_usd(pick.cost.usd_per_million)} per million examples at {pick.throughput:,.1f} examples/s"
        )
    return advice


# ---------------------------------------------------------------------------------------------
# hard examples


def _answer(entry: Entry, row: PredictionRow, label_names: Sequence[str]) -> Answer:
    valid = 0 <= row.pred < len(label_names)
    return Answer(
        name=entry.name,
        family=entry.family,
        label=label_names[row.pred] if valid else "invalid",
        correct=row.pred == row.gold,
        confidence=max(row.scores) if row.scores else None,
        raw=row.raw,
    )


def _majority(answers: Sequence[Answer]) -> tuple[str | None, float]:
    """A family's answer: the strictly most common one and its share (None on a tie)."""
    ranked = Counter(a.label for a in answers).most_common(2)
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None, 0.0
    return ranked[0][0], ranked[0][1] / len(answers)


def hard_examples(
    entries: Sequence[Entry],
    examples: dict[int, ExampleRow],
    label_names: Sequence[str],
    limit: int,
) -> tuple[list[HardExample], list[HardExample]]:
    """(examples most experiments got wrong, examples where encoders and LLMs disagree).

    Hard: more than half of the experiments that scored it were wrong; the most-missed first,
    then those missed with the most confidence. Disagreements: the encoders' majority answer
    differs from the LLMs' majority answer (a family split evenly has no answer); the most
    unanimous splits first.
    """
    by_idx: dict[int, list[Answer]] = {}
    for e in entries:
        for row in e.rows:
            if row.idx in examples:
                by_idx.setdefault(row.idx, []).append(_answer(e, row, label_names))

    def make(
        idx: int, answers: list[Answer], enc: str | None = None, llm: str | None = None
    ) -> HardExample:
        ex = examples[idx]
        gold = label_names[ex.gold] if 0 <= ex.gold < len(label_names) else str(ex.gold)
        wrong = sum(not a.correct for a in answers)
        return HardExample(
            idx, ex.text, ex.text_pair, gold, wrong, len(answers), tuple(answers), enc, llm
        )

    def wrong_confidence(answers: list[Answer]) -> float:
        confs = [a.confidence for a in answers if not a.correct and a.confidence is not None]
        return sum(confs) / len(confs) if confs else 0.0

    hard = []
    for idx, answers in by_idx.items():
        wrong = sum(not a.correct for a in answers)
        if wrong * 2 > len(answers):
            hard.append((-wrong / len(answers), -wrong, -wrong_confidence(answers), idx))
    hard.sort()
    hard_list = [make(idx, by_idx[idx]) for *_, idx in hard[:limit]]

    split = []
    for idx, answers in by_idx.items():
        enc = [a for a in answers if a.family == "encoder"]
        llm = [a for a in answers if a.family == "LLM"]
        if not enc or not llm:
            continue
        (enc_label, enc_share), (llm_label, llm_share) = _majority(enc), _majority(llm)
        if enc_label is not None and llm_label is not None and enc_label != llm_label:
            confs = [a.confidence for a in answers if a.confidence is not None]
            mean_conf = sum(confs) / len(confs) if confs else 0.0
            split.append((-(enc_share + llm_share), -mean_conf, idx, enc_label, llm_label))
    split.sort()
    split_list = [make(idx, by_idx[idx], enc, llm) for _, _, idx, enc, llm in split[:limit]]
    return hard_list, split_list


def challenge_examples(
    entries: Sequence[Entry],
    examples: dict[int, ExampleRow],
    label_names: Sequence[str],
    size: int,
    seed: str = "",
) -> list[HardExample]:
    """The challenge page's examples: the hardest of each gold label, equally many per label,
    in a seeded random order.

    Equal numbers per label mean a reader who presses one key throughout scores 1/k (k labels
    present), so that strategy cannot beat a model; the hard examples alone are often mostly one
    label (those a biased model gets wrong). Within a label: most-missed first, then
    encoder/LLM disagreements, then those missed with the most confidence. The order is
    shuffled (seeded by ``seed``) so that labels do not come in a pattern.
    """
    by_idx: dict[int, list[Answer]] = {}
    for e in entries:
        for row in e.rows:
            if row.idx in examples:
                by_idx.setdefault(row.idx, []).append(_answer(e, row, label_names))
    ranked: dict[int, list[tuple[tuple[float, ...], int, str | None, str | None]]] = {}
    for idx, answers in by_idx.items():
        wrong = sum(not a.correct for a in answers)
        confs = [a.confidence for a in answers if not a.correct and a.confidence is not None]
        enc = [a for a in answers if a.family == "encoder"]
        llm = [a for a in answers if a.family == "LLM"]
        enc_label = _majority(enc)[0] if enc else None
        llm_label = _majority(llm)[0] if llm else None
        split = enc_label is not None and llm_label is not None and enc_label != llm_label
        key = (-wrong / len(answers), -float(split), -(sum(confs) / len(confs) if confs else 0.0))
        item = (key, idx, enc_label if split else None, llm_label if split else None)
        ranked.setdefault(examples[idx].gold, []).append(item)
    if not ranked:
        return []
    per_label = max(1, size // len(ranked))
    per_label = min(per_label, min(len(items) for items in ranked.values()))
    chosen = []
    for gold in sorted(ranked):
        chosen += sorted(ranked[gold])[:per_label]
    chosen.sort(key=lambda item: item[1])
    random.Random(f"bakeoff challenge {seed}").shuffle(chosen)
    out = []
    for _, idx, enc_label, llm_label in chosen:
        ex = examples[idx]
        gold_name = label_names[ex.gold] if 0 <= ex.gold < len(label_names) else str(ex.gold)
        answers = by_idx[idx]
        missed = sum(not a.correct for a in answers)
        out.append(
            HardExample(
                idx,
                ex.text,
                ex.text_pair,
                gold_name,
                missed,
                len(answers),
                tuple(answers),
                enc_label,
                llm_label,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# configurations run with several seeds


@dataclass(frozen=True)
class SeededComparison(PairedComparison):
    """A pair compared by the bootstrap over examples and seeds (at least one side has several
    seeds): the difference of mean accuracies A - B with its 95% interval."""

    difference: float = 0.0
    low: float = 0.0
    high: float = 0.0
    seeds_a: int = 1
    seeds_b: int = 1

    @property
    def better(self) -> str | None:
        if not self.significant:
            return None
        return self.a if self.difference > 0 else self.b


def _consensus(members: Sequence[Entry]) -> list[PredictionRow]:
    """Per example, the seeds' most common answer (ties: the higher mean score, else the first
    seed's answer); scores are averaged where every seed kept them."""
    by_idx: dict[int, list[PredictionRow]] = {}
    for e in members:
        for r in e.rows:
            by_idx.setdefault(r.idx, []).append(r)
    out = []
    for idx in sorted(by_idx):
        rows = by_idx[idx]
        counts = Counter(r.pred for r in rows)
        top = max(counts.values())
        tied = [r.pred for r in rows if counts[r.pred] == top]
        score_lists = [r.scores for r in rows if r.scores]
        mean_scores: list[float] | None = None
        if len(score_lists) == len(rows) and len({len(sc) for sc in score_lists}) == 1:
            mean_scores = [sum(col) / len(rows) for col in zip(*score_lists)]
        if mean_scores is not None and len(set(tied)) > 1:
            pred = max(
                dict.fromkeys(tied),
                key=lambda p: mean_scores[p] if 0 <= p < len(mean_scores) else -1.0,
            )
        else:
            pred = tied[0]
        raw = next((r.raw for r in rows if r.pred == pred), None)
        out.append(PredictionRow(idx, rows[0].gold, pred, mean_scores, raw))
    return out


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def seed_group(members: Sequence[Entry], name: str, price_per_hour: float) -> Entry:
    """One configuration run with several seeds, as one entry (see :class:`Entry`)."""
    rep = members[0].record
    assert rep.metrics is not None
    gold = [r.gold for e in members for r in e.rows]
    pred = [r.pred for e in members for r in e.rows]
    pooled = compute_metrics(gold, pred, rep.label_names) if gold else rep.metrics
    accuracy = _mean([e.accuracy for e in members])
    metrics = dataclasses.replace(
        pooled,
        n=rep.metrics.n,
        accuracy=accuracy,
        accuracy_ci_low=accuracy,
        accuracy_ci_high=accuracy,
    )
    timings = [e.timings for e in members if e.timings is not None]
    timing = (
        dataclasses.replace(
            timings[0],
            throughput_per_s=_mean([t.throughput_per_s for t in timings]),
            latency_median_ms=_mean([t.latency_median_ms for t in timings]),
            latency_p95_ms=_mean([t.latency_p95_ms for t in timings]),
            peak_memory_mb=max(t.peak_memory_mb for t in timings),
        )
        if len(timings) == len(members)
        else rep.timing
    )
    training = rep.training
    if training is not None:
        seen: dict[str, list[int]] = {}
        for e in members:
            for w in e.warnings:
                seen.setdefault(w, []).append(e.record.config.seed)
        warnings = [
            w if len(s) == len(members) else f"{w} (seed {', '.join(map(str, s))})"
            for w, s in seen.items()
        ]
        training = dataclasses.replace(
            training,
            train_time_s=_mean([e.train_time_s for e in members]),
            warnings=warnings,
        )
    key = seed_group_key(rep.config)
    gid = "seeds-" + hashlib.sha256(key.encode()).hexdigest()[:10]
    record = dataclasses.replace(rep, id=gid, metrics=metrics, timing=timing, training=training)
    cost = cost_per_million(
        timing.throughput_per_s if timing else 0.0,
        price_per_hour,
        training.train_time_s if training else 0.0,
    )
    return Entry(record, name, _consensus(members), cost, seeds=list(members))


def decide_seeded(entries: Sequence[Entry], boot: SeedBootstrap, alpha: float) -> TaskVerdict:
    """The winner rule of :func:`bakeoff.stats.decide`, where configurations may have several
    seeds: a pair of single runs is compared by McNemar's exact test as always; a pair with
    several seeds on either side by the bootstrap over examples and seeds. Holm's correction
    runs over all of the task's pairs together."""
    if not entries:
        return TaskVerdict("empty", None, alpha)
    raw: list[PairedComparison] = []
    for x, y in combinations(entries, 2):
        if (x.seeds or y.seeds) and x.id in boot and y.id in boot:
            c = boot.compare(x.id, y.id)
            if not c.n:
                raw.append(
                    PairedComparison(x.id, y.id, False, note="not compared: no example in common")
                )
                continue
            raw.append(
                SeededComparison(
                    x.id,
                    y.id,
                    comparable=True,
                    n=c.n,
                    accuracy_a=x.accuracy,
                    accuracy_b=y.accuracy,
                    p_value=c.p_value,
                    difference=c.difference,
                    low=c.low,
                    high=c.high,
                    seeds_a=c.seeds_a,
                    seeds_b=c.seeds_b,
                )
            )
        elif x.seeds or y.seeds:
            raw.append(
                PairedComparison(
                    x.id,
                    y.id,
                    False,
                    note=f"not compared: evaluated on different data ({x.record.dataset_key} "
                    f"vs {y.record.dataset_key})",
                )
            )
        else:
            raw.append(
                compare_pair(
                    Outcomes.from_predictions(x.record, x.rows),
                    Outcomes.from_predictions(y.record, y.rows),
                )
            )
    tested = [c for c in raw if c.comparable and c.p_value is not None]
    reject, adjusted = holm([c.p_value for c in tested], alpha)  # type: ignore[misc]
    corrected = {id(c): (r, p) for c, r, p in zip(tested, reject, adjusted)}
    comparisons = [
        dataclasses.replace(c, p_holm=corrected[id(c)][1], significant=corrected[id(c)][0])
        if id(c) in corrected
        else c
        for c in raw
    ]
    leader = max(entries, key=lambda e: e.accuracy).id
    return leader_verdict(leader, len(entries), comparisons, alpha)


# ---------------------------------------------------------------------------------------------
# the label-budget curve


@dataclass
class CurveSection:
    """A task's label-budget curve and what the report says about it."""

    curve: Curve
    #: sentences: each trained line against each prompted configuration
    sentences: list[str]
    #: entry id of each configuration on the curve (for colours and latency)
    line_entries: dict[str, list[Entry]]


def curve_inputs(
    entries: Sequence[Entry],
) -> tuple[
    dict[str, list[tuple[int, str]]],
    dict[str, tuple[int, str]],
    dict[str, tuple[int, str]],
    dict[str, list[Entry]],
]:
    """Lines (trained configurations at several sizes), prompted references and single-size
    trained points, keyed as the bootstrap is (entry ids).

    A line is every trained entry that shares its configuration except the training-set size
    and the seed; it is named by what sets it apart from the other lines ("minilm · finetune").
    """
    trained = [e for e in entries if e.spec.trains and e.labels_used is not None]
    by_line: dict[str, list[Entry]] = {}
    reps: dict[str, ExperimentRecord] = {}
    for e in trained:
        config = e.record.config.model_copy(update={"seed": 0, "train_limit": None})
        key = seed_group_key(config)
        by_line.setdefault(key, []).append(e)
        reps.setdefault(key, dataclasses.replace(e.record, config=config))
    names = experiment_names([(k, r.config) for k, r in reps.items()])
    lines: dict[str, list[tuple[int, str]]] = {}
    points: dict[str, tuple[int, str]] = {}
    members: dict[str, list[Entry]] = {}
    for key, group in by_line.items():
        sizes: dict[int, Entry] = {}
        for e in sorted(group, key=lambda e: (-len(e.runs), e.id)):
            sizes.setdefault(e.labels_used or 0, e)  # one configuration per size
        if len(sizes) >= 2:
            lines[names[key]] = [(x, sizes[x].id) for x in sorted(sizes)]
            members[names[key]] = [sizes[x] for x in sorted(sizes)]
        else:
            ((x, e),) = sizes.items()
            points[e.name] = (x, e.id)
            members[e.name] = [e]
    references = {}
    for e in entries:
        if not e.spec.trains and e.labels_used is not None:
            references[e.name] = (e.labels_used, e.id)
            members[e.name] = [e]
    return lines, references, points, members


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def crossing_sentences(curve: Curve) -> list[str]:
    """ "minilm · finetune overtakes gemma3-270m · few-shot at about 180 labels (95% interval
    [60, 420])", or that it never does within the budgets tried, per line and reference."""
    out = []
    for c in curve.crossings:
        interval = interval_text(c.low, c.high, c.smallest, c.largest)
        ref = next(r for r in curve.references if r.name == c.reference)
        level = f"{_pct(ref.mean)}%"
        if c.labels == math.inf:
            out.append(
                f"{c.line} does not reach {c.reference} ({level}) within the budgets tried "
                f"(up to {c.largest:,} labels"
                + (")" if c.low == math.inf else f"; 95% interval of the crossing {interval})")
            )
        elif c.labels == -math.inf:
            out.append(
                f"{c.line} is at or above {c.reference} ({level}) already at the smallest "
                f"budget tried, {c.smallest:,} labels"
                + ("" if c.high == -math.inf else f" (95% interval of the crossing {interval})")
            )
        else:
            out.append(
                f"{c.line} overtakes {c.reference} ({level}) at about "
                f"{round_labels(c.labels)} labels (95% interval {interval})"
            )
    return out


def _candidate_latency(group: Sequence[Entry], stat: LatencyStat) -> float:
    return _mean([e.latency_ms(stat) for e in group])


def label_advice(
    curve_section: CurveSection,
    boot: SeedBootstrap,
    options: ReportOptions,
    baseline: Baseline | None,
) -> tuple[LabelAdvice, list[str]]:
    """The curve read at ``options.labels``: the advice and its sentences."""
    assert options.labels is not None
    curve = curve_section.curve
    candidates: list[Candidate] = []
    late: list[tuple[str, str]] = []
    groups = [(line.name, [(p.labels, p.key) for p in line.points]) for line in curve.lines]
    groups += [(r.name, [(r.labels, r.key)]) for r in curve.references + curve.points]
    for name, members in groups:
        latency = _candidate_latency(curve_section.line_entries[name], options.latency_stat)
        if options.latency_budget_ms is not None and latency > options.latency_budget_ms:
            late.append(
                (
                    name,
                    f"{options.latency_stat} latency {latency:.3g} ms exceeds the "
                    f"{options.latency_budget_ms:g} ms budget",
                )
            )
            continue
        candidates.append(
            Candidate(name, tuple(x for x, _ in members), tuple(k for _, k in members))
        )
    la = advise_at(
        boot,
        candidates,
        options.labels,
        BASELINE_KEY if baseline is not None and BASELINE_KEY in boot else None,
        options.alpha,
    )
    la.excluded = late + la.excluded
    n = f"{options.labels:,}"
    lines: list[str] = []
    if la.pick is None:
        lines.append(f"At {n} labels the curve recommends nothing: {la.no_pick_reason}.")
        return la, lines
    lines.append(
        f"At {n} labels, use {la.pick}: {_pct(la.accuracy)}% (95% interval "
        f"[{_pct(la.low)}, {_pct(la.high)}]), {la.basis}."
    )
    if la.runner_up is not None:
        lines.append(
            f"Next best there: {la.runner_up} at {_pct(la.runner_up_accuracy)}%; "
            f"{la.pick} is the best in {100 * la.share_best:.0f}% of bootstrap draws over "
            "examples and seeds."
        )
    if baseline is not None and la.baseline_p is not None:
        lines.append(
            f"Significantly better than always answering '{baseline.label_name}' "
            f"({_pct(baseline.accuracy)}%; bootstrap p = {la.baseline_p:.2g})."
        )
    if la.change_at is None:
        lines.append(
            f"You have more labels than the largest budget tried ({la.largest:,}): beyond it "
            "the curves are not measured; run the grid with larger sizes to know more."
        )
    elif la.change_at == math.inf:
        upper = interval_text(la.change_low, la.change_high, options.labels, la.largest)
        lines.append(
            f"More labels would not change the answer within the budgets tried (up to "
            f"{la.largest:,}): nothing overtakes {la.pick} (95% interval of the change "
            f"{upper})."
        )
    else:
        more = la.change_at - options.labels
        lines.append(
            f"With more labels the answer changes: {la.change_to} overtakes {la.pick} at "
            f"{describe_labels(la.change_at, options.labels, la.largest)} (about "
            f"{round_labels(more)} more; 95% interval "
            f"{interval_text(la.change_low, la.change_high, options.labels, la.largest)})."
        )
    return la, lines


# ---------------------------------------------------------------------------------------------
# the whole report's data


@dataclass
class TaskSection:
    task: str
    description: str
    label_names: list[str]
    #: display names of the input fields (one, or two for sentence pairs)
    fields: tuple[str, ...]
    #: most accurate first
    entries: list[Entry]
    verdict: TaskVerdict
    dataset_key: str
    hard: list[HardExample]
    disagreements: list[HardExample]
    advice: Advice
    notes: list[str]
    baseline: Baseline | None = None
    #: experiment id -> (significantly better than the baseline, Holm-adjusted p)
    vs_baseline: dict[str, tuple[bool, float]] = field(default_factory=dict)
    #: experiments significantly worse than the baseline (Holm-adjusted, like ``vs_baseline``)
    below_baseline: set[str] = field(default_factory=set)
    #: some configuration was run with several seeds: entries are configurations (seed groups)
    seeded: bool = False
    #: the label-budget curve, where a trained configuration was run at two sizes or more
    curve: CurveSection | None = None
    #: the challenge page's examples (balanced by gold label)
    challenge: list[HardExample] = field(default_factory=list)
    #: bootstrap replicates behind the seed-aware intervals and tests (0: none were needed)
    replicates: int = 0

    def beats_baseline(self, experiment_id: str) -> bool:
        """True where there is no baseline to beat (old stores) or the experiment beats it."""
        return self.baseline is None or self.vs_baseline.get(experiment_id, (False, 1.0))[0]

    def name_of(self, experiment_id: str) -> str:
        return next(e.name for e in self.entries if e.id == experiment_id)

    def entry(self, experiment_id: str) -> Entry:
        return next(e for e in self.entries if e.id == experiment_id)


@dataclass
class ReportData:
    db_path: Path
    options: ReportOptions
    sections: list[TaskSection]
    #: newest finished_at among the experiments (the report is "as of" then)
    as_of: float | None

    @property
    def entries(self) -> list[Entry]:
        return [e for s in self.sections for e in s.entries]

    @property
    def devices(self) -> list[str]:
        return sorted({e.device for e in self.entries})

    @property
    def any_invalid(self) -> bool:
        return any(e.n_invalid for e in self.entries)

    def section(self, task: str) -> TaskSection:
        return next(s for s in self.sections if s.task == task)


def _task_fields(task: str, examples: dict[int, ExampleRow]) -> tuple[str, ...]:
    """Input field names to show: the built-in task's own, else generic ones."""
    spec = BUILTIN_TASKS.get(task)
    if spec is not None:
        return spec.text_fields
    is_pair = any(ex.text_pair is not None for ex in examples.values())
    return ("text", "text pair") if is_pair else ("text",)


def _entries(
    store: ResultsStore, recs: Sequence[ExperimentRecord], options: ReportOptions
) -> tuple[list[Entry], bool]:
    """The task's entries, and whether any configuration was run with several seeds.

    With one seed per configuration, every experiment is an entry named as ever. Otherwise the
    experiments of one configuration (equal but for the seed) become one entry, named without
    the seed; its seeds are entries named "... · seed N".
    """
    singles = [
        Entry(
            r,
            "",
            store.predictions(r.id),
            cost_per_million(
                r.timing.throughput_per_s if r.timing else 0.0,
                options.price_per_hour,
                r.training.train_time_s if r.training else 0.0,
            ),
        )
        for r in recs
    ]
    groups: dict[str, list[Entry]] = {}
    for e in singles:
        groups.setdefault(seed_group_key(e.record.config), []).append(e)
    if all(len(g) == 1 for g in groups.values()):
        names = experiment_names([(r.id, r.config) for r in recs])
        for e in singles:
            e.name = names[e.id]
        return singles, False
    reps = {k: g[0].record.config.model_copy(update={"seed": 0}) for k, g in groups.items()}
    names = experiment_names(list(reps.items()))
    entries = []
    for key, members in groups.items():
        members.sort(key=lambda e: e.record.config.seed)
        if len(members) == 1:
            members[0].name = names[key]
            entries.append(members[0])
            continue
        for e in members:
            e.name = f"{names[key]} · seed {e.record.config.seed}"
        entries.append(seed_group(members, names[key], options.price_per_hour))
    return entries, True


def _bootstrap(entries: Sequence[Entry], baseline: Baseline | None, alpha: float) -> SeedBootstrap:
    """One bootstrap for the task: every entry's seeds, and the baseline, on shared examples."""
    runs: dict[str, list[dict[int, bool]]] = {
        e.id: [{r.idx: r.pred == r.gold for r in run.rows} for run in e.runs] for e in entries
    }
    if baseline is not None:
        runs[BASELINE_KEY] = [dict(baseline.correct)]
    n_tests = len(entries) * (len(entries) - 1) // 2 + len(entries)
    return SeedBootstrap(runs, replicates_for(n_tests, alpha))


def _with_interval(e: Entry, boot: SeedBootstrap) -> None:
    """A seed group's accuracy interval: the bootstrap over examples and seeds."""
    low, high = boot.interval(e.id)
    assert e.record.metrics is not None
    e.record.metrics = dataclasses.replace(
        e.record.metrics, accuracy_ci_low=low, accuracy_ci_high=high
    )


def collect(store: ResultsStore, options: ReportOptions) -> ReportData:
    """Read every finished experiment and derive the report's contents."""
    records = store.experiments(status="done")
    if not records:
        raise BakeoffError(f"no finished experiments in {store.path}; run `bakeoff run` first")
    by_task: dict[str, list[ExperimentRecord]] = {}
    for r in records:
        by_task.setdefault(r.task, []).append(r)
    if options.challenge_tasks:
        unknown = sorted(set(options.challenge_tasks) - set(by_task))
        if unknown:
            raise BakeoffError(
                f"--task {', '.join(unknown)}: no finished experiments for it in {store.path}; "
                f"tasks with results: {', '.join(sorted(by_task))}"
            )

    sections = []
    for task in sorted(by_task):
        recs = sorted(
            by_task[task], key=lambda r: (method_order(r.method), short_model(r.model), r.id)
        )
        entries, seeded = _entries(store, recs, options)
        names = {e.id: e.name for e in entries}
        notes: list[str] = []
        missing = [e.name for e in entries if not e.rows]
        if missing:
            notes.append(
                f"no stored predictions for {', '.join(missing)}: left out of paired tests"
            )
        scored = [e for e in entries if e.rows]
        label_names = list(recs[0].label_names)
        if any(list(r.label_names) != label_names for r in recs):
            notes.append("experiments disagree on the label names; showing the first experiment's")
        keys = Counter(r.dataset_key for r in recs)
        dataset_key = keys.most_common(1)[0][0]
        if len(keys) > 1:
            notes.append(
                f"experiments used {len(keys)} different datasets; hard examples use {dataset_key}"
            )
        examples = store.examples(dataset_key)
        same_data = [e for e in scored if e.record.dataset_key == dataset_key]
        baseline = majority_baseline(store.train_label_counts(dataset_key), examples, label_names)
        lines, references, points, members = curve_inputs(same_data)
        boot = _bootstrap(same_data, baseline, options.alpha) if seeded or lines else None
        if seeded and boot is not None:
            for e in same_data:
                if e.seeds:
                    _with_interval(e, boot)
            verdict = decide_seeded(scored, boot, options.alpha)
        else:
            verdict = decide(
                [Outcomes.from_predictions(e.record, e.rows) for e in scored], options.alpha
            )
        for c in verdict.comparisons:
            if c.note:
                notes.append(f"{names[c.a]} vs {names[c.b]}: {c.note}")
        hard, split = hard_examples(same_data, examples, label_names, options.hard_examples)
        challenge = challenge_examples(
            same_data, examples, label_names, options.challenge_size, task
        )
        entries.sort(key=lambda e: -e.accuracy)
        spec = BUILTIN_TASKS.get(task)
        standings = baseline_standings(baseline, same_data, options.alpha, boot if seeded else None)
        vs_baseline = {rid: (side == "above", p) for rid, (side, p) in standings.items()}
        below = {rid for rid, (side, _) in standings.items() if side == "below"}
        if verdict.leader and baseline is not None and not vs_baseline.get(verdict.leader, (0,))[0]:
            # a leader that does not beat always answering one label is nobody's winner
            verdict.status = "baseline"
        if baseline is None:
            notes.append("no train label counts stored: the majority-class baseline is not shown")
        curve_section = None
        if lines and boot is not None:
            curve = build_curve(
                boot,
                lines,
                references,
                points,
                BASELINE_KEY if baseline is not None else None,
            )
            curve_section = CurveSection(curve, crossing_sentences(curve), members)
        advice = advise(task, same_data, verdict, options, baseline, vs_baseline, below)
        train_counts = store.train_label_counts(dataset_key)
        advice.cautions = cautions(
            same_data,
            [advice.pick, *advice.tied] if advice.pick else same_data,
            label_names,
            sum(train_counts) if train_counts else None,
        )
        if curve_section is not None and boot is not None and options.labels is not None:
            advice.at_labels, advice.at_labels_lines = label_advice(
                curve_section, boot, options, baseline
            )
        sections.append(
            TaskSection(
                task=task,
                description=spec.description if spec else "",
                label_names=label_names,
                fields=_task_fields(task, examples),
                entries=entries,
                verdict=verdict,
                dataset_key=dataset_key,
                hard=hard,
                disagreements=split,
                advice=advice,
                notes=notes,
                baseline=baseline,
                vs_baseline=vs_baseline,
                below_baseline=below,
                seeded=seeded,
                curve=curve_section,
                challenge=challenge,
                replicates=boot.n_replicates if boot is not None else 0,
            )
        )
    finished = [r.finished_at for r in records if r.finished_at]
    return ReportData(store.path, options, sections, max(finished) if finished else None)
