"""Users' own data: CSV, JSON Lines or Parquet with one text (or a text pair) and a label column.

Given as CLI flags or a small YAML file (see README). Labels may be strings or integers, any number
of them >= 2; their order is the sorted order of the values seen in training, so it is stable
across runs. With one file, a seeded stratified hold-out makes the eval split.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from bakeoff.data import (
    Example,
    TaskData,
    _rows_to_examples,
    _sha256,
    not_utf8,
    read_jsonl,
    stratified_split,
    validate_splits,
)
from bakeoff.errors import BakeoffError
from bakeoff.tasks import TaskSpec

SUPPORTED = (".csv", ".jsonl", ".json", ".parquet", ".gz")


class CustomDataConfig(BaseModel):
    """How to read a user's files. ``eval_file`` is optional: without it, a hold-out is made."""

    model_config = ConfigDict(extra="forbid")

    name: str = "custom"
    description: str = "user-supplied classification data"
    train_file: Path
    eval_file: Path | None = None
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str = "label"
    holdout_fraction: float = 0.2
    #: optional explicit label order; default is the sorted distinct training labels
    labels: list[str] | None = None

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not v or not v.replace("_", "").replace("-", "").isalnum():
            raise ValueError("use letters, digits, '-' and '_' only")
        return v


def load_custom_config(path: str | Path) -> CustomDataConfig:
    """Read a task YAML; relative file paths are resolved against the YAML's folder."""
    path = Path(path)
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
    return parse_custom_config(raw, str(path))


def parse_custom_config(raw: dict[str, Any], where: str) -> CustomDataConfig:
    try:
        return CustomDataConfig(**raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise BakeoffError(f"{where}: '{loc}': {err['msg']}; fix that key") from None


def _read_table(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise BakeoffError(f"data file {path} not found; check the path")
    name = path.name.lower()
    try:
        if name.endswith((".jsonl", ".jsonl.gz", ".json")):
            return read_jsonl(path)
        import pandas as pd

        if name.endswith((".csv", ".csv.gz")):
            frame = pd.read_csv(path, encoding="utf-8", keep_default_na=False, dtype=object)
            frame = frame.replace({"": None})
        elif name.endswith(".parquet"):
            frame = pd.read_parquet(path)
        else:
            raise BakeoffError(
                f"{path}: unsupported file type; use .csv, .jsonl (optionally .gz) or .parquet"
            )
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc) from None
    except BakeoffError:
        raise
    except Exception as exc:
        raise BakeoffError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from None
    return frame.to_dict(orient="records")


def _canon(value: Any) -> str | None:
    """One spelling per label: 1, 1.0 and "1" are the same label; True is "true"."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _label_order(values: set[str]) -> list[str]:
    """Sorted label names; numerically when every label is an integer (so 2 sorts before 10)."""
    if all(v.lstrip("-").isdigit() for v in values):
        return sorted(values, key=int)
    return sorted(values)


def load_custom(cfg: CustomDataConfig, seed: int = 99) -> TaskData:
    """Read, validate and (if needed) split a user's data into a :class:`TaskData`."""
    fields = (cfg.text_column,) + ((cfg.text_pair_column,) if cfg.text_pair_column else ())
    train_rows = _read_table(Path(cfg.train_file))
    eval_rows = _read_table(Path(cfg.eval_file)) if cfg.eval_file else None
    for rows, path in ((train_rows, cfg.train_file), (eval_rows, cfg.eval_file)):
        if rows is None:
            continue
        if not rows:
            raise BakeoffError(f"{path}: has no rows; give a file with data")
        missing = [c for c in (*fields, cfg.label_column) if c not in rows[0]]
        if missing:
            have = ", ".join(map(str, rows[0].keys()))
            raise BakeoffError(
                f"{path}: no column {', '.join(map(repr, missing))} (columns: {have}); "
                "set --text-column/--text-pair-column/--label-column to the right names"
            )
    for rows in (train_rows, eval_rows or []):
        for row in rows:
            row[cfg.label_column] = _canon(row[cfg.label_column])
    seen = {r[cfg.label_column] for r in train_rows if r[cfg.label_column] is not None}
    names = [_canon(x) or "" for x in cfg.labels] if cfg.labels else _label_order(seen)
    if len(names) < 2:
        only = names[0] if names else "none"
        raise BakeoffError(
            f"{cfg.train_file}: the training data has a single class ({only!r}); "
            "a classifier needs at least two labels"
        )
    label_of = {name: i for i, name in enumerate(names)}
    task = TaskSpec(
        name=cfg.name,
        description=cfg.description,
        text_fields=fields,
        label_names=tuple(names),
        label_field=cfg.label_column,
    )
    train = _rows_to_examples(train_rows, task, str(cfg.train_file), label_of=label_of)
    if eval_rows is not None:
        unseen = sorted({r[cfg.label_column] for r in eval_rows} - set(label_of) - {None})
        if unseen:
            raise BakeoffError(
                f"{cfg.eval_file}: eval labels {', '.join(map(repr, unseen))} never occur in "
                "training; add training rows for them or drop them from the eval file"
            )
        eval_ = _rows_to_examples(eval_rows, task, str(cfg.eval_file), label_of=label_of)
        eval_split = "eval"
        hashed = f"{_sha256(Path(cfg.train_file))}:{_sha256(Path(cfg.eval_file))}"
    else:
        train, eval_ = stratified_split(train, cfg.holdout_fraction, seed)
        eval_split = f"holdout{cfg.holdout_fraction:g}"
        hashed = f"{_sha256(Path(cfg.train_file))}:holdout:{cfg.holdout_fraction}:{seed}"
    validate_splits(task, train, eval_, f"task '{cfg.name}'")
    columns = f"{cfg.text_column}|{cfg.text_pair_column}|{cfg.label_column}|{names}"
    fingerprint = hashlib.sha256(f"{hashed}:{columns}".encode()).hexdigest()[:16]
    return TaskData(
        task=task,
        train=train,
        eval=eval_,
        train_split="train",
        eval_split=eval_split,
        source=f"files:{cfg.train_file}" + (f",{cfg.eval_file}" if cfg.eval_file else ""),
        fingerprint=fingerprint,
    )


__all__ = ["CustomDataConfig", "Example", "load_custom", "load_custom_config"]
