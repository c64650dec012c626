"""Users' own data: CSV, JSON Lines or Parquet with one text (or a text pair) and a label column,
or a dataset on the Hugging Face hub named by its id (``dataset: org/name``, optional ``config``,
``revision``, ``train_split`` and ``eval_split``), read with the same column options.

Given as CLI flags or a small YAML file (see README). Labels may be strings or numbers, any number
of them >= 2; their order is the sorted order of the values seen in training (numeric when all are
numbers), so it is stable across runs. With one file, a seeded stratified hold-out makes the eval
split.

A label has one spelling whatever the format: 1, 1.0, "1", "+1" and "01" are the label "1" in
CSV, JSON Lines, Parquet and hub datasets alike (the label canon, :mod:`bakeoff.labels`); merged
spellings are noted once. Every problem with a file is one :class:`BakeoffError` line naming the
file, the row (and its line) and the fix, raised while the data is loaded, before any experiment
runs. A row without a label (empty, null, NaN, or a text such as "N/A" or "NULL" that pandas reads
as missing) is refused, never skipped or made a class of its own.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from bakeoff.data import (
    Example,
    TaskData,
    _rows_to_examples,
    _sha256,
    cannot_read,
    not_utf8,
    place,
    read_jsonl_rows,
    stratified_split,
    validate_splits,
)
from bakeoff.errors import BakeoffError
from bakeoff.labels import MISSING_TEXTS, LabelCanon, canon, clean_text
from bakeoff.tasks import TaskPromptSpec, TaskSpec

SUPPORTED = (".csv", ".jsonl", ".json", ".parquet", ".gz")


class CustomDataConfig(BaseModel):
    """How to read a user's data: files (``train_file``, optional ``eval_file``) or a hub
    dataset (``dataset``, optional ``config``, ``revision``, ``train_split``, ``eval_split``).
    Without an eval file or split, a seeded stratified hold-out of the training rows is made."""

    model_config = ConfigDict(extra="forbid")

    name: str = "custom"
    description: str = "user-supplied classification data"
    train_file: Path | None = None
    eval_file: Path | None = None
    #: a Hugging Face dataset id (``org/name``) or a local dataset folder, read by
    #: ``datasets.load_dataset`` instead of files
    dataset: str | None = None
    #: the dataset's configuration (``load_dataset``'s second argument, e.g. ``sst2`` of glue)
    config: str | None = None
    #: a git revision (branch, tag or commit) of the hub dataset, for a fixed version
    revision: str | None = None
    train_split: str = "train"
    #: None: a stratified hold-out of ``train_split`` (``holdout_fraction``)
    eval_split: str | None = None
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str = "label"
    holdout_fraction: float = 0.2
    #: optional explicit label order; default is the sorted distinct training labels
    labels: list[str] | None = None
    #: the task's prompt for prompted methods (flags override): instruction, template with
    #: {text}/{text_pair} or the column names, and an answer word per label value
    #: (numeric labels get names this way: {0: negative, 1: positive})
    instruction: str | None = None
    template: str | None = None
    answer_words: dict[str, str] | None = None

    @field_validator("instruction", "template")
    @classmethod
    def _not_blank(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("is empty; give text, or leave the key out for the default")
        return v

    @field_validator("answer_words", mode="before")
    @classmethod
    def _answer_words(cls, v: Any) -> Any:
        if v is None:
            return v
        if not isinstance(v, dict):
            raise ValueError("expected a mapping of label to answer word, e.g. {0: negative}")
        words = {str(k).strip(): str(w).strip() if w is not None else "" for k, w in v.items()}
        if any(not w for w in words.values()):
            raise ValueError("an answer word is empty; give a word for every label listed")
        seen: dict[str, str] = {}
        for label, word in words.items():
            key = " ".join(word.lower().split())
            if key in seen:
                raise ValueError(
                    f"labels {seen[key]!r} and {label!r} have the same answer word {word!r}; "
                    "give each label its own"
                )
            seen[key] = label
        return words

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not v or not v.replace("_", "").replace("-", "").isalnum():
            raise ValueError("use letters, digits, '-' and '_' only")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> CustomDataConfig:
        """Files or a hub dataset, never both; split keys only where they mean something."""
        if self.dataset is not None and not self.dataset.strip():
            raise ValueError("'dataset' is empty; give a hub dataset id like org/name")
        if self.train_file is None and self.dataset is None:
            raise ValueError(
                "no data given; set train_file (a CSV, JSON Lines or Parquet file) or dataset "
                "(a Hugging Face dataset id)"
            )
        if self.train_file is not None and self.dataset is not None:
            raise ValueError(
                "both train_file and dataset are given; use files or a hub dataset, not both"
            )
        if self.dataset is not None and self.eval_file is not None:
            raise ValueError(
                "eval_file is for files; with a hub dataset, name its eval split with eval_split"
            )
        if self.dataset is None:
            given = [k for k in ("config", "revision", "eval_split") if getattr(self, k)]
            if self.train_split != "train":
                given.append("train_split")
            if given:
                raise ValueError(
                    f"{', '.join(given)}: for a hub dataset only (dataset: org/name); with "
                    "files, use train_file and eval_file"
                )
        return self


def load_custom_config(path: str | Path) -> CustomDataConfig:
    """Read a task YAML; relative file paths are resolved against the YAML's folder."""
    path = Path(path)
    if path.is_dir():
        raise BakeoffError(
            f"task file {path} is a directory, not a file; give the path of a task YAML file"
        )
    if not path.is_file():
        raise BakeoffError(f"task file {path} not found; check the path given to --task-file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BakeoffError(
            f"{path}: not valid YAML ({type(exc).__name__}); fix its syntax"
        ) from None
    if not isinstance(raw, dict):
        raise BakeoffError(f"{path}: expected a mapping of keys like train_file, label_column")
    for key in ("train_file", "eval_file"):
        if raw.get(key):
            p = Path(raw[key]).expanduser()
            raw[key] = p if p.is_absolute() else path.parent / p
    if isinstance(raw.get("dataset"), str):
        # a local dataset folder is relative to the YAML, like files; a hub id stays as it is
        local = path.parent / Path(raw["dataset"]).expanduser()
        if local.is_dir():
            raw["dataset"] = str(local.resolve())
    return parse_custom_config(raw, str(path))


def parse_custom_config(raw: dict[str, Any], where: str) -> CustomDataConfig:
    try:
        return CustomDataConfig(**raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if not loc:  # a rule across keys (files or a dataset): the message names them
            raise BakeoffError(f"{where}: {msg}") from None
        raise BakeoffError(f"{where}: '{loc}': {msg}; fix that key") from None


_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"-?[0-9]+")
_SEPARATORS = ("\t", ";", "|")


@dataclass
class _Table:
    """A data file's rows, where each row is in the file, and the columns it has."""

    #: the file, or a hub dataset's split as ``org/name[split]``
    path: Path | str
    rows: list[dict[str, Any]]
    places: list[str]
    columns: list[str]
    #: label names in the dataset's own order (a hub ``ClassLabel`` column), else None
    label_order: list[str] | None = None


def _check_file(path: Path, what: str) -> None:
    """Refuse a path that is not a readable regular file, saying which of the cases it is."""
    if path.is_dir():
        inside = sorted(p.name for p in path.iterdir() if p.name.lower().endswith(SUPPORTED))[:3]
        hint = f" such as {', '.join(inside)}" if inside else ""
        raise BakeoffError(
            f"{what} {path} is a directory, not a file; give the path of a .csv, .jsonl or "
            f".parquet file{hint}"
        )
    if not path.exists():
        raise BakeoffError(f"{what} {path} not found; check the path")
    if not path.is_file():
        raise BakeoffError(f"{what} {path} is not a regular file; give a .csv, .jsonl or .parquet")


def _read_table(path: Path) -> _Table:
    """Read one data file (CSV, JSON Lines, JSON array, Parquet), refusing what cannot be used."""
    _check_file(path, "data file")
    name = path.name.lower()
    if not name.endswith((".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".json", ".parquet")):
        raise BakeoffError(
            f"{path}: unsupported file type; use .csv, .jsonl (optionally .gz) or .parquet"
        )
    if path.stat().st_size == 0:
        raise BakeoffError(f"{path} is empty (0 bytes); give a file with a header and data rows")
    if name.endswith((".jsonl", ".jsonl.gz", ".json")):
        read = read_jsonl_rows(path)
        return _Table(path, read.rows, read.places, read.columns)
    if name.endswith((".csv", ".csv.gz")):
        return _read_csv(path)
    return _read_parquet(path)


def _read_csv(path: Path) -> _Table:
    """CSV through the csv module, which (unlike pandas) keeps duplicate header names visible
    and says on which line each record starts. Every value stays a string; empty is None.
    Blank lines, and rows whose fields are all blank, hold no data and are skipped (as pandas
    skips blank lines); rows are numbered without them.

    Strict quoting: a quote that never closes or stray text after a closing quote is an error
    with its line number, where pandas would swallow the rest of the file or drop the quote.
    """
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    old_limit = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)  # very long texts are data, not an error
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, strict=True)
            header: list[str] | None = None
            rows: list[dict[str, Any]] = []
            places: list[str] = []
            line = 1
            for record in reader:
                start, line = line, reader.line_num + 1
                if not any(field.strip() for field in record):
                    continue  # blank line
                if header is None:
                    header = _csv_header(path, record)
                    continue
                if len(record) > len(header):
                    raise BakeoffError(
                        f"{path}: line {start} has {len(record)} fields but the header has "
                        f'{len(header)}; quote fields that contain commas ("a, b")'
                    )
                rows.append(
                    {col: (v if v != "" else None) for col, v in zip(header, record)}
                    | {col: None for col in header[len(record) :]}
                )
                places.append(place(len(rows), start))
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc) from None
    except csv.Error as exc:
        raise BakeoffError(
            f"{path}: not well-formed CSV at line {reader.line_num} ({exc}); quote a field "
            'that has commas, quotes or line breaks whole, with its quotes doubled ("say ""hi""")'
        ) from None
    except (OSError, EOFError) as exc:
        raise cannot_read(path, exc) from None
    finally:
        csv.field_size_limit(old_limit)
    if header is None:
        raise BakeoffError(f"{path} is empty (blank lines only); give a header and data rows")
    return _Table(path, rows, places, header)


def _csv_header(path: Path, record: list[str]) -> list[str]:
    """Column names; unnamed columns are named as pandas names them, duplicates are refused."""
    header = [c.strip() or f"Unnamed: {j}" for j, c in enumerate(record)]
    _refuse_duplicates(path, header)
    return header


def _refuse_duplicates(path: Path, columns: Sequence[str]) -> None:
    """Two columns with one name: which one holds the labels cannot be guessed."""
    counts = Counter(columns)
    dups = [c for c in counts if counts[c] > 1]
    if dups:
        where = ", ".join(str(j + 1) for j, c in enumerate(columns) if c == dups[0])
        raise BakeoffError(
            f"{path}: column name {dups[0]!r} is used {counts[dups[0]]} times (columns {where}); "
            "rename the columns so each name is unique"
        )


def _read_parquet(path: Path) -> _Table:
    try:
        import pyarrow.parquet as pq

        columns = list(pq.read_schema(path).names)
        _refuse_duplicates(path, columns)
        import pandas as pd

        frame = pd.read_parquet(path)
    except BakeoffError:
        raise
    except (OSError, EOFError) as exc:
        raise cannot_read(path, exc) from None
    except Exception as exc:  # pyarrow raises ArrowInvalid and friends for a damaged file
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise BakeoffError(
            f"{path}: not a readable Parquet file ({type(exc).__name__}: {first[:160]}); "
            "re-export it, or save the data as CSV or JSON Lines"
        ) from None
    rows = frame.to_dict(orient="records")
    return _Table(
        path, rows, [f"row {i}" for i in range(1, len(rows) + 1)], [str(c) for c in frame.columns]
    )


_TRUE = ("1", "true", "yes", "on")


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` or ``HF_DATASETS_OFFLINE`` forbids the hub."""
    return any(
        os.environ.get(k, "").strip().lower() in _TRUE
        for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def _hub_name(cfg: CustomDataConfig) -> str:
    assert cfg.dataset is not None
    return cfg.dataset + (f" ({cfg.config})" if cfg.config else "")


def _hub_error(cfg: CustomDataConfig, split: str, exc: Exception) -> BakeoffError:
    """One line for every way ``load_dataset`` fails: offline, unknown id, unknown split..."""
    text = str(exc).strip()
    first = (text.splitlines()[0] if text else type(exc).__name__)[:200].rstrip(". ")
    name = _hub_name(cfg)
    if isinstance(exc, ValueError) and "split" in text.lower():
        return BakeoffError(
            f"dataset {name}: {first}; set train_split/eval_split to one of its splits"
        )
    if hub_offline():
        return BakeoffError(
            f"cannot load dataset {name}: offline (HF_HUB_OFFLINE or HF_DATASETS_OFFLINE is set) "
            f"and it is not in the local datasets cache ({first}); run once with the Hugging Face "
            "hub reachable, or save the data as files and use train_file/eval_file"
        )
    return BakeoffError(
        f"cannot load dataset {name} split {split!r} ({type(exc).__name__}: {first}); check the "
        "id and config, connect to the Hugging Face hub, or use train_file/eval_file"
    )


def _read_hub(cfg: CustomDataConfig, split: str, needed: Sequence[str]) -> _Table:
    """One split of a hub dataset (or a local dataset folder) through ``datasets.load_dataset``.

    Only the needed columns are materialised. A ``ClassLabel`` label column is read as its
    names, in the dataset's order; its -1 (unlabelled, as in GLUE's test splits) is a missing
    label, refused with the row like any other.
    """
    assert cfg.dataset is not None
    try:
        import datasets
    except ImportError:  # pragma: no cover - a core dependency
        raise BakeoffError("hub datasets need the datasets package: pip install datasets") from None
    try:
        ds = datasets.load_dataset(cfg.dataset, cfg.config, split=split, revision=cfg.revision)
    except Exception as exc:  # network, offline, unknown id/config/split, damaged cache...
        raise _hub_error(cfg, split, exc) from None
    where = cfg.dataset + (f"/{cfg.config}" if cfg.config else "") + f"[{split}]"
    columns = list(ds.column_names)
    present = [c for c in dict.fromkeys(needed) if c in columns]
    rows = ds.select_columns(present).to_list() if present else [{} for _ in range(len(ds))]
    order = None
    feature = ds.features.get(cfg.label_column)
    if isinstance(feature, datasets.ClassLabel):
        order = list(feature.names)
        for row in rows:
            value = row.get(cfg.label_column)
            if isinstance(value, int) and not isinstance(value, bool):
                row[cfg.label_column] = order[value] if 0 <= value < len(order) else None
    return _Table(
        where, rows, [f"row {i}" for i in range(1, len(rows) + 1)], columns, label_order=order
    )


def _content_hash(table: _Table, needed: Sequence[str]) -> str:
    """A hash of the rows' used columns: identifies hub data whatever its cache or revision."""
    digest = hashlib.sha256()
    for row in table.rows:
        digest.update(json.dumps([row.get(c) for c in needed], default=str).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _label_order(values: set[str]) -> list[str]:
    """Sorted label names; numerically when every label is a number (so 2 sorts before 10).

    Only ASCII digits count: ``str.isdigit`` is true for '²' and int() then fails.
    """
    if values and all(_INTEGER.fullmatch(v) for v in values):
        return sorted(values, key=lambda v: (int(v), v))
    if values and all(_DECIMAL.fullmatch(v) for v in values):
        return sorted(values, key=lambda v: (Decimal(v), v))
    return sorted(values)


def _check_columns(table: _Table, columns: Sequence[str], label_column: str) -> None:
    """Every needed column exists in the file; otherwise name the columns it has."""
    if not table.rows:
        have = f" (columns: {_names(table.columns)})" if table.columns else ""
        raise BakeoffError(f"{table.path}: has no data rows{have}; give a file with data")
    missing = [c for c in columns if c not in table.columns]
    if not missing:
        return
    hint = "set --text-column/--text-pair-column/--label-column to the right names"
    if len(table.columns) == 1 and any(sep in table.columns[0] for sep in _SEPARATORS):
        hint = "the file seems to use another separator than ','; save it as comma-separated"
    else:
        folded = {c.strip().lower(): c for c in table.columns}
        near = [folded[m.strip().lower()] for m in missing if m.strip().lower() in folded]
        if near:
            hint = f"did you mean {near[0]!r}? (names are case-sensitive); " + hint
    raise BakeoffError(
        f"{table.path}: no column{'s' if len(missing) > 1 else ''} "
        f"{', '.join(map(repr, missing))} "
        f"(columns: {_names(table.columns)}); {hint}"
    )


def _names(columns: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(map(repr, columns[:limit]))
    return shown + (f" and {len(columns) - limit} more" if len(columns) > limit else "")


def _labelled(table: _Table, label_column: str, labels: LabelCanon) -> None:
    """Replace each row's label by its canonical spelling (:mod:`bakeoff.labels`); refuse
    missing ones."""
    for row, at in zip(table.rows, table.places):
        if label_column not in row:
            have = ", ".join(map(repr, row)) or "none"
            raise BakeoffError(
                f"{table.path}: {at} has no {label_column!r} (it has: {have}); add it or remove "
                "that row"
            )
        row[label_column] = labels.label(row[label_column], table.path, at)


def _real_missing(cfg: CustomDataConfig) -> set[str]:
    """Missing-looking names listed in the task's ``labels``: a class really called 'None'
    stays a class."""
    names = (clean_text(str(x)) for x in cfg.labels or [])
    return {n for n in names if n and n.lower() in MISSING_TEXTS}


def _explicit_labels(cfg: CustomDataConfig) -> list[str]:
    real = _real_missing(cfg)
    names = [canon(x, real) or "" for x in cfg.labels or []]
    dups = [n for n, k in Counter(names).items() if k > 1]
    if dups or "" in names:
        what = f"{dups[0]!r} twice" if dups else "an empty label"
        raise BakeoffError(f"labels: the list has {what}; give each label once")
    return names


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def load_custom(cfg: CustomDataConfig, seed: int = 99) -> TaskData:
    """Read, validate and (if needed) split a user's data into a :class:`TaskData`.

    Every problem with the files (missing, a directory, not UTF-8, empty, header only, a missing
    or duplicated column, a row that is not an object, a row without a label) is raised as one
    :class:`BakeoffError` line naming the file and the row, before anything is run or written.
    Rows without a label (empty, null or NaN) are refused, not skipped: dropping them silently
    would change the data without the user knowing.
    """
    fields = (cfg.text_column,) + ((cfg.text_pair_column,) if cfg.text_pair_column else ())
    needed = (*fields, cfg.label_column)
    if len(set(needed)) < len(needed):
        raise BakeoffError(
            f"columns {', '.join(map(repr, needed))}: one column is given twice; the text, text "
            "pair and label columns must be different columns"
        )
    if cfg.dataset is not None:
        if cfg.eval_split is not None and cfg.eval_split == cfg.train_split:
            raise BakeoffError(
                f"task '{cfg.name}': eval_split is the train split ({cfg.train_split!r}); name "
                "another split, or leave eval_split out for a stratified hold-out"
            )
        tables = [_read_hub(cfg, cfg.train_split, needed)] + (
            [_read_hub(cfg, cfg.eval_split, needed)] if cfg.eval_split else []
        )
        train_path: Path | str = tables[0].path
        eval_path: Path | str | None = tables[1].path if cfg.eval_split else None
    else:
        assert cfg.train_file is not None
        train_path = Path(cfg.train_file)
        eval_path = Path(cfg.eval_file) if cfg.eval_file else None
        if eval_path is not None and _same_file(train_path, eval_path):
            raise BakeoffError(
                f"the eval file {eval_path} is the train file; give a separate eval file, or "
                "omit it for a stratified hold-out"
            )
        tables = [_read_table(train_path)] + ([_read_table(eval_path)] if eval_path else [])
    labels = LabelCanon(cfg.label_column, _real_missing(cfg))
    for table in tables:
        _check_columns(table, needed, cfg.label_column)
        _labelled(table, cfg.label_column, labels)
    train_table = tables[0]
    eval_table = tables[1] if eval_path else None
    seen = {r[cfg.label_column] for r in train_table.rows}
    if cfg.labels:
        names = _explicit_labels(cfg)
    elif train_table.label_order is not None:  # the dataset's own order, as the hub shows it
        order = (canon(n) for n in train_table.label_order)
        names = list(dict.fromkeys(n for n in order if n is not None and n in seen))
        names += _label_order(seen - set(names))
    else:
        names = _label_order(seen)
    if len(names) < 2:
        only = names[0] if names else "none"
        raise BakeoffError(
            f"{train_path}: the training data has a single class ({only!r}); "
            "a classifier needs at least two labels"
        )
    label_of = {name: i for i, name in enumerate(names)}
    task = TaskSpec(
        name=cfg.name,
        description=cfg.description,
        text_fields=fields,
        label_names=tuple(names),
        label_field=cfg.label_column,
        prompt=_task_prompt(cfg, names),
    )
    train = _rows_to_examples(
        train_table.rows, task, str(train_path), label_of=label_of, places=train_table.places
    )
    if eval_table is not None and eval_path is not None:
        unseen = sorted({r[cfg.label_column] for r in eval_table.rows} - set(label_of))
        if unseen:
            raise BakeoffError(
                f"{eval_path}: eval labels {', '.join(map(repr, unseen[:5]))}"
                f"{f' and {len(unseen) - 5} more' if len(unseen) > 5 else ''} never occur in "
                "training; add training rows for them or drop them from the eval file"
            )
        eval_ = _rows_to_examples(
            eval_table.rows, task, str(eval_path), label_of=label_of, places=eval_table.places
        )
        eval_split = cfg.eval_split if cfg.dataset is not None and cfg.eval_split else "eval"
        hashed = f"{_data_hash(cfg, train_table, needed)}:{_data_hash(cfg, eval_table, needed)}"
    else:
        train, eval_ = stratified_split(train, cfg.holdout_fraction, seed)
        eval_split = f"holdout{cfg.holdout_fraction:g}"
        hashed = f"{_data_hash(cfg, train_table, needed)}:holdout:{cfg.holdout_fraction}:{seed}"
    validate_splits(task, train, eval_, f"task '{cfg.name}'")
    columns = f"{cfg.text_column}|{cfg.text_pair_column}|{cfg.label_column}|{names}"
    fingerprint = hashlib.sha256(f"{hashed}:{columns}".encode()).hexdigest()[:16]
    if cfg.dataset is not None:
        source = f"dataset:{train_path}" + (f",{eval_path}" if eval_path else "")
    else:
        source = f"files:{cfg.train_file}" + (f",{cfg.eval_file}" if cfg.eval_file else "")
    return TaskData(
        task=task,
        train=train,
        eval=eval_,
        train_split=cfg.train_split if cfg.dataset is not None else "train",
        eval_split=eval_split,
        source=source,
        fingerprint=fingerprint,
        notes=[n for n in [labels.note(cfg.name)] if n],
        label_spellings={k: dict(v) for k, v in labels.spellings.items()},
    )


def _data_hash(cfg: CustomDataConfig, table: _Table, needed: Sequence[str]) -> str:
    """Files: the file's bytes (as always, so existing experiment ids stay). Hub datasets: the
    used columns' content, so the same data gives the same id whatever cache it came from."""
    if cfg.dataset is None:
        assert isinstance(table.path, Path)
        return _sha256(table.path)
    return _content_hash(table, needed)


__all__ = ["CustomDataConfig", "Example", "load_custom", "load_custom_config"]


def _task_prompt(cfg: CustomDataConfig, names: Sequence[str]) -> TaskPromptSpec | None:
    """The task YAML's prompt keys, with answer words checked against the labels found."""
    if cfg.instruction is None and cfg.template is None and cfg.answer_words is None:
        return None
    words = None
    if cfg.answer_words is not None:
        real = _real_missing(cfg)
        canon_words = {canon(k, real) or k: w for k, w in cfg.answer_words.items()}
        unknown = sorted(set(canon_words) - set(names))
        if unknown:
            raise BakeoffError(
                f"task '{cfg.name}': answer_words names label(s) {', '.join(unknown)} that the "
                f"data does not have (labels: {', '.join(names)}); fix the keys"
            )
        missing = [n for n in names if n not in canon_words]
        if missing:
            raise BakeoffError(
                f"task '{cfg.name}': answer_words lacks label(s) {', '.join(missing)}; give an "
                "answer word for every label"
            )
        words = tuple(canon_words[n] for n in names)
    return TaskPromptSpec(cfg.instruction, cfg.template, words)
