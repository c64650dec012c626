"""Loading task data: the local JSON Lines layout, the Hugging Face hub, and users' own files.

Everything is turned into plain :class:`Example` lists with integer labels indexing the task's
``label_names``. Validation happens here, once, so methods can trust what they receive: no empty
texts, valid UTF-8, at least two classes, no eval label unseen in training.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bakeoff.errors import BakeoffError
from bakeoff.tasks import TaskSpec

DATA_DIR_ENV = "BAKEOFF_DATA_DIR"


@dataclass(frozen=True)
class Example:
    """One input (a text or a text pair) with its gold label id."""

    text: str
    label: int
    text_pair: str | None = None


@dataclass
class TaskData:
    """A task's training examples and the examples it is evaluated on."""

    task: TaskSpec
    train: list[Example]
    eval: list[Example]
    train_split: str
    eval_split: str
    source: str
    #: identifies the exact data (file hashes or hub revision), part of every experiment's id
    fingerprint: str


# ---------------------------------------------------------------------------------------------
# sampling


def stratified_indices(labels: Sequence[int], n: int, seed: int) -> list[int]:
    """Sorted indices of a seeded random sample of ``n`` items keeping the class proportions.

    Used for ``--train-limit`` (never the first N rows, which can be ordered by source or label)
    and for quick ``--eval-limit`` looks.
    """
    if n >= len(labels):
        return list(range(len(labels)))
    from sklearn.model_selection import train_test_split

    counts = Counter(labels)
    stratify = list(labels) if min(counts.values()) >= 2 and n >= len(counts) else None
    picked, _ = train_test_split(
        list(range(len(labels))), train_size=n, stratify=stratify, random_state=seed
    )
    return sorted(picked)


def stratified_sample(examples: Sequence[Example], n: int, seed: int) -> list[Example]:
    """The examples at :func:`stratified_indices`."""
    return [examples[i] for i in stratified_indices([ex.label for ex in examples], n, seed)]


def stratified_split(
    examples: Sequence[Example], eval_fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """Seeded stratified hold-out: (train, eval). For users who have one labelled file."""
    from sklearn.model_selection import train_test_split

    if not 0.0 < eval_fraction < 1.0:
        raise BakeoffError(
            f"holdout fraction must be between 0 and 1, got {eval_fraction}; use e.g. 0.2"
        )
    labels = [ex.label for ex in examples]
    counts = Counter(labels)
    n_eval = round(len(examples) * eval_fraction)
    if min(counts.values()) < 2 or n_eval < len(counts) or len(examples) - n_eval < len(counts):
        raise BakeoffError(
            f"too few rows ({len(examples)}, smallest class {min(counts.values())}) for a "
            f"stratified {eval_fraction:.0%} hold-out; give a separate eval file or more data"
        )
    train_idx, eval_idx = train_test_split(
        list(range(len(examples))), test_size=n_eval, stratify=labels, random_state=seed
    )
    return [examples[i] for i in sorted(train_idx)], [examples[i] for i in sorted(eval_idx)]


# ---------------------------------------------------------------------------------------------
# validation


def _check_text(value: Any, column: str, row: int, where: str) -> str:
    if value is None or (isinstance(value, float) and value != value):
        raise BakeoffError(
            f"{where}: row {row} has no '{column}' value; fill or remove rows with empty text"
        )
    text = str(value)
    if not text.strip():
        raise BakeoffError(
            f"{where}: row {row} has an empty '{column}'; fill or remove rows with empty text"
        )
    return text


def validate_splits(task: TaskSpec, train: list[Example], eval_: list[Example], where: str) -> None:
    """Refuse data no method can learn from or be scored on, before any experiment starts."""
    if not eval_:
        raise BakeoffError(f"{where}: the eval split is empty; give an eval file with rows")
    if not train:
        raise BakeoffError(f"{where}: the train split is empty; give a train file with rows")
    train_labels = {ex.label for ex in train}
    if len(train_labels) < 2:
        only = task.label_names[next(iter(train_labels))]
        raise BakeoffError(
            f"{where}: the training data has a single class ('{only}'); "
            "a classifier needs at least two labels in training"
        )
    unseen = sorted({ex.label for ex in eval_} - train_labels)
    if unseen:
        names = ", ".join(repr(task.label_names[i]) for i in unseen)
        raise BakeoffError(
            f"{where}: eval labels {names} never occur in training; "
            "add training rows for them or drop them from the eval file"
        )


# ---------------------------------------------------------------------------------------------
# built-in tasks


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _find_split_file(folder: Path, split: str) -> Path | None:
    for suffix in (".jsonl", ".jsonl.gz"):
        candidate = folder / f"{split}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def not_utf8(path: Path, exc: UnicodeDecodeError) -> BakeoffError:
    """The one-line error for a file that is not UTF-8, naming the first bad byte."""
    return BakeoffError(
        f"{path}: not valid UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
        "re-save the file as UTF-8"
    )


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a (possibly gzipped) JSON Lines file strictly as UTF-8."""
    opener = gzip.open if path.suffix == ".gz" else open
    rows: list[dict[str, Any]] = []
    try:
        with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise BakeoffError(
                        f"{path}: line {lineno} is not valid JSON ({exc.msg}); "
                        "fix or remove that line"
                    ) from None
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc) from None
    return rows


def _rows_to_examples(
    rows: Sequence[dict[str, Any]],
    task: TaskSpec,
    where: str,
    label_of: dict[Any, int] | None = None,
) -> list[Example]:
    examples = []
    for i, row in enumerate(rows, start=1):
        for col in (*task.text_fields, task.label_field):
            if col not in row:
                raise BakeoffError(
                    f"{where}: row {i} has no column '{col}'; "
                    f"expected columns {', '.join((*task.text_fields, task.label_field))}"
                )
        raw_label = row[task.label_field]
        if raw_label is None:
            raise BakeoffError(
                f"{where}: row {i} has no '{task.label_field}' value; fill or remove that row"
            )
        if label_of is not None:
            if raw_label not in label_of:
                raise BakeoffError(
                    f"{where}: row {i} has label {raw_label!r}, not one of "
                    f"{', '.join(map(repr, label_of))}; fix the label or the label list"
                )
            label = label_of[raw_label]
        else:
            label = int(raw_label)
            if not 0 <= label < task.num_labels:
                raise BakeoffError(
                    f"{where}: row {i} has label {raw_label!r}, expected 0..{task.num_labels - 1}"
                )
        text = _check_text(row[task.text_fields[0]], task.text_fields[0], i, where)
        pair = (
            _check_text(row[task.text_fields[1]], task.text_fields[1], i, where)
            if task.is_pair
            else None
        )
        examples.append(Example(text=text, label=label, text_pair=pair))
    return examples


def resolve_data_dir(data_dir: str | Path | None) -> Path | None:
    """``--data-dir`` wins, then ``$BAKEOFF_DATA_DIR``; None means 'use the hub'."""
    chosen = data_dir if data_dir not in (None, "") else os.environ.get(DATA_DIR_ENV) or None
    if chosen is None:
        return None
    path = Path(chosen).expanduser()
    if not path.is_dir():
        raise BakeoffError(
            f"data directory {path} does not exist; pass an existing folder to --data-dir "
            f"or fix ${DATA_DIR_ENV}"
        )
    return path


def _load_local(task: TaskSpec, root: Path) -> TaskData | None:
    assert task.local is not None
    folder = root / task.name
    train_path = _find_split_file(folder, task.local.train_split)
    eval_path = _find_split_file(folder, task.local.eval_split)
    if train_path is None or eval_path is None:
        return None
    train = _rows_to_examples(read_jsonl(train_path), task, str(train_path))
    eval_ = _rows_to_examples(read_jsonl(eval_path), task, str(eval_path))
    fingerprint = hashlib.sha256(
        f"{_sha256(train_path)}:{_sha256(eval_path)}".encode()
    ).hexdigest()[:16]
    note = f" ({task.local.note})" if task.local.note else ""
    return TaskData(
        task=task,
        train=train,
        eval=eval_,
        train_split=task.local.train_split,
        eval_split=task.local.eval_split,
        source=f"local:{folder}{note}",
        fingerprint=fingerprint,
    )


def _load_hub(task: TaskSpec) -> TaskData:
    """Load a built-in task through ``datasets`` with the standard hub names and splits."""
    assert task.hub is not None
    import datasets

    hub = task.hub
    splits = {}
    for split in (hub.train_split, hub.eval_split):
        ds = datasets.load_dataset(hub.path, hub.name, split=split)
        rows = [dict(r) for r in ds]
        for row in rows:
            for src, dst in hub.rename.items():
                row[dst] = row.pop(src)
        splits[split] = rows
    where = f"hub:{hub.path}" + (f"/{hub.name}" if hub.name else "")
    train = _rows_to_examples(splits[hub.train_split], task, f"{where}[{hub.train_split}]")
    eval_ = _rows_to_examples(splits[hub.eval_split], task, f"{where}[{hub.eval_split}]")
    return TaskData(
        task=task,
        train=train,
        eval=eval_,
        train_split=hub.train_split,
        eval_split=hub.eval_split,
        source=where,
        fingerprint=hashlib.sha256(
            f"{where}:{hub.train_split}:{hub.eval_split}".encode()
        ).hexdigest()[:16],
    )


def load_builtin(task: TaskSpec, data_dir: str | Path | None = None) -> TaskData:
    """Find a built-in task's data: the local folder first, then the hub; one clear error if neither."""
    root = resolve_data_dir(data_dir)
    looked = "no --data-dir or $BAKEOFF_DATA_DIR given"
    if root is not None and task.local is not None:
        data = _load_local(task, root)
        if data is not None:
            validate_splits(task, data.train, data.eval, data.source)
            return data
        looked = f"no {task.name}/{task.local.train_split}.jsonl[.gz] and {task.local.eval_split}.jsonl[.gz] under {root}"
    try:
        data = _load_hub(task)
    except BakeoffError:
        raise
    except Exception as exc:  # network, missing dataset, offline mode...
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:160]
        raise BakeoffError(
            f"cannot find data for task '{task.name}': {looked}, and the Hugging Face hub failed "
            f"({reason}); pass --data-dir DIR (or set ${DATA_DIR_ENV}) to a folder with the JSON "
            "Lines layout, or connect to the hub"
        ) from None
    validate_splits(task, data.train, data.eval, data.source)
    return data
