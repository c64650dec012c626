"""Warnings about a planned grid, shown before anything runs.

Some runs are doomed to a misleading number before they start, and a user learns it only from
the report, half an hour later: prompts that offer the answers "0 or 1" (numeric labels with no
names given), few-shot prompts with fewer demonstrations than classes, and evaluation sets so
small that no difference between methods can be told from noise. These never stop a run (the
user may want exactly that); they say what will limit it and what to pass instead, while there
is still time to change the command. The same facts are repeated in the report's advice
(:mod:`bakeoff.report.analysis`), from the store.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bakeoff import checks
from bakeoff.metrics import accuracy_interval

if TYPE_CHECKING:
    from bakeoff.runner import GridPlan, PlannedExperiment

#: an evaluation set whose 95% interval at 50% accuracy is wider than this (either side) limits
#: the comparison more than the methods do: a paired test then needs a difference of roughly
#: this size or more to call it, while methods worth comparing often differ by less. It is
#: crossed below 93 evaluated examples (the 200-row file with a 20% hold-out: 40, +-15).
WIDE_HALF_WIDTH = 0.10
#: the folds suggested for a small data set (the README's example)
SUGGESTED_FOLDS = 5


def half_width(n: int) -> float:
    """Half the Wilson 95% interval at 50% accuracy on ``n`` examples: the widest it gets."""
    if n <= 0:
        return math.inf
    low, high = accuracy_interval(n // 2, n)
    return (high - low) / 2


def points(x: float) -> str:
    return f"{100 * x:.0f}"


def numeric_label_warning(
    task: str, label_names: Sequence[str], verbalizers: Sequence[str], methods: Sequence[str]
) -> str | None:
    """Prompted methods about to offer numbers as the answers."""
    from bakeoff.prompts import answer_line

    if not checks.numeric_answer_words(verbalizers):
        return None
    example = ",".join(f"name{i + 1}" for i in range(len(label_names)))
    return (
        f"task '{task}': its labels are numbers ({', '.join(label_names)}) and no names were "
        f'given, so the {" and ".join(methods)} prompts will say "{answer_line(verbalizers)}"; '
        "a model sees no meaning in those, and its results will understate it. "
        f"Name the labels, in the order {', '.join(label_names)}: --verbalizers {example} "
        "(or answer_words in a task YAML)"
    )


def few_shot_warning(task: str, k: int, n_classes: int) -> str | None:
    """Fewer demonstrations than classes: some classes are never shown."""
    if 0 < k < n_classes:
        unshown = n_classes - k
        return (
            f"task '{task}': few-shot k={k} with {n_classes} classes shows at most {k} of them, "
            f"so at least {unshown} {'class gets' if unshown == 1 else 'classes get'} no "
            f"demonstration; pass -k {n_classes} or more"
        )
    return None


def eval_size_remedy(n_labelled: int, cv: int | None, eval_limit: int | None) -> str:
    """What would narrow the intervals of a small evaluation set."""
    if eval_limit:
        return "raise --eval-limit (or drop it) to evaluate more examples"
    if cv:
        return f"every labelled example is already scored (--cv {cv}): only more labelled data narrows them"
    return (
        f"--cv {SUGGESTED_FOLDS} scores all {n_labelled} labelled examples out of fold "
        f"(±{points(half_width(n_labelled))} points)"
    )


def small_eval_warning(
    n_eval: int, n_labelled: int, cv: int | None, eval_limit: int | None
) -> str | None:
    """An evaluation set too small to separate methods, and what would widen it."""
    width = half_width(n_eval)
    if width <= WIDE_HALF_WIDTH:
        return None
    return (
        f"{n_eval} evaluated examples give 95% intervals of up to ±{points(width)} points, so "
        "the evaluation size, not the methods, limits this comparison; "
        + eval_size_remedy(n_labelled, cv, eval_limit)
    )


def plan_warnings(plan: GridPlan) -> list[str]:
    """Every warning about ``plan``, once each, in task order."""
    from bakeoff.config import PromptSettings
    from bakeoff.methods import get_method_spec
    from bakeoff.prompts import build_format

    by_task: dict[str, list[PlannedExperiment]] = {}
    for exp in plan.experiments:
        by_task.setdefault(exp.config.task, []).append(exp)
    out: list[str] = []
    for task, experiments in by_task.items():
        data = experiments[0].data
        numeric: dict[tuple[str, ...], list[str]] = {}
        ks: set[int] = set()
        for exp in experiments:
            spec = get_method_spec(exp.config.method)
            settings = spec.settings_for(exp.config.settings)
            if spec.family != "LLM" or not isinstance(settings, PromptSettings):
                continue
            verbalizers = build_format(data.task, settings).verbalizers
            methods = numeric.setdefault(verbalizers, [])
            if exp.config.method not in methods:
                methods.append(exp.config.method)
            ks.add(settings.k)
        for verbalizers, methods in numeric.items():
            warning = numeric_label_warning(task, data.task.label_names, verbalizers, methods)
            if warning:
                out.append(warning)
        for k in sorted(ks):
            warning = few_shot_warning(task, k, data.task.num_labels)
            if warning:
                out.append(warning)
        first = experiments[0]
        cv = first.config.cv
        n_labelled = len(data.train) if cv else len(data.train) + len(data.eval)
        warning = small_eval_warning(
            len(first.eval_indices), n_labelled, cv, first.config.eval_limit
        )
        if warning:
            out.append(f"task '{task}': {warning}")
    return out


__all__ = [
    "WIDE_HALF_WIDTH",
    "eval_size_remedy",
    "half_width",
    "plan_warnings",
    "small_eval_warning",
]
