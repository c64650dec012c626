"""What limits a task's results, said beside the advice, whatever it picks.

A verdict can follow every statistical rule and still mislead: prompted LLMs offered the
answers "0 or 1" look hopeless when they were never told what the labels mean; few-shot prompts
that show four of nine classes test a model on classes it never saw; forty evaluated examples
cannot separate methods ten points apart; and a cost comparison between speeds measured on a
quiet machine and on a busy one compares the load as much as the methods. Each caution is
computed from the store alone and names the flag that lifts the limit. The planning warnings of
:mod:`bakeoff.foresight` say the same before a run, when it is cheapest to act.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bakeoff import checks
from bakeoff.foresight import WIDE_HALF_WIDTH, eval_size_remedy, half_width, points

if TYPE_CHECKING:
    from bakeoff.report.analysis import Entry

#: speeds measured at 1-minute load averages that differ by more than this share of the
#: machine's CPUs are flagged: on a CPU-bound run, half the cores' worth of other runnable work
#: can take a third or more of its throughput (2 busy threads and 1 more on 2 cores get 2/3 of
#: the time each), more than many cost differences the advice reports
LOAD_GAP_PER_CPU = 0.5


def _details(entry: Entry) -> list[dict[str, Any]]:
    return [run.training.details if run.training else {} for run in entry.runs]


def numeric_labels(entries: Sequence[Entry], label_names: Sequence[str]) -> str | None:
    """Prompted experiments whose answer words were the numeric labels themselves."""
    named: list[str] = []
    words: list[str] = []
    for e in entries:
        if e.family != "LLM":
            continue
        for details in _details(e):
            verbalizers = details.get("verbalizers") or []
            if checks.numeric_answer_words(verbalizers):
                named.append(e.name)
                words = list(verbalizers)
                break
    if not named:
        return None
    example = ",".join(f"name{i + 1}" for i in range(len(label_names)))
    return (
        f"The prompts were not given label names: {', '.join(named)} answered with the numbers "
        f"{', '.join(words)}, which mean nothing to a language model, so these prompted results "
        f"understate the LLMs. Before ruling them out, re-run them with --verbalizers {example} "
        f"(one name per label, in the order {', '.join(label_names)})"
    )


def few_shot_classes(entries: Sequence[Entry], n_classes: int) -> list[str]:
    """Few-shot experiments whose demonstrations left classes unshown."""
    out = []
    for e in entries:
        k = e.labels_used or 0
        if e.family != "LLM" or k <= 0:
            continue
        shown = [d["classes_shown"] for d in _details(e) if "classes_shown" in d]
        if shown and min(shown) < n_classes:
            seen = f"{min(shown)} of {n_classes} classes"
        elif not shown and k < n_classes:
            seen = f"at most {k} of {n_classes} classes"
        else:
            continue
        out.append(
            f"{e.name}: its {k} demonstration{'s' if k > 1 else ''} showed {seen}, so the model "
            "saw no example of "
            f"the others; raise -k (showing every class takes at least {n_classes})"
        )
    return out


def evaluation_size(entries: Sequence[Entry], n_train: int | None) -> str | None:
    """An evaluation set too small to separate the methods (the rule of
    :func:`bakeoff.foresight.small_eval_warning`)."""
    if not entries:
        return None
    first = max(entries, key=lambda e: e.n)
    width = half_width(first.n)
    if width <= WIDE_HALF_WIDTH:
        return None
    config = first.record.config
    n_labelled = first.n if config.cv else first.n + (n_train or 0)
    return (
        f"The evaluation set is the limit: {first.n} evaluated examples give 95% intervals of "
        f"up to ±{points(width)} points, so differences smaller than that cannot be told from "
        "noise and a method ruled out here may not be worse; "
        + eval_size_remedy(n_labelled, config.cv, config.eval_limit)
    )


def _load(entry: Entry) -> tuple[float, int] | None:
    """The highest load (per CPU) any of the entry's runs was timed at, on a CPU."""
    loads: list[tuple[float, int]] = []
    for run in entry.runs:
        t = run.timings
        if t is not None and t.device == "cpu" and t.load_avg is not None and t.cpus:
            loads.append((t.load_avg, t.cpus))
    return max(loads, key=lambda x: x[0] / x[1]) if loads else None


def load_gap(compared: Sequence[Entry]) -> str | None:
    """Speeds the cost advice compares that were measured under clearly different load."""
    measured = [(e, load) for e in compared if (load := _load(e)) is not None]
    if len(measured) < 2:
        return None
    quiet = min(measured, key=lambda x: x[1][0] / x[1][1])
    busy = max(measured, key=lambda x: x[1][0] / x[1][1])
    if busy[1][0] / busy[1][1] - quiet[1][0] / quiet[1][1] <= LOAD_GAP_PER_CPU:
        return None
    return (
        f"Speeds were measured at different machine load: {quiet[0].name} at a load average of "
        f"{quiet[1][0]:.1f} on {quiet[1][1]} CPUs, {busy[0].name} at {busy[1][0]:.1f} on "
        f"{busy[1][1]}; their throughputs, and the costs compared here, partly measure that "
        "load. Time them again at equal load (`bakeoff run ... --force`) before choosing on cost"
    )


def cautions(
    entries: Sequence[Entry],
    compared: Sequence[Entry],
    label_names: Sequence[str],
    n_train: int | None,
) -> list[str]:
    """Every caution for one task; ``compared`` are the experiments its cost advice weighs."""
    found = [numeric_labels(entries, label_names)]
    found += few_shot_classes(entries, len(label_names))
    found += [evaluation_size(entries, n_train), load_gap(compared)]
    return [c for c in found if c]


__all__ = ["LOAD_GAP_PER_CPU", "cautions"]
