"""Finding what to reuse: a finished experiment's kept artifact, named by id or chosen as its
task's winner by the report's rules, and what the store says about it (for model cards).

The winner is the report's: the most accurate experiment (or seed group) that is significantly
better than every other experiment of the task and than the majority-class baseline. Where the
report finds no winner (a statistical tie, or nothing beats the baseline) ``predict`` and
``export`` do not guess: they say so and name the experiments to choose from with
``--experiment``. A seed group wins as a configuration; its most accurate kept run is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bakeoff.errors import BakeoffError
from bakeoff.keep import artifact_path
from bakeoff.store import ExperimentRecord, ResultsStore


@dataclass
class Chosen:
    """An artifact to load, and the experiment it came from (None for a bare artifact path)."""

    path: Path
    record: ExperimentRecord | None
    #: how it was chosen, for the user: "experiment 1a2b...", "winner of sst2", "artifact ..."
    how: str

    @property
    def key(self) -> str:
        """What a resumed ``predict`` must match: the experiment id, else the artifact path."""
        return self.record.id if self.record is not None else str(self.path.resolve())


def _not_kept(store: ResultsStore, record: ExperimentRecord) -> BakeoffError:
    row = store.artifact(record.id)
    what = f"{record.task} / {record.model} / {record.method} ({record.id})"
    if row is None and record.config.cv:
        return BakeoffError(
            f"{what} was scored by {record.config.cv}-fold cross-validation (--cv), which keeps "
            "no model: each of its models saw only part of the data; run the same command once "
            "without --cv to train and keep one to use"
        )
    if row is None:
        from bakeoff.methods import get_method_spec

        if get_method_spec(record.method).artifact is None:
            return BakeoffError(
                f"{what}: method {record.method} keeps no model that predict can load; "
                "choose another with --experiment"
            )
        return BakeoffError(
            f"{what}: nothing was kept for it (run with --keep none, or before bakeoff kept "
            "models); re-run it with `bakeoff run ... --force`"
        )
    return BakeoffError(
        f"{what}: its model is {row.note or 'not kept'}; re-run it with "
        "`bakeoff run ... --keep all --force`, or choose another with --experiment"
    )


def _by_id(store: ResultsStore, wanted: str) -> ExperimentRecord:
    from bakeoff.samples import select_experiments

    [record] = select_experiments(store, [wanted])
    return record


def _winner(store: ResultsStore, task: str) -> tuple[ExperimentRecord, str]:
    from bakeoff.report.analysis import collect
    from bakeoff.report.options import ReportOptions

    tasks = {r.task for r in store.experiments("done")}
    if task not in tasks:
        raise BakeoffError(
            f"--task {task}: no finished experiment of that task in {store.path} "
            f"(tasks: {', '.join(sorted(tasks)) or 'none'})"
        )
    data = collect(store, ReportOptions(challenge_tasks=(task,)))
    section = next(s for s in data.sections if s.task == task)
    verdict = section.verdict

    def named(ids: list[str]) -> str:
        return "; ".join(f"{section.name_of(i)} (--experiment {i})" for i in ids)

    if verdict.status == "baseline":
        raise BakeoffError(
            f"no experiment of {task} is significantly better than always answering the most "
            f"common label, so there is no winner to predict with; the most accurate is "
            f"{named([verdict.leader])}"
            if verdict.leader
            else f"no winner for {task}"
        )
    if verdict.status not in ("winner", "alone") or verdict.leader is None:
        raise BakeoffError(
            f"{task} has no single winner: the data cannot separate {named(verdict.top_group)}; "
            "choose one with --experiment"
        )
    entry = section.entry(verdict.leader)
    runs = sorted(entry.runs, key=lambda e: -e.accuracy)
    for run in runs:
        if artifact_path(store, run.id) is not None:
            return run.record, f"winner of {task}: {entry.name}"
    raise _not_kept(store, runs[0].record)


def choose(
    db: str | Path,
    experiment: str | None = None,
    task: str | None = None,
    artifact: str | Path | None = None,
) -> Chosen:
    """The artifact that ``--experiment``, ``--task`` or ``--artifact`` (exactly one) names."""
    given = [x for x in (experiment, task, artifact) if x]
    if len(given) != 1:
        raise BakeoffError(
            "name what to use with one of --experiment ID, --task TASK (its winner) or "
            "--artifact PATH"
        )
    if artifact:
        path = Path(artifact).expanduser()
        if not path.exists():
            raise BakeoffError(f"--artifact {path}: not found; give a kept model folder or recipe")
        return Chosen(path, None, f"artifact {path}")
    with ResultsStore(db, readonly=True) as store:
        if experiment:
            record = _by_id(store, experiment)
            how = f"experiment {record.id}"
        else:
            assert task is not None
            record, how = _winner(store, task)
        kept = artifact_path(store, record.id)
        if kept is None:
            raise _not_kept(store, record)
        if not kept.exists():
            raise BakeoffError(
                f"{kept}: the kept model of {record.id} is missing from disk (moved or deleted); "
                "re-run it with `bakeoff run ... --force`"
            )
        return Chosen(kept, record, how)


def card_info(db: str | Path, record: ExperimentRecord) -> dict[str, Any]:
    """What the exported model card says about the experiment, from the store."""
    from bakeoff.tasks import BUILTIN_TASKS

    spec = BUILTIN_TASKS.get(record.task)
    with ResultsStore(db, readonly=True) as store:
        counts = store.train_label_counts(record.dataset_key) or []
    training = record.training
    env = record.environment or {}
    hub = spec.hub if spec else None
    source = (f"{hub.path}" + (f" ({hub.name})" if hub.name else "")) if hub else "your own data"
    return {
        "experiment_id": record.id,
        "task": record.task,
        "task_description": spec.description if spec else None,
        "base_model": record.model,
        "data": {
            "source": source,
            "train_split": hub.train_split if hub else "train",
            "licence": spec.licence if spec else None,
            "n_train": training.labels_used if training else sum(counts) or None,
            "eval_split": record.eval_split,
            "n_eval": record.metrics.n if record.metrics else None,
            "fingerprint": record.config.data_fingerprint,
        },
        "metrics": record.metrics.to_json() if record.metrics else {},
        "timing": record.timing.to_json() if record.timing else {},
        "environment": {"cpu": env.get("cpu"), "gpu": env.get("gpu")},
    }


__all__ = ["Chosen", "card_info", "choose"]
