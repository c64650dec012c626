"""Where experiments execute: planning a grid, and running each experiment into the store.

The unit of work is :func:`run_experiment` (one experiment, start to stored result). An
:class:`Executor` decides where units run; :class:`LocalExecutor` runs them one after another in
this process. A distributed executor only has to implement ``Executor.run`` and call
``run_experiment`` on its workers against the same store.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from bakeoff.classifier import NullProgress, Progress
from bakeoff.config import ExperimentConfig, GridConfig
from bakeoff.custom import load_custom, load_custom_config, parse_custom_config
from bakeoff.data import TaskData, load_builtin, stratified_indices
from bakeoff.environment import environment
from bakeoff.errors import BakeoffError
from bakeoff.metrics import compute_metrics
from bakeoff.models import model_kind, resolve_model
from bakeoff.store import ResultsStore
from bakeoff.tasks import BUILTIN_TASKS, get_task
from bakeoff.timing import timed_evaluation


@dataclass
class PlannedExperiment:
    """One experiment ready to run: its configuration, id, data and the eval rows it scores."""

    config: ExperimentConfig
    data: TaskData
    eval_indices: list[int]

    @property
    def id(self) -> str:
        return self.config.experiment_id()

    @property
    def dataset_key(self) -> str:
        return f"{self.data.task.name}:{self.data.fingerprint}:{self.data.eval_split}"


@dataclass
class Outcome:
    experiment: PlannedExperiment
    status: Literal["done", "skipped", "failed"]
    error: str | None = None
    metrics: dict | None = field(default=None)


def load_grid_tasks(grid: GridConfig) -> dict[str, TaskData]:
    """Load every task named in the grid: user task files first, then built-ins."""
    custom = {}
    for path in grid.task_files:
        cfg = load_custom_config(path)
        custom[cfg.name] = cfg
    for raw in grid.custom_tasks:
        cfg = parse_custom_config(raw, "flags")
        custom[cfg.name] = cfg
    loaded: dict[str, TaskData] = {}
    for name in grid.tasks:
        if name in custom:
            loaded[name] = load_custom(custom[name], seed=grid.seed)
        elif name in BUILTIN_TASKS:
            loaded[name] = load_builtin(get_task(name), grid.data_dir)
        else:
            get_task(name)  # raises the one-line 'unknown task' error
    return loaded


def _mismatch(model: str, method: str) -> str | None:
    """Why ``method`` cannot run on ``model`` (None when it can, or the kind is unknown yet)."""
    kind = model_kind(model)
    if kind == "causal" and method == "finetune":
        return (
            f"model '{model}' is a causal LM; use --method zero-shot or few-shot with it, "
            "or fine-tune an encoder such as minilm"
        )
    if kind == "encoder" and method != "finetune":
        return (
            f"model '{model}' is an encoder; use --method finetune with it, or prompt a causal LM "
            "such as smollm2-135m"
        )
    return None


def _mismatches(grid: GridConfig) -> dict[tuple[str, str], str]:
    """Every (model, method) pair of the grid that cannot run, with the reason."""
    pairs = ((m, k) for m in grid.models for k in grid.methods)
    return {pair: why for pair in pairs if (why := _mismatch(*pair))}


def skipped_pairs(grid: GridConfig) -> list[tuple[str, str]]:
    """(model, method) pairs of the grid that cannot run: an encoder is fine-tuned, a causal LM
    is prompted. A grid crossing both kinds with both kinds of method runs the pairs that fit,
    as a user of such a grid expects; but a model or a method that fits nothing in the grid is
    an error (see :func:`plan`), since it was surely meant to run."""
    return list(_mismatches(grid))


def _check_pairs(grid: GridConfig) -> set[tuple[str, str]]:
    """The pairs to skip; raises where a model or a method fits nothing in the grid."""
    reasons = _mismatches(grid)
    for model in grid.models:
        if all((model, method) in reasons for method in grid.methods):
            raise BakeoffError(reasons[(model, grid.methods[0])])
    for method in grid.methods:
        if all((model, method) in reasons for model in grid.models):
            raise BakeoffError(reasons[(grid.models[0], method)])
    return set(reasons)


def plan(grid: GridConfig, tasks: dict[str, TaskData] | None = None) -> list[PlannedExperiment]:
    """Expand tasks x models x methods into experiments; every input problem is raised here,
    before anything runs or is written."""
    for model in grid.models:
        if model_kind(model) is None:
            resolve_model(model)  # unknown names and missing paths fail now, not mid-grid
    skipped = _check_pairs(grid)
    tasks = tasks if tasks is not None else load_grid_tasks(grid)
    indices: dict[str, list[int]] = {}
    for task_name in grid.tasks:
        labels = [ex.label for ex in tasks[task_name].eval]
        indices[task_name] = (
            stratified_indices(labels, grid.eval_limit, grid.seed)
            if grid.eval_limit
            else list(range(len(labels)))
        )
    # model-major order: each model is loaded once for all its tasks and methods
    planned = []
    for model in grid.models:
        for task_name in grid.tasks:
            data = tasks[task_name]
            for method in grid.methods:
                if (model, method) in skipped:
                    continue
                config = ExperimentConfig(
                    task=task_name,
                    data_fingerprint=data.fingerprint,
                    eval_split=data.eval_split,
                    model=model,
                    method=method,
                    seed=grid.seed,
                    precision=grid.precision,
                    train_limit=grid.train_limit if method == "finetune" else None,
                    eval_limit=grid.eval_limit,
                    latency_samples=grid.latency_samples,
                    finetune=grid.finetune if method == "finetune" else None,
                    prompt=(
                        grid.prompt.model_copy(update={"k": 0})
                        if method == "zero-shot"
                        else grid.prompt
                        if method == "few-shot"
                        else None
                    ),
                )
                planned.append(PlannedExperiment(config, data, indices[task_name]))
    return planned


def run_experiment(
    experiment: PlannedExperiment, store: ResultsStore, progress: Progress | None = None
) -> Outcome:
    """Run one experiment end to end and store it. Predictions and the 'done' mark are written in
    one transaction, so an interruption at any point leaves either nothing or a complete result."""
    from bakeoff.methods import get_method, release_models

    progress = progress or NullProgress()
    config, data = experiment.config, experiment.data
    examples = [data.eval[i] for i in experiment.eval_indices]
    store.save_examples(experiment.dataset_key, list(zip(experiment.eval_indices, examples)))
    store.start(experiment.id, config, experiment.dataset_key, data.task.label_names, environment())
    # memory held for an earlier model would otherwise be billed to this one
    release_models(keep=config.model)
    try:
        prepared = get_method(config.method).prepare(config, data, progress)
        advance = progress.stage(
            f"evaluating on {len(examples)} {data.eval_split} examples", len(examples)
        )
        latency_advance = progress.stage(
            "latency at batch size 1", min(config.latency_samples, len(examples))
        )
        predictions, timing = timed_evaluation(
            prepared.classifier,
            examples,
            latency_samples=config.latency_samples,
            seed=config.seed,
            advance=advance,
            latency_advance=latency_advance,
        )
        gold = [ex.label for ex in examples]
        metrics = compute_metrics(gold, predictions.labels, data.task.label_names)
        training = {"train_time_s": prepared.train_time_s, **prepared.info}
        store.finish(
            experiment.id,
            experiment.eval_indices,
            gold,
            predictions,
            metrics,
            timing.to_dict(),
            training,
        )
        return Outcome(experiment, "done", metrics=metrics)
    except BakeoffError as exc:
        store.fail(experiment.id, str(exc))
        return Outcome(experiment, "failed", error=str(exc))
    except KeyboardInterrupt:
        store.fail(experiment.id, "interrupted")
        raise
    except Exception as exc:  # keep the grid going; the traceback is kept in the store
        store.fail(experiment.id, traceback.format_exc())
        return Outcome(experiment, "failed", error=f"{type(exc).__name__}: {exc}")


class Executor(Protocol):
    """Runs planned experiments against a store. Implementations decide where they execute."""

    def run(
        self,
        experiments: Sequence[PlannedExperiment],
        store: ResultsStore,
        progress: Progress | None = None,
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> list[Outcome]: ...


class LocalExecutor:
    """Runs experiments sequentially in this process (one device, no contention for it)."""

    def run(
        self,
        experiments: Sequence[PlannedExperiment],
        store: ResultsStore,
        progress: Progress | None = None,
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> list[Outcome]:
        outcomes = []
        for experiment in experiments:
            outcome = run_experiment(experiment, store, progress)
            outcomes.append(outcome)
            if on_outcome:
                on_outcome(outcome)
        return outcomes


def pending(
    experiments: Sequence[PlannedExperiment], store: ResultsStore, force: bool = False
) -> tuple[list[PlannedExperiment], list[PlannedExperiment]]:
    """Split into (to run, already done). Anything not 'done' (never run, crashed, failed) runs."""
    if force:
        return list(experiments), []
    todo, done = [], []
    for exp in experiments:
        (done if store.status(exp.id) == "done" else todo).append(exp)
    return todo, done
