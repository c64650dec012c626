"""Where experiments execute: planning a grid, and running each experiment into the store.

Data flows one way: a :class:`GridConfig` is planned into :class:`PlannedExperiment` records
(every input checked here, before anything is written), an :class:`Executor` runs them, each
run's result reaches the store, and the report reads only the store.

The unit of work is :func:`run_experiment` (one experiment, start to stored result). An
:class:`Executor` decides where units run; :class:`LocalExecutor` runs them one after another in
this process. :func:`run_grid` is the one path from a grid to results that the CLI calls; a
distributed executor plugs in there by implementing ``Executor.run``.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from bakeoff import checks, crossval
from bakeoff.classifier import NullProgress, Predictions, Progress
from bakeoff.config import ExperimentConfig, GridConfig
from bakeoff.custom import load_custom, load_custom_config, parse_custom_config
from bakeoff.data import TaskData, load_builtin, stratified_indices
from bakeoff.environment import best_device, environment
from bakeoff.errors import BakeoffError
from bakeoff.keep import CapturedArtifact, KeepPolicy, capture, place, prune, sweep
from bakeoff.methods import get_method_spec
from bakeoff.metrics import compute_metrics
from bakeoff.models import (
    MODEL_ALIASES,
    check_hub_model,
    model_kind,
    position_limit,
    resolve_model,
)
from bakeoff.records import Metrics, Timing, TrainingRecord
from bakeoff.store import ResultsStore, StoreError
from bakeoff.tasks import BUILTIN_TASKS, get_task
from bakeoff.timing import timed_evaluation


@dataclass
class PlannedExperiment:
    """One experiment ready to run: its configuration, id, data and the eval rows it scores."""

    config: ExperimentConfig
    data: TaskData
    eval_indices: list[int]
    #: what to keep for reuse (``--keep``; see :mod:`bakeoff.keep`): not part of the experiment's
    #: identity, a run with another policy is the same experiment
    keep: KeepPolicy = "best"

    @property
    def id(self) -> str:
        return self.config.experiment_id()

    @property
    def dataset_key(self) -> str:
        return f"{self.data.task.name}:{self.data.fingerprint}:{self.data.eval_split}"


@dataclass
class Outcome:
    """What became of one experiment: ``busy`` means another live process was running it."""

    experiment: PlannedExperiment
    status: Literal["done", "failed", "busy"]
    error: str | None = None
    metrics: Metrics | None = field(default=None)
    warnings: list[str] = field(default_factory=list)
    #: "kept <path>", or why nothing is kept (None: the method keeps nothing)
    artifact: str | None = None


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


def _mismatches(grid: GridConfig) -> dict[tuple[str, str], str]:
    """Every (model, method) pair of the grid that cannot run, with the reason."""
    reasons = {}
    for model in grid.models:
        kind = model_kind(model)
        for method in grid.methods:
            why = get_method_spec(method).mismatch(model, kind)
            if why:
                reasons[(model, method)] = why
    return reasons


def skipped_pairs(grid: GridConfig) -> dict[tuple[str, str], str]:
    """(model, method) pairs of the grid that cannot run, with the reason: each method declares
    the model kinds it accepts. A grid crossing both kinds with both kinds of method runs the
    pairs that fit, as a user of such a grid expects; but a model or a method that fits nothing
    in the grid is an error (see :func:`plan`), since it was surely meant to run."""
    return _mismatches(grid)


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


def _check_for_grid(
    grid: GridConfig, tasks: dict[str, TaskData], skipped: set[tuple[str, str]]
) -> None:
    """Settings valid on their own that this grid's data, models or machine cannot honour: each
    would otherwise fail only when its experiment starts (a ``failed`` row stored) or run
    something else than asked under a new id."""
    pairs = [(m, x) for m in grid.models for x in grid.methods if (m, x) not in skipped]
    if any(get_method_spec(x).trains for _, x in pairs):
        for name, data in tasks.items():
            # with --cv every model trains on all folds but one
            rows = len(data.train) - (math.ceil(len(data.train) / grid.cv) if grid.cv else 0)
            for limit in grid.train_limit:
                if limit is not None and limit > rows:
                    raise BakeoffError(
                        f"--train-limit {limit}: task '{name}' has only {rows} training examples"
                        f"{' per fold' if grid.cv else ''}, so it would train on all {rows} under "
                        f"another id; give {rows} or fewer, or all"
                    )
    if grid.device != "auto" and grid.executor == "local":
        best_device(grid.device)  # a device this machine lacks (Ray workers may have it)
    for model, method in pairs:
        spec = get_method_spec(method)
        length = getattr(grid.section(spec.settings_section), "max_length", None)
        if spec.family != "encoder" or not isinstance(length, int):
            continue
        limit = position_limit(model)
        if limit is not None and length > limit:
            section = spec.settings_section
            flag = "--max-length" if section == "finetune" else f"--set {section}.max_length"
            raise BakeoffError(
                f"max_length {length} ({flag} or {section}.max_length): model '{model}' has "
                f"position embeddings for {limit} tokens (its config.json); give {limit} or less"
            )


def plan(grid: GridConfig, tasks: dict[str, TaskData] | None = None) -> list[PlannedExperiment]:
    """Expand tasks x models x methods into experiments; every input problem is raised here,
    before anything runs or is written."""
    for model in grid.models:
        if model not in MODEL_ALIASES:
            resolve_model(model)  # unknown names, missing paths, non-GGUF files fail now
            check_hub_model(model)
    skipped = _check_pairs(grid)
    tasks = tasks if tasks is not None else load_grid_tasks(grid)
    if grid.cv:
        tasks = {name: crossval.pooled(data, grid.cv) for name, data in tasks.items()}
    _check_for_grid(grid, tasks, skipped)
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
    checked: set[tuple[str, str, str]] = set()
    for model in grid.models:
        for task_name in grid.tasks:
            data = tasks[task_name]
            for method in grid.methods:
                if (model, method) in skipped:
                    continue
                spec = get_method_spec(method)
                limits = grid.train_limit if spec.trains else (None,)
                seeds = grid.seed_list if spec.seeded else (grid.seed,)
                for limit in limits:
                    for seed in seeds:
                        config = ExperimentConfig(
                            task=task_name,
                            data_fingerprint=data.fingerprint,
                            eval_split=data.eval_split,
                            model=model,
                            method=method,
                            seed=seed,
                            precision=grid.precision,
                            batch_size=grid.batch_size,
                            train_limit=limit,
                            eval_limit=grid.eval_limit,
                            cv=grid.cv,
                            latency_samples=grid.latency_samples,
                            device=grid.device,
                            settings=spec.settings_for(grid.section(spec.settings_section)),
                        )
                        if spec.check is not None:
                            key = (task_name, method, repr(config.settings))
                            if key not in checked:
                                checked.add(key)
                                spec.check(config, data)
                        planned.append(
                            PlannedExperiment(config, data, indices[task_name], grid.keep)
                        )
    return planned


@dataclass
class ExperimentResult:
    """Everything one experiment produced, before it is stored: what a worker sends back."""

    predictions: Predictions
    metrics: Metrics
    timing: Timing
    training: TrainingRecord
    environment: dict[str, Any]
    #: what the method keeps for reuse, as bytes (it may have run on another machine)
    artifact: CapturedArtifact | None = None


def execute(experiment: PlannedExperiment, progress: Progress | None = None) -> ExperimentResult:
    """Prepare the method's classifier, evaluate it under the timing protocol, score it and run
    the sanity checks. Touches no store, so it can run on any worker."""
    from bakeoff.methods import release_models

    progress = progress or NullProgress()
    config, data = experiment.config, experiment.data
    examples = [data.eval[i] for i in experiment.eval_indices]
    # memory held for an earlier model would otherwise be billed to this one
    release_models(keep=config.model)
    spec = get_method_spec(config.method)
    artifact = None
    if config.cv:
        # out of fold: K models, none kept (see crossval.py); every pooled example is evaluated
        predictions, timing, training = crossval.cross_validate(spec, config, data, progress)
    else:
        prepared = spec.factory().prepare(config, data, progress)
        predictions, timing = timed_evaluation(
            prepared.classifier,
            examples,
            latency_samples=config.latency_samples,
            seed=config.seed,
            progress=progress,
            what=f"{data.eval_split} examples",
        )
        training = prepared.training
        artifact = capture(spec, prepared.classifier, config, data, experiment.keep)
    gold = [ex.label for ex in examples]
    metrics = compute_metrics(gold, predictions.labels, data.task.label_names, predictions.scores)
    one_label = checks.one_label(gold, predictions.labels, data.task.label_names)
    if one_label:
        training.warnings.append(one_label)
    return ExperimentResult(predictions, metrics, timing, training, environment(), artifact)


def begin(experiment: PlannedExperiment, store: ResultsStore) -> bool:
    """Store the evaluated examples and the train label counts, and take the experiment's lease;
    False when another live process holds it."""
    data = experiment.data
    counts = [0] * data.task.num_labels
    for ex in data.train:
        counts[ex.label] += 1
    store.save_examples(
        experiment.dataset_key,
        [(i, data.eval[i]) for i in experiment.eval_indices],
        data.task.name,
        counts,
    )
    return store.start(
        experiment.id,
        experiment.config,
        experiment.dataset_key,
        data.task.label_names,
        environment(),
    )


def finish(experiment: PlannedExperiment, store: ResultsStore, result: ExperimentResult) -> Outcome:
    """Write a result in one transaction (it replaces an earlier result only now). Its artifact
    is written into the artifacts folder first, under a name no record uses, and recorded in the
    same transaction; the artifact it replaces and models it displaces (``--keep best``) are
    removed only once that is committed, so a failed write leaves the earlier result whole."""
    gold = [experiment.data.eval[i].label for i in experiment.eval_indices]
    placement = None
    if result.artifact is not None:
        placement = place(
            store,
            experiment.id,
            experiment.config.label,
            experiment.dataset_key,
            result.metrics.accuracy,
            result.artifact,
            experiment.keep,
        )
    try:
        store.finish(
            experiment.id,
            experiment.eval_indices,
            gold,
            result.predictions,
            result.metrics,
            result.timing,
            result.training,
            config=experiment.config,
            environment=result.environment,
            artifact=placement.row if placement else None,
        )
    except BaseException:
        if placement is not None:
            placement.undo()
        raise
    kept = None
    if placement is not None:
        prune(store, placement)
        row = placement.row
        kept = f"kept {store.artifacts_dir / row.path}" if row.path else row.note
    return Outcome(
        experiment,
        "done",
        metrics=result.metrics,
        warnings=list(result.training.warnings),
        artifact=kept,
    )


def run_experiment(
    experiment: PlannedExperiment, store: ResultsStore, progress: Progress | None = None
) -> Outcome:
    """Run one experiment end to end and store it. Predictions and the 'done' mark are written in
    one transaction, so an interruption at any point leaves either nothing new or a complete
    result; a result stored by an earlier attempt is kept until this one is complete."""
    if not begin(experiment, store):
        return Outcome(experiment, "busy", error="another process is running it")
    try:
        return finish(experiment, store, execute(experiment, progress))
    except StoreError:
        # the store itself failed (a full disk): every later experiment would fail the same way
        # after training, so the grid stops here with the one-line reason
        try:
            store.fail(experiment.id, "the results store could not be written")
        except BakeoffError:
            pass
        raise
    except BakeoffError as exc:
        store.fail(experiment.id, str(exc))
        return Outcome(experiment, "failed", error=str(exc))
    except KeyboardInterrupt:
        store.fail(experiment.id, "interrupted")
        raise
    except Exception as exc:  # keep the grid going; the traceback is kept in the store
        store.fail(experiment.id, traceback.format_exc())
        return Outcome(experiment, "failed", error=f"{type(exc).__name__}: {exc}")


OutcomeCallback = Callable[[Outcome], None]
StartCallback = Callable[[PlannedExperiment], None]


class Executor(Protocol):
    """Runs planned experiments against a store. Implementations decide where they execute;
    only the process that calls ``run`` writes the store."""

    def run(
        self,
        experiments: Sequence[PlannedExperiment],
        store: ResultsStore,
        progress: Progress | None = None,
        on_outcome: OutcomeCallback | None = None,
        on_start: StartCallback | None = None,
    ) -> list[Outcome]: ...


class LocalExecutor:
    """Runs experiments sequentially in this process (one device, no contention for it)."""

    def run(
        self,
        experiments: Sequence[PlannedExperiment],
        store: ResultsStore,
        progress: Progress | None = None,
        on_outcome: OutcomeCallback | None = None,
        on_start: StartCallback | None = None,
    ) -> list[Outcome]:
        outcomes = []
        for experiment in experiments:
            if on_start:
                on_start(experiment)
            outcome = run_experiment(experiment, store, progress)
            outcomes.append(outcome)
            if on_outcome:
                on_outcome(outcome)
        return outcomes


def _ray_executor(grid: GridConfig) -> Executor:
    try:
        import ray  # noqa: F401
    except ImportError:
        raise BakeoffError(
            "--executor ray needs Ray, an optional extra: pip install 'bakeoff[ray]'"
        ) from None
    try:
        from bakeoff.executors.ray import RayExecutor
    except ModuleNotFoundError as exc:
        if exc.name != "bakeoff.executors.ray":
            raise
        raise BakeoffError(
            "the Ray executor is not in this version of bakeoff yet; use --executor local"
        ) from None
    return RayExecutor(
        address=grid.ray_address,
        cpus_per_experiment=grid.ray_cpus,
        gpus_per_experiment=grid.ray_gpus,
    )


#: executors by name, for ``--executor`` and ``executor:`` in grid files; each builds from the grid
EXECUTORS: dict[str, Callable[[GridConfig], Executor]] = {
    "local": lambda grid: LocalExecutor(),
    "ray": _ray_executor,
}


def get_executor(grid: GridConfig) -> Executor:
    """The executor a grid names (checked in planning, before anything is written)."""
    return EXECUTORS[grid.executor](grid)


def pending(
    experiments: Sequence[PlannedExperiment], store: ResultsStore, force: bool = False
) -> tuple[list[PlannedExperiment], list[PlannedExperiment]]:
    """Split into (to run, already done). Anything not 'done' (never run, crashed, failed) runs."""
    if force:
        return list(experiments), []
    statuses = store.statuses()
    todo: list[PlannedExperiment] = []
    done: list[PlannedExperiment] = []
    for exp in experiments:
        (done if statuses.get(exp.id) == "done" else todo).append(exp)
    return todo, done


@dataclass
class GridPlan:
    """A grid planned and checked: its experiments, and the pairs it skips with the reason."""

    grid: GridConfig
    experiments: list[PlannedExperiment]
    skipped: dict[tuple[str, str], str]
    #: one line each about how the data was read (label spellings merged), to show the user
    notes: list[str] = field(default_factory=list)


def plan_grid(grid: GridConfig) -> GridPlan:
    """Check and expand a grid. Raises before anything is written, so a bad grid leaves no store."""
    experiments = plan(grid)
    notes = dict.fromkeys(note for e in experiments for note in e.data.notes)
    return GridPlan(grid, experiments, skipped_pairs(grid), list(notes))


class GridListener(Protocol):
    """What a front end (the CLI's progress display) hears while a grid runs."""

    def planned(
        self, todo: Sequence[PlannedExperiment], done: Sequence[PlannedExperiment]
    ) -> None: ...

    def started(self, experiment: PlannedExperiment) -> None: ...

    def finished(self, outcome: Outcome) -> None: ...


@dataclass
class GridRun:
    plan: GridPlan
    todo: list[PlannedExperiment]
    already_done: list[PlannedExperiment]
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]


def run_grid(
    grid: GridConfig | GridPlan,
    store: ResultsStore | str | Path,
    executor: Executor | None = None,
    *,
    force: bool = False,
    progress: Progress | None = None,
    listener: GridListener | None = None,
) -> GridRun:
    """The one path from a grid to stored results: plan (all checks first), open the store,
    skip what is done, run the rest on ``executor`` (local by default).

    Ctrl-C propagates as KeyboardInterrupt after the running experiment is marked; the
    ``GridRun`` built so far is attached to it as ``exc.grid_run`` for the caller to report.
    """
    planned = grid if isinstance(grid, GridPlan) else plan_grid(grid)
    # a missing extra is an input problem too: found before the store is opened or created
    executor = executor or get_executor(planned.grid)
    own_store = not isinstance(store, ResultsStore)
    db = ResultsStore(store) if not isinstance(store, ResultsStore) else store
    try:
        todo, done = pending(planned.experiments, db, force=force)
        sweep(db)  # what killed runs left in the artifacts folder
        result = GridRun(planned, todo, done)
        if listener:
            listener.planned(todo, done)

        def on_outcome(outcome: Outcome) -> None:
            result.outcomes.append(outcome)
            if listener:
                listener.finished(outcome)

        if todo:
            try:
                executor.run(
                    todo,
                    db,
                    progress,
                    on_outcome=on_outcome,
                    on_start=listener.started if listener else None,
                )
            except KeyboardInterrupt as exc:
                exc.grid_run = result  # type: ignore[attr-defined]
                raise
        return result
    finally:
        if own_store:
            db.close()
