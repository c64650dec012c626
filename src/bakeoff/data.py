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
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
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
    #: one-line notes for the user about how the data was read (label spellings merged)
    notes: list[str] = field(default_factory=list)
    #: users' data: each label and the raw spellings in the files that became it, with their rows
    label_spellings: dict[str, dict[str, int]] = field(default_factory=dict)


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


def _check_text(value: Any, column: str, row: int | str, where: str) -> str:
    """The text of one field; ``row`` is the row's number or its place ('row 4 (line 6)')."""
    at = f"row {row}" if isinstance(row, int) else row
    if value is None or (isinstance(value, float) and value != value):
        raise BakeoffError(
            f"{where}: {at} has no '{column}' value; fill or remove rows with empty text"
        )
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise BakeoffError(
                f"{where}: {at} has a '{column}' that is not UTF-8 text; store it as text"
            ) from None
    if not isinstance(value, (str, int, float)):
        raise BakeoffError(
            f"{where}: {at} has a '{column}' that is {json_kind(value)}, not text; "
            "give one string per row"
        )
    text = str(value)
    if not text.strip():
        raise BakeoffError(
            f"{where}: {at} has an empty '{column}'; fill or remove rows with empty text"
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


def file_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed when it is gzipped."""
    if path.name.lower().endswith(".gz"):
        with gzip.open(path, "rb") as fh:
            return fh.read()
    return path.read_bytes()


def not_utf8(path: Path, exc: UnicodeDecodeError | None = None) -> BakeoffError:
    """The one-line error for a file that is not UTF-8, naming the first bad byte's line and offset.

    The offset in a decoder's exception counts from the start of the block it was decoding (text
    files, pandas and gzip all decode in blocks), so it is wrong for any bad byte past the first
    block. The file is decoded again here, whole, to find where the bad byte really is.
    """
    try:
        raw = file_bytes(path)
        raw.decode("utf-8")
    except UnicodeDecodeError as whole:
        start = whole.start
        line = raw.count(b"\n", 0, start) + 1
        column = start - (raw.rfind(b"\n", 0, start) + 1) + 1
        where = "uncompressed byte" if path.name.lower().endswith(".gz") else "byte"
        hint = ""
        encoding = _wide_encoding(raw)
        if encoding:
            hint = f" (it looks like {encoding} text)"
        elif _looks_single_byte(raw):
            hint = " (it looks like Latin-1 or Windows-1252)"
        return BakeoffError(
            f"{path}: not valid UTF-8: byte 0x{raw[start]:02x} on line {line}, column {column} "
            f"({where} offset {start}){hint}; re-save the file as UTF-8"
        )
    except (OSError, EOFError):
        pass
    detail = f" (byte 0x{exc.object[exc.start]:02x})" if exc is not None else ""
    return BakeoffError(f"{path}: not valid UTF-8{detail}; re-save the file as UTF-8")


#: byte-order marks of the wide encodings, UTF-32 first (its little-endian mark starts like
#: UTF-16's); also read by ``predict``'s input check
WIDE_BOMS = (
    ("UTF-32", (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")),
    ("UTF-16", (b"\xff\xfe", b"\xfe\xff")),
)


def _wide_encoding(raw: bytes) -> str | None:
    """UTF-32 or UTF-16, from a byte-order mark or from NUL bytes on every other (or every fourth)
    position: spreadsheets and Windows tools save such files, and calling them Latin-1 misleads."""
    for name, marks in WIDE_BOMS:
        if raw.startswith(marks):
            return name
    head = raw[:4096]
    if len(head) >= 8:
        if head[1::4].count(0) + head[2::4].count(0) + head[3::4].count(0) >= 0.9 * 3 * (
            len(head) // 4
        ):
            return "UTF-32"
        even, odd = head[0::2].count(0), head[1::2].count(0)
        if max(even, odd) >= 0.4 * (len(head) // 2):
            return "UTF-16"
    return None


def _looks_single_byte(raw: bytes) -> bool:
    """True when the bytes read as Windows-1252: the usual reason a file is not UTF-8."""
    try:
        raw.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return True


def cannot_read(path: Path, exc: BaseException) -> BakeoffError:
    """The one-line error for a file the OS or the decompressor refuses to read."""
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return BakeoffError(
        f"{path}: cannot be read ({reason}); check that it is a readable, complete file"
    )


@dataclass
class Rows:
    """Rows read from a data file, with where each one is in the file (for error messages)."""

    rows: list[dict[str, Any]]
    #: per row, e.g. "row 4" or "row 4 (line 6)": the 1-based row and, where it differs, its line
    places: list[str]
    #: every column (key) seen, in order of first appearance
    columns: list[str]


def place(row: int, line: int | None) -> str:
    """'row 4', or 'row 4 (line 6)' where the row does not sit on the line of the same number."""
    return f"row {row}" if line is None or line == row else f"row {row} (line {line})"


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """object_pairs_hook for json: a key given twice is refused instead of the last one winning
    silently (which of two 'label' values is meant cannot be guessed)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def json_kind(value: Any) -> str:
    """How a JSON value that is not an object is named in an error: 'null', 'a list', ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _json_rows(path: Path, text: str) -> Rows:
    """A .json file holding one array of objects (the other common JSON export)."""
    try:
        items = json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as dup:
        raise BakeoffError(
            f"{path}: an object has the key {dup.key!r} twice; keep one of them"
        ) from None
    except json.JSONDecodeError as exc:
        raise BakeoffError(
            f"{path}: not valid JSON ({exc.msg} on line {exc.lineno}, column {exc.colno}); "
            "fix it, or write one JSON object per line (JSON Lines)"
        ) from None
    rows: list[dict[str, Any]] = []
    for i, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise BakeoffError(
                f"{path}: item {i} of the array is {json_kind(item)}, not an object; every item "
                'must be an object such as {"text": "...", "label": "..."}'
            )
        rows.append(item)
    return Rows(rows, [f"row {i}" for i in range(1, len(rows) + 1)], _columns(rows))


def _columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def read_jsonl_rows(path: Path) -> Rows:
    """Read a (possibly gzipped) JSON Lines file strictly as UTF-8, one object per line.

    Blank lines are skipped; a line that is not a JSON object (a list, a string, ``null``), or an
    object with a key given twice, is refused with its line number. A ``.json`` file that holds one
    JSON array of objects is read as well.
    """
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    rows: list[dict[str, Any]] = []
    places: list[str] = []
    try:
        with opener(path, "rt", encoding="utf-8-sig") as fh:
            if path.name.lower().endswith(".json"):
                text = fh.read()
                if text.lstrip().startswith("["):
                    return _json_rows(path, text)
                lines: Iterable[str] = text.splitlines()
            else:
                lines = fh
            for lineno, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line, object_pairs_hook=_unique_keys)
                except _DuplicateKey as dup:
                    raise BakeoffError(
                        f"{path}: line {lineno} has the key {dup.key!r} twice; keep one of them"
                    ) from None
                except json.JSONDecodeError as exc:
                    raise BakeoffError(
                        f"{path}: line {lineno} is not valid JSON ({exc.msg}); fix or remove that "
                        "line (JSON Lines needs one whole object per line)"
                    ) from None
                if not isinstance(obj, dict):
                    raise BakeoffError(
                        f"{path}: line {lineno} is {json_kind(obj)}, not a JSON object; every "
                        'line must be one object such as {"text": "...", "label": "..."}'
                    )
                rows.append(obj)
                places.append(place(len(rows), lineno))
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc) from None
    except (OSError, EOFError) as exc:
        raise cannot_read(path, exc) from None
    return Rows(rows, places, _columns(rows))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSON Lines file (see :func:`read_jsonl_rows`)."""
    return read_jsonl_rows(path).rows


def _rows_to_examples(
    rows: Sequence[dict[str, Any]],
    task: TaskSpec,
    where: str,
    label_of: dict[Any, int] | None = None,
    places: Sequence[str] | None = None,
) -> list[Example]:
    """Validated examples; ``places`` names each row in errors (default 'row N')."""
    examples = []
    for i, row in enumerate(rows, start=1):
        at = places[i - 1] if places is not None else f"row {i}"
        for col in (*task.text_fields, task.label_field):
            if col not in row:
                have = ", ".join(map(repr, row)) or "none"
                raise BakeoffError(
                    f"{where}: {at} has no {col!r} (it has: {have}); add it or remove that row"
                )
        raw_label = row[task.label_field]
        if raw_label is None or (isinstance(raw_label, float) and raw_label != raw_label):
            raise BakeoffError(
                f"{where}: {at} has no '{task.label_field}' value; fill in its label or remove "
                "that row"
            )
        if label_of is not None:
            if raw_label not in label_of:
                raise BakeoffError(
                    f"{where}: {at} has label {raw_label!r}, not one of "
                    f"{', '.join(map(repr, label_of))}; fix the label or the label list"
                )
            label = label_of[raw_label]
        else:
            number = _label_id(raw_label)
            if number is None or not 0 <= number < task.num_labels:
                raise BakeoffError(
                    f"{where}: {at} has label {raw_label!r}, expected an integer "
                    f"0..{task.num_labels - 1}; fix that row"
                )
            label = number
        text = _check_text(row[task.text_fields[0]], task.text_fields[0], at, where)
        pair = (
            _check_text(row[task.text_fields[1]], task.text_fields[1], at, where)
            if task.is_pair
            else None
        )
        examples.append(Example(text=text, label=label, text_pair=pair))
    return examples


def _label_id(value: Any) -> int | None:
    """A built-in task's label as an integer id: 1, 1.0 and "1" are 1; anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str) and re.fullmatch(r"\s*[0-9]+\s*", value):
        return int(value)
    return None


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
    train_rows, eval_rows = read_jsonl_rows(train_path), read_jsonl_rows(eval_path)
    train = _rows_to_examples(train_rows.rows, task, str(train_path), places=train_rows.places)
    eval_ = _rows_to_examples(eval_rows.rows, task, str(eval_path), places=eval_rows.places)
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
