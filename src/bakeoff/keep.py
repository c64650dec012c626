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
experiment done. A folder that a later, more accurate model displaces is deleted only after that
model's record is committed (:func:`prune`). An artifact that cannot be saved or written never
fails the experiment: the store records why it is missing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

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


def _write(captured: CapturedArtifact, target: Path) -> None:
    """Write into a temporary sibling, then rename over ``target``: a reader never sees half."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        if "" in captured.files:
            staged = tmp / "file"
            staged.write_bytes(captured.files[""])
        else:
            staged = tmp / "folder"
            for rel, content in captured.files.items():
                path = staged / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        os.replace(staged, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@dataclass
class Placement:
    """What :func:`place` did: the record for the store, and what to remove once it is
    committed (the models it displaced, as (experiment id, note))."""

    row: ArtifactRow
    displaced: list[tuple[str, str]] = field(default_factory=list)
    written: Path | None = None

    def undo(self) -> None:
        """The store did not take the record: remove what was written for it."""
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
    if captured.error is not None:
        return Placement(ArtifactRow(experiment_id, captured.kind, None, 0, captured.error, now))
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
            return Placement(ArtifactRow(experiment_id, captured.kind, None, 0, note, now))
        displaced = [
            (
                other,
                f"removed: {name} ({experiment_id}) is more accurate on this task; "
                "--keep all keeps every one",
            )
            for other, _ in rivals
        ]
    rel = experiment_id if captured.kind == "weights" else f"{experiment_id}.json"
    target = store.artifacts_dir / rel
    try:
        _write(captured, target)
    except OSError as exc:
        _remove(target)
        note = f"not kept: writing to {store.artifacts_dir} failed ({_first_line(exc)})"
        return Placement(ArtifactRow(experiment_id, captured.kind, None, 0, note, now))
    row = ArtifactRow(experiment_id, captured.kind, rel, captured.size, None, now)
    return Placement(row, displaced, target)


def prune(store: ResultsStore, placement: Placement) -> None:
    """After the new record is committed: delete the folders it displaced and say why."""
    for other, note in placement.displaced:
        kept = store.artifact(other)
        if kept is not None and kept.path:
            _remove(store.artifacts_dir / kept.path)
        store.drop_artifact(other, note)


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
]
