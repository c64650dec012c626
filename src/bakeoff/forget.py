"""Removing experiments from a results store: ``bakeoff forget``.

One broken run (the wrong answer words, a bad setting) otherwise stays in every later report,
paired test and winner choice. Forgetting deletes exactly what the store records as that
experiment's: its row, its predictions and its artifact record in one transaction, then the
kept file or folder that record names, and nothing else. The evaluated examples stay (they are
the data set's, shared by every experiment on it), and so does any file the store does not
record. An artifact path that would lead outside the store's artifacts folder is never deleted.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bakeoff.errors import BakeoffError
from bakeoff.store import ArtifactRow, ExperimentRecord, ResultsStore

#: the shortest id prefix accepted (as for ``--experiment`` elsewhere)
MIN_PREFIX = 4


@dataclass
class ForgetPlan:
    """What forgetting would remove: experiments, and their kept artifacts on disk."""

    experiments: list[ExperimentRecord]
    #: experiment id -> the kept file or folder the store records for it (existing ones only)
    files: dict[str, Path] = field(default_factory=dict)
    #: experiment id -> bytes the store records for that file or folder
    sizes: dict[str, int] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes.values())


def _inside(path: Path, folder: Path) -> bool:
    """``path`` is strictly inside ``folder`` (after resolving links and '..')."""
    try:
        return path.resolve() != folder.resolve() and path.resolve().is_relative_to(
            folder.resolve()
        )
    except OSError:
        return False


def artifact_file(store: ResultsStore, row: ArtifactRow | None) -> Path | None:
    """The kept file or folder a record names, when it exists inside the artifacts folder."""
    if row is None or not row.path:
        return None
    path = store.artifacts_dir / row.path
    if not _inside(path, store.artifacts_dir) or not (path.exists() or path.is_symlink()):
        return None
    return path


def select(
    store: ResultsStore,
    ids: Sequence[str] = (),
    task: str | None = None,
    model: str | None = None,
    method: str | None = None,
) -> ForgetPlan:
    """The experiments named by id (a unique prefix of at least four characters) and/or matching
    every filter given, in any status. Raises a one-line error for an unknown or ambiguous id,
    for no selection at all, and when nothing matches."""
    if not ids and task is None and model is None and method is None:
        raise BakeoffError(
            "name what to forget: experiment ids (see `bakeoff results --format json`), or "
            "--task/--model/--method"
        )
    everything = store.experiments(None)
    chosen = everything
    if ids:
        picked: dict[str, ExperimentRecord] = {}
        for wanted in ids:
            key = wanted.strip().lower()
            hits = [r for r in everything if r.id.startswith(key)]
            if len(key) < MIN_PREFIX or not hits:
                raise BakeoffError(
                    f"no experiment '{wanted}' in {store.path}; list the ids with "
                    "`bakeoff results --format json` (at least 4 characters of one)"
                )
            if len(hits) > 1:
                raise BakeoffError(
                    f"'{wanted}' starts {len(hits)} experiment ids "
                    f"({', '.join(sorted(r.id for r in hits)[:3])}); give more of the id"
                )
            picked[hits[0].id] = hits[0]
        chosen = list(picked.values())
    for value, attr in ((task, "task"), (model, "model"), (method, "method")):
        if value is not None:
            chosen = [r for r in chosen if getattr(r, attr) == value]
    if not chosen:
        given = ", ".join(
            f"--{name} {value}"
            for name, value in (("task", task), ("model", model), ("method", method))
            if value is not None
        )
        raise BakeoffError(
            f"no experiment in {store.path} matches {given or 'those ids'}"
            + (" with those ids" if ids and given else "")
            + "; see `bakeoff results`"
        )
    plan = ForgetPlan(chosen)
    for record in chosen:
        row = store.artifact(record.id)
        path = artifact_file(store, row)
        if path is not None and row is not None:
            plan.files[record.id] = path
            plan.sizes[record.id] = row.bytes
    return plan


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def forget(store: ResultsStore, plan: ForgetPlan) -> list[Path]:
    """Delete the planned experiments (one transaction), then the files their artifact records
    named; returns the files removed. Re-checks each path against the records the transaction
    deleted, so only what the store recorded for these experiments is ever removed."""
    rows = store.forget([r.id for r in plan.experiments])
    removed = []
    for row in rows:
        path = artifact_file(store, row)
        if path is not None:
            _remove(path)
            removed.append(path)
    return removed


__all__ = ["ForgetPlan", "artifact_file", "forget", "select"]
