"""What a grid keeps of each experiment for reuse, and where: the policy behind ``--keep``.

A method that can be reused declares an artifact in its :class:`~bakeoff.methods.MethodSpec`:
``weights`` (a fine-tuned model folder: MiniLM-L6 ~45-90 MB, BERT-base ~220-440 MB, DeBERTa-v3
~370-740 MB, bf16 or fp32 as evaluated) or a ``recipe`` (one JSON file of a few kB that names the
model and holds the prompt and demonstrations). The policies:

- ``best`` (default): every recipe, and the weights of the most accurate fine-tuned model per
  task and evaluation data. A label-budget curve with dozens of fine-tuning runs then costs one
  model folder per task, not dozens; the report's winner among trained models is kept.
- ``all``: every recipe and every model folder (a curve of 30 MiniLM runs: ~1.5-3 GB).
- ``none``: nothing.

The work is split the way executors are: :func:`capture` runs where the experiment ran (a Ray
worker may be another machine) and turns the artifact into bytes that travel with the result;
:func:`place` runs on the driver, the store's only writer, and writes them into the artifacts
folder beside the store before the store records them, in the same transaction that marks the
experiment done. An artifact the store records is never changed in place: a ``--force`` re-run
writes its new artifact under a new name (``ID.PID`` beside ``ID``), records that name in the
transaction that replaces the result, and only after the COMMIT deletes the old one (and any model
the new one displaces, :func:`prune`). A failed final store write (locked, full disk) or a kill at
any point therefore leaves the finished result, its artifact and ``predict -e`` as they were; what
a killed attempt left (a hidden ``.NAME.PID.tmp`` staging copy, or an unrecorded ``ID.PID``) is
deleted by the next run once its process is gone (:func:`sweep`). An artifact that cannot be
saved or written never fails the experiment: the store records why it is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from bakeoff.errors import BakeoffError
from bakeoff.outputs import pid_alive
from bakeoff.store import ArtifactRow, ResultsStore

if TYPE_CHECKING:
    from bakeoff.classifier import Classifier
    from bakeoff.config import ExperimentConfig
    from bakeoff.data import TaskData
    from bakeoff.methods import ArtifactKind, MethodSpec

KeepPolicy = Literal["best", "all", "none"]
KEEP_POLICIES: tuple[str, ...] = ("best", "all", "none")


@dataclass
class CapturedArtifact:
    """An artifact as bytes, on its way from a worker to the driver. ``files`` maps paths
    relative to the artifact folder to their content; a recipe is the single key ``""``."""

    kind: ArtifactKind
    files: dict[str, bytes] = field(default_factory=dict)
    #: why it could not be saved (then ``files`` is empty)
    error: str | None = None

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.files.values())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def capture(
    spec: MethodSpec,
    classifier: Classifier,
    config: ExperimentConfig,
    data: TaskData,
    policy: KeepPolicy,
) -> CapturedArtifact | None:
    """Save the method's artifact into a temporary folder and read it back as bytes (None when
    the method keeps nothing or the policy is ``none``). Runs after the timed evaluation, so it
    never counts in the experiment's timings."""
    if policy == "none" or spec.artifact is None or spec.save_artifact is None:
        return None
    with tempfile.TemporaryDirectory(prefix="bakeoff-artifact-") as tmp:
        target = Path(tmp) / ("model" if spec.artifact == "weights" else "recipe.json")
        try:
            spec.save_artifact(classifier, config, data, target)
        except Exception as exc:  # a failed save must not cost the finished evaluation
            return CapturedArtifact(
                spec.artifact, error=f"not kept: saving failed ({_first_line(exc)})"
            )
        if target.is_file():
            return CapturedArtifact(spec.artifact, {"": target.read_bytes()})
        files = {
            p.relative_to(target).as_posix(): p.read_bytes()
            for p in sorted(target.rglob("*"))
            if p.is_file()
        }
        return CapturedArtifact(spec.artifact, files)


#: an artifact's name: the experiment id, with ``.PID`` (and ``-N``) when a re-run wrote it
#: beside the recorded one, ``.json`` for a one-file artifact
_NAME = re.compile(r"^(?P<id>[0-9a-f]+)(?:\.(?P<pid>\d+)(?:-\d+)?)?(?P<json>\.json)?$")
#: a staging copy being written by process PID
_STAGING = re.compile(r"^\.(?P<name>[0-9a-f]+(?:\.\d+(?:-\d+)?)?(?:\.json)?)\.(?P<pid>\d+)\.tmp$")
#: a staging folder of bakeoff before 0.x (``tempfile.mkdtemp`` name, no pid): removed once it
#: is older than any write could take
_LEGACY_STAGING = re.compile(r"^\.[0-9a-f]+(?:\.json)?-[a-z0-9_]{8}$")
LEGACY_STAGING_AGE_S = 3600.0


def _fresh_name(folder: Path, experiment_id: str, kind: ArtifactKind) -> str:
    """A name in ``folder`` that nothing uses: the experiment id when free (a first run), else
    ``ID.PID`` so the recorded artifact stays untouched until the new one is committed."""
    suffix = "" if kind == "weights" else ".json"
    candidates = [f"{experiment_id}{suffix}"]
    candidates += [
        f"{experiment_id}.{os.getpid()}{f'-{n}' if n else ''}{suffix}" for n in range(99)
    ]
    for rel in candidates:
        path = folder / rel
        if not path.exists() and not path.is_symlink():
            return rel
    raise OSError(f"no free name for {experiment_id} in {folder}")


def _write(captured: CapturedArtifact, target: Path) -> None:
    """Write into a hidden sibling named after this process, then rename it to ``target`` (a
    name nothing uses): a reader never sees half, and a killed write is recognisably ours."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        if "" in captured.files:
            staged.write_bytes(captured.files[""])
        else:
            for rel, content in captured.files.items():
                path = staged / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
            staged.mkdir(exist_ok=True)  # a folder artifact with no files
        if target.exists() or target.is_symlink():
            raise FileExistsError(f"{target} appeared while writing")
        os.rename(staged, target)
    finally:
        _remove(staged)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@dataclass
class Placement:
    """What :func:`place` did: the record for the store, and what to remove once it is
    committed: the artifact this one replaces (``superseded``, relative to the artifacts folder)
    and the models it displaced, as (experiment id, note)."""

    row: ArtifactRow
    displaced: list[tuple[str, str]] = field(default_factory=list)
    written: Path | None = None
    superseded: str | None = None

    def undo(self) -> None:
        """The store did not take the record: remove what was written for it (a new name, never
        the artifact the store still records)."""
        if self.written is not None:
            _remove(self.written)


def place(
    store: ResultsStore,
    experiment_id: str,
    name: str,
    dataset_key: str,
    accuracy: float,
    captured: CapturedArtifact,
    policy: KeepPolicy,
) -> Placement:
    """Decide whether to keep ``captured`` under ``policy`` and write it into the store's
    artifacts folder if so. ``name`` is how the experiment is shown in the note of a model it
    displaces."""
    now = time.time()
    recorded = store.artifact(experiment_id)
    superseded = recorded.path if recorded is not None and recorded.path else None
    _sweep_experiment(store, experiment_id, superseded)
    if captured.error is not None:
        row = ArtifactRow(experiment_id, captured.kind, None, 0, captured.error, now)
        return Placement(row, superseded=superseded)
    displaced: list[tuple[str, str]] = []
    if captured.kind == "weights" and policy == "best":
        rivals = [
            (other, acc) for other, acc in store.kept_weights(dataset_key) if other != experiment_id
        ]
        better = [other for other, acc in rivals if acc >= accuracy]
        if better:
            note = (
                f"not kept: a more accurate fine-tuned model for this task is ({better[0]}); "
                "--keep all keeps every one"
            )
            row = ArtifactRow(experiment_id, captured.kind, None, 0, note, now)
            return Placement(row, superseded=superseded)
        displaced = [
            (
                other,
                f"removed: {name} ({experiment_id}) is more accurate on this task; "
                "--keep all keeps every one",
            )
            for other, _ in rivals
        ]
    try:
        rel = _fresh_name(store.artifacts_dir, experiment_id, captured.kind)
        target = store.artifacts_dir / rel
        _write(captured, target)
    except OSError as exc:
        note = f"not kept: writing to {store.artifacts_dir} failed ({_first_line(exc)})"
        row = ArtifactRow(experiment_id, captured.kind, None, 0, note, now)
        return Placement(row, superseded=superseded)
    row = ArtifactRow(experiment_id, captured.kind, rel, captured.size, None, now)
    return Placement(row, displaced, target, superseded)


def prune(store: ResultsStore, placement: Placement) -> None:
    """After the new record is committed: delete the artifact it replaced, then, for each model
    it displaced, record why in the store first and delete the folder after (a kill in between
    leaves an unrecorded folder for :func:`sweep`, never a record of a missing one)."""
    if placement.superseded and placement.superseded != placement.row.path:
        _remove(store.artifacts_dir / placement.superseded)
    for other, note in placement.displaced:
        kept = store.artifact(other)
        store.drop_artifact(other, note)
        if kept is not None and kept.path:
            _remove(store.artifacts_dir / kept.path)


def _sweep_experiment(store: ResultsStore, experiment_id: str, recorded: str | None) -> None:
    """Before a new artifact of ``experiment_id`` is written: remove the ones earlier attempts
    left unrecorded (killed between writing and committing). Safe because this process holds
    the experiment's lease, so no other process is writing one for it."""
    folder = store.artifacts_dir
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        if _experiment_of(entry.name) == experiment_id and entry.name != recorded:
            _remove(entry)


def _experiment_of(name: str) -> str | None:
    """The experiment an artifacts-folder entry (or its staging copy) belongs to, if any."""
    staging = _STAGING.match(name)
    match = _NAME.match(staging["name"] if staging else name)
    return match["id"] if match else None


def sweep(store: ResultsStore) -> list[Path]:
    """Remove what killed runs left in the artifacts folder: staging copies and unrecorded
    ``ID.PID`` artifacts of processes no longer running, and staging folders of older bakeoff
    versions over an hour old. Nothing that does not match these names, nothing the store
    records, nothing of a live process. Best effort: a failure never stops a run."""
    folder = store.artifacts_dir
    try:
        entries = list(folder.iterdir())
        recorded = {a.path for a in store.artifacts() if a.path}
    except (OSError, BakeoffError):
        return []
    removed = []
    now = time.time()
    for entry in entries:
        staging = _STAGING.match(entry.name)
        name = _NAME.match(entry.name)
        try:
            if staging:
                stale = not pid_alive(int(staging["pid"]))
            elif name and name["pid"]:
                stale = entry.name not in recorded and not pid_alive(int(name["pid"]))
            elif _LEGACY_STAGING.match(entry.name) and entry.is_dir():
                inside = {p.name for p in entry.iterdir()}
                old = now - entry.stat().st_mtime > LEGACY_STAGING_AGE_S
                stale = old and inside <= {"file", "folder"}
            else:
                stale = False
        except OSError:
            continue
        if stale:
            _remove(entry)
            removed.append(entry)
    return removed


def artifact_path(store: ResultsStore, experiment_id: str) -> Path | None:
    """Where an experiment's kept artifact is, or None when nothing is kept for it."""
    row = store.artifact(experiment_id)
    if row is None or not row.path:
        return None
    return store.artifacts_dir / row.path


__all__ = [
    "KEEP_POLICIES",
    "CapturedArtifact",
    "KeepPolicy",
    "Placement",
    "artifact_path",
    "capture",
    "place",
    "prune",
    "sweep",
]
