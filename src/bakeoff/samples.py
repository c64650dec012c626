"""Per-example records: every evaluated example of every finished experiment, as JSON Lines or
Parquet, for pandas and any other tool (what lm-evaluation-harness users get from
``--log_samples``).

Schema ``bakeoff.samples/1`` — one record per (experiment, evaluated example), flat columns:

=================  ==========================================================================
column             meaning
=================  ==========================================================================
``schema``         ``"bakeoff.samples/1"`` on every record (a reader can check what it has)
``experiment_id``  the experiment's id in the store (a hash of its full configuration)
``experiment``     its readable name, as in ``bakeoff results`` ("minilm · finetune")
``task``           task name; ``model``, ``method`` and ``eval_split`` likewise
``idx``            the example's position in the task's eval split (same across experiments)
``text``           the input text; ``text_pair`` the second text of a pair task, else null
``gold``           the gold label's index; ``gold_label`` its name
``pred``           the predicted label's index, null for an invalid answer (one that maps to
                   no label, from generation scoring); ``pred_label`` its name or null
``correct``        pred == gold (an invalid answer is never correct); ``invalid`` pred is null
``confidence``     the largest per-label probability, null where the method has no scores
``margin``         the top raw score minus the second, in the raw scores' units (nats for
                   log-likelihoods, logits for trained methods); null without raw scores
``output``         the raw generated answer (generation scoring), else null
``labels``         the task's label names in index order (a list)
``p_<label>``      probability of each label (rows sum to 1), null without scores
``raw_<label>``    raw score of each label: log-likelihood of its answer (prompted methods)
                   or logit (trained methods), null where not stored
=================  ==========================================================================

Per-label columns exist for the labels of every exported task; a record has values in its own
task's columns and nulls (JSON Lines: no key) in the others'. A record's probabilities as a
list, in label order: ``[rec[f"p_{l}"] for l in rec["labels"]]``. Fixed columns never start
with ``p_`` or ``raw_``, so a label can never collide with them.

Readers: ``pandas.read_json(path, lines=True)`` or ``pandas.read_parquet(path)``. Files are
written to a temporary file and renamed into place, so a reader never sees half a file. The
store is opened read-only.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bakeoff.classifier import INVALID
from bakeoff.errors import BakeoffError

SAMPLES_SCHEMA = "bakeoff.samples/1"

#: the columns every record has, in order (per-label columns follow)
FIXED_COLUMNS = (
    "schema", "experiment_id", "experiment", "task", "model", "method", "eval_split", "idx",
    "text", "text_pair", "gold", "gold_label", "pred", "pred_label", "correct", "invalid",
    "confidence", "margin", "output", "labels",
)  # fmt: skip

FORMATS = ("jsonl", "parquet")


@dataclass
class SamplesSummary:
    """What an export wrote."""

    path: str
    format: str
    experiments: int
    records: int


def format_for(out: str | Path) -> str:
    """``jsonl`` for ``.jsonl``/``.jsonl.gz`` or ``-`` (stdout), ``parquet`` for ``.parquet``."""
    name = str(out).lower()
    if name == "-" or name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
        return "jsonl"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    raise BakeoffError(
        f"--out {out}: unknown file type; name it .jsonl (or .jsonl.gz) or .parquet, or - for "
        "JSON Lines on stdout"
    )


def select_experiments(
    store: Any, ids: Sequence[str] | None = None, tasks: Sequence[str] | None = None
) -> list[Any]:
    """The finished experiments to export: all, or those named by id (a unique prefix of at least
    4 characters is enough), optionally only of some tasks. Unknown or unfinished ids are
    one-line errors."""
    done = store.experiments("done")
    chosen = done
    if ids:
        everything = {r.id: r for r in store.experiments(None)}
        picked: dict[str, Any] = {}
        for wanted in ids:
            hits = [rid for rid in everything if rid.startswith(wanted.strip().lower())]
            if len(wanted.strip()) < 4 or not hits:
                raise BakeoffError(
                    f"--experiment {wanted}: no experiment with that id in {store.path}; list "
                    "the ids with `bakeoff results --db ... --format json`"
                )
            if len(hits) > 1:
                raise BakeoffError(
                    f"--experiment {wanted}: {len(hits)} experiments start with it "
                    f"({', '.join(sorted(hits)[:3])}); give more of the id"
                )
            record = everything[hits[0]]
            if record.status != "done":
                raise BakeoffError(
                    f"--experiment {wanted}: experiment {record.id} ({record.task} / "
                    f"{record.model} / {record.method}) is {record.status}, so it has no "
                    "predictions; finish it with `bakeoff run`"
                )
            picked[record.id] = record
        chosen = [r for r in done if r.id in picked]
    if tasks:
        known = {r.task for r in done}
        unknown = [t for t in tasks if t not in known]
        if unknown:
            raise BakeoffError(
                f"--task {unknown[0]}: no finished experiment of that task in {store.path} "
                f"(tasks: {', '.join(sorted(known)) or 'none'})"
            )
        chosen = [r for r in chosen if r.task in tasks]
    return chosen


def _names(store: Any) -> dict[str, str]:
    """Display names computed over every finished experiment, so they match ``bakeoff results``."""
    from bakeoff.naming import experiment_names

    return experiment_names([(r.id, r.config) for r in store.experiments("done")])


def _label(names: Sequence[str], index: int | None) -> str | None:
    if index is None or not 0 <= index < len(names):
        return None
    return names[index]


def experiment_samples(
    store: Any, record: Any, name: str, examples: dict[int, Any] | None = None
) -> Iterator[dict[str, Any]]:
    """The records of one finished experiment (see the module docstring), in example order."""
    labels = list(record.label_names)
    if examples is None:
        examples = store.examples(record.dataset_key)
    for row in store.predictions(record.id):
        example = examples.get(row.idx)
        pred = None if row.pred == INVALID else int(row.pred)
        rec: dict[str, Any] = {
            "schema": SAMPLES_SCHEMA,
            "experiment_id": record.id,
            "experiment": name,
            "task": record.task,
            "model": record.model,
            "method": record.method,
            "eval_split": record.eval_split,
            "idx": int(row.idx),
            "text": example.text if example else None,
            "text_pair": example.text_pair if example else None,
            "gold": int(row.gold),
            "gold_label": _label(labels, int(row.gold)),
            "pred": pred,
            "pred_label": _label(labels, pred),
            "correct": pred is not None and pred == row.gold,
            "invalid": pred is None,
            "confidence": max(row.scores) if row.scores else None,
            "margin": None,
            "output": row.raw,
            "labels": labels,
        }
        if row.raw_scores and len(row.raw_scores) >= 2:
            top = sorted(row.raw_scores, reverse=True)
            rec["margin"] = float(top[0] - top[1])
        for i, label in enumerate(labels):
            rec[f"p_{label}"] = float(row.scores[i]) if row.scores and i < len(row.scores) else None
        for i, label in enumerate(labels):
            rec[f"raw_{label}"] = (
                float(row.raw_scores[i]) if row.raw_scores and i < len(row.raw_scores) else None
            )
        yield rec


def label_columns(records: Sequence[Any]) -> list[str]:
    """The per-label columns of the given experiments: probabilities first, then raw scores."""
    labels = list(dict.fromkeys(label for r in records for label in r.label_names))
    return [f"p_{label}" for label in labels] + [f"raw_{label}" for label in labels]


def _arrow_schema(extra: Sequence[str]) -> Any:
    import pyarrow as pa

    types = {
        "idx": pa.int64(), "gold": pa.int64(), "pred": pa.int64(),
        "correct": pa.bool_(), "invalid": pa.bool_(),
        "confidence": pa.float64(), "margin": pa.float64(),
        "labels": pa.list_(pa.string()),
    }  # fmt: skip
    fields = [pa.field(c, types.get(c, pa.string())) for c in FIXED_COLUMNS]
    fields += [pa.field(c, pa.float64()) for c in extra]
    return pa.schema(fields, metadata={"bakeoff.schema": SAMPLES_SCHEMA})


def _disk_error(path: Path, exc: OSError) -> BakeoffError:
    return BakeoffError(
        f"cannot write {path} ({exc.strerror or exc}); check the folder exists, is writable and "
        "has space, or pass another --out"
    )


def write_samples(store: Any, records: Sequence[Any], out: str | Path) -> SamplesSummary:
    """Write the records of ``records`` (finished experiments) to ``out`` atomically.

    One experiment's rows are in memory at a time: a large store streams into the file.
    """
    fmt = format_for(out)
    names = _names(store)
    extra = label_columns(records)
    examples_by_key: dict[str, dict[int, Any]] = {}

    def rows_of(record: Any) -> Iterator[dict[str, Any]]:
        if record.dataset_key not in examples_by_key:
            examples_by_key[record.dataset_key] = store.examples(record.dataset_key)
        return experiment_samples(
            store, record, names.get(record.id, record.id), examples_by_key[record.dataset_key]
        )

    if str(out) == "-":
        count = 0
        for record in records:
            for rec in rows_of(record):
                sys.stdout.write(json.dumps(rec, ensure_ascii=False) + "\n")
                count += 1
        sys.stdout.flush()
        return SamplesSummary("-", fmt, len(records), count)

    path = Path(out).expanduser()
    if path.is_dir():
        raise BakeoffError(f"--out {path} is a folder; give a file name like {path}/samples.jsonl")
    if not path.parent.is_dir():
        raise BakeoffError(
            f"--out {path}: folder {path.parent} does not exist; create it or pass another --out"
        )
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    except OSError as exc:
        raise _disk_error(path, exc) from None
    tmp = Path(tmp_name)
    count = 0
    try:
        if fmt == "parquet":
            os.close(fd)
            import pyarrow as pa
            import pyarrow.parquet as pq

            schema = _arrow_schema(extra)
            with pq.ParquetWriter(tmp, schema) as writer:
                for record in records:
                    rows = list(rows_of(record))
                    if rows:
                        writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                        count += len(rows)
                if count == 0:
                    writer.write_table(schema.empty_table())
        else:
            with os.fdopen(fd, "wb") as raw:
                gz = gzip.GzipFile(fileobj=raw, mode="wb") if path.name.endswith(".gz") else None
                sink = gz or raw
                for record in records:
                    for rec in rows_of(record):
                        sink.write((json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8"))
                        count += 1
                if gz is not None:
                    gz.close()
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _disk_error(path, exc) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return SamplesSummary(str(path), fmt, len(records), count)


def export_samples(
    db: str | Path,
    out: str | Path,
    experiment_ids: Sequence[str] | None = None,
    tasks: Sequence[str] | None = None,
) -> SamplesSummary:
    """Open the store read-only, pick the experiments and write their per-example records."""
    from bakeoff.store import ResultsStore

    format_for(out)  # a bad file name fails before the store is read
    with ResultsStore(db, readonly=True) as store:
        records = select_experiments(store, experiment_ids, tasks)
        if not records:
            raise BakeoffError(
                f"no finished experiments in {db} to export; run `bakeoff run` first"
            )
        return write_samples(store, records, out)


__all__ = [
    "FIXED_COLUMNS",
    "SAMPLES_SCHEMA",
    "SamplesSummary",
    "experiment_samples",
    "export_samples",
    "format_for",
    "label_columns",
    "select_experiments",
    "write_samples",
]
