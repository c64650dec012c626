"""Everything the report states, computed from the results store and nothing else.

The report never carries numbers or advice of its own: accuracies, intervals and timings come from
what ``bakeoff run`` stored; significance from :mod:`bakeoff.stats`; costs from measured
throughput times the user's price; advice from those numbers filtered by the user's constraints.
Drawing and templating live elsewhere so that this module can be tested on plain values.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bakeoff.baseline import Baseline, majority_baseline
from bakeoff.errors import BakeoffError
from bakeoff.methods import MethodSpec, get_method_spec
from bakeoff.naming import experiment_names, short_model
from bakeoff.records import Metrics, Timing, TrainingRecord
from bakeoff.report.options import LatencyStat, ReportOptions
from bakeoff.stats import Outcomes, TaskVerdict, decide, holm
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
    """One finished experiment with its predictions, as shown in the report."""

    record: ExperimentRecord
    name: str
    rows: list[PredictionRow]
    cost: Cost

    @property
    def id(self) -> str:
        return self.record.id

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


def baseline_tests(
    baseline: Baseline | None, entries: Sequence[Entry], alpha: float
) -> dict[str, tuple[bool, float]]:
    """Experiment id -> (significantly better than the baseline, Holm-adjusted p), by the paired
    exact test on the examples both scored, corrected over the task's experiments as the
    pairwise comparisons are."""
    if baseline is None:
        return {}
    tests = {e.id: baseline.test(e.rows) for e in entries}
    reject, adjusted = holm([t.p_value for t in tests.values()], alpha)
    return {
        rid: (bool(r) and t.a_only > t.b_only, p)
        for (rid, t), r, p in zip(tests.items(), reject, adjusted)
    }


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
            advice.excluded.append(
                Exclusion(
                    e,
                    f"not significantly better than always answering '{baseline.label_name}' "
                    f"({100 * baseline.accuracy:.1f}%; Holm-adjusted p = "
                    f"{vs_baseline.get(e.id, (False, 1.0))[1]:.2g})",
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
    acc = f"{100 * pick.accuracy:.1f}% (95% interval {100 * pick.ci_low:.1f}–{100 * pick.ci_high:.1f})"
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
        names = experiment_names([(r.id, r.config) for r in recs])
        entries = [
            Entry(
                r,
                names[r.id],
                store.predictions(r.id),
                cost_per_million(
                    r.timing.throughput_per_s if r.timing else 0.0,
                    options.price_per_hour,
                    r.training.train_time_s if r.training else 0.0,
                ),
            )
            for r in recs
        ]
        notes: list[str] = []
        missing = [e.name for e in entries if not e.rows]
        if missing:
            notes.append(
                f"no stored predictions for {', '.join(missing)}: left out of paired tests"
            )
        scored = [e for e in entries if e.rows]
        verdict = decide(
            [Outcomes.from_predictions(e.record, e.rows) for e in scored], options.alpha
        )
        for c in verdict.comparisons:
            if c.note:
                notes.append(f"{names[c.a]} vs {names[c.b]}: {c.note}")
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
        hard, split = hard_examples(same_data, examples, label_names, options.hard_examples)
        entries.sort(key=lambda e: -e.accuracy)
        spec = BUILTIN_TASKS.get(task)
        baseline = majority_baseline(store.train_label_counts(dataset_key), examples, label_names)
        vs_baseline = baseline_tests(baseline, same_data, options.alpha)
        if verdict.leader and baseline is not None and not vs_baseline.get(verdict.leader, (0,))[0]:
            # a leader that does not beat always answering one label is nobody's winner
            verdict.status = "baseline"
        if baseline is None:
            notes.append("no train label counts stored: the majority-class baseline is not shown")
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
                advice=advise(task, same_data, verdict, options, baseline, vs_baseline),
                notes=notes,
                baseline=baseline,
                vs_baseline=vs_baseline,
            )
        )
    finished = [r.finished_at for r in records if r.finished_at]
    return ReportData(store.path, options, sections, max(finished) if finished else None)
