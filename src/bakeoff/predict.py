"""Classify a CSV, JSON Lines or Parquet file with a finished classifier, streaming and resumable.

**Streaming.** The input is read in chunks of ``chunk_rows`` rows (pandas ``read_csv`` with
``chunksize``; JSON Lines line by line; Parquet with ``iter_batches``), each chunk is classified
with ``classifier.predict`` (so batching, length sorting, precision and truncation are exactly
the evaluated experiment's) and written out before the next is read. Memory is bounded by one
chunk, whatever the file's size; ``use_huge_pages_for_tensors`` (which ``bakeoff predict`` calls
first) keeps glibc's heap from creeping up over the first ~150k rows.

**Output.** The output suffix picks the format (``.csv``, ``.jsonl`` or ``.parquet``) and it
has one row per classified input row: the id (the input's ``id_column`` if given, else a column
``row`` with the 0-based data row number, header excluded), ``label`` (the predicted label
name) and ``p_<label>`` per label (probabilities that sum to 1). Rows whose text is missing or
blank are not classified; they are listed with the reason in ``<output>.skipped.csv`` (removed
when there are none).

**Resuming.** Chunks are aligned to absolute row numbers (chunk k holds rows
``[k*chunk_rows, (k+1)*chunk_rows)``), so a resumed run classifies exactly the same chunks as an
uninterrupted one, and their outputs are byte-identical. A sidecar ``<output>.progress.json`` is
written *before* any output and replaced atomically (write, fsync, rename) after every chunk,
once that chunk's rows are written and fsynced; it records the input rows done, the output's
byte size and the side file's byte size. Killed at any moment (``kill -9`` included) and run
again, predict truncates the output and the side file to the recorded sizes (dropping any
partial or uncommitted rows), skips the recorded number of input rows and continues: every
row appears exactly once. On completion the progress file is removed; an output without a
progress file is therefore complete, and predict refuses to overwrite it unless asked.

Parquet cannot be appended to (its footer is written last), so a Parquet output is built from
part files ``<output>.parts/part-NNNNNN.parquet``, one per chunk, each written to a temporary
name and renamed; the progress file counts the committed parts, and parts beyond that count
are deleted on resume. At the end the parts are streamed, one at a time, into the final file
(written to a temporary name, then renamed), and the parts folder is removed.

**Runtime.** predict uses the same runtime as the evaluation: PyTorch, in the recorded
precision (bf16 on CPUs with AMX/AVX512-BF16 and on recent GPUs). On the 2-core AMX CPU this was
the fastest runtime measured for MiniLM (bf16 1,140/s vs ONNX Runtime fp32 290/s, int8 620/s,
OpenVINO bf16 710/s, model only, SST-2 validation, batch 128), and it is the only one whose
predictions match the stored ones bit for bit, which the issue requires. Reading, tokenising and
writing are not run in background threads: on two cores the bf16 forward pass already keeps
both busy, so a second thread would only take cycles from it; tokenising (Rust, whole batch per
call) and the per-row Python here are a few percent of the time.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bakeoff.artifacts import write_json_atomic
from bakeoff.classifier import INVALID, Classifier
from bakeoff.data import WIDE_BOMS, Example, json_kind
from bakeoff.errors import BakeoffError

#: rows per chunk: large enough that length sorting inside a chunk pads little and that every
#: built-in evaluation split (SST-2 872, RTE 277, BoolQ 3,270, ANLI R1 1,000) fits in one chunk
#: (the same batches as the evaluation, so predictions on those rows match the stored ones),
#: small enough that a kill loses seconds of work and memory stays a few MB
DEFAULT_CHUNK_ROWS = 8192
#: id column written when the user names none: the 0-based data row number
ROW_COLUMN = "row"
PROGRESS_VERSION = 1

ProgressCallback = Callable[[int, "int | None"], None]

#: PyTorch's switch (read once, at its first CPU allocation) for backing tensors of 2 MB and
#: more with transparent huge pages
THP_SWITCH = "THP_MEM_ALLOC_ENABLE"


def use_huge_pages_for_tensors() -> bool:
    """Ask PyTorch to put CPU tensors of 2 MB and more on transparent huge pages, for predict.

    Why: over a long file glibc's heap fragments, because every batch allocates activations of
    a different size (batches are padded to their own longest text). Freed blocks stay
    resident, so peak memory crept up for the first ~150k rows and settled 24% above a 10k-row
    run. With this switch PyTorch page-aligns those tensors and asks the kernel
    (``madvise(MADV_HUGEPAGE)``) to back them with 2 MB transparent huge pages, so the heap is
    touched and reused in far fewer, larger pieces (the effect is measured; the mechanism
    inside glibc and the kernel we did not trace). On the 2-core EPYC (fp32 MiniLM, SST-2
    sentences, ``predict_scale.py``) the peak at 1M rows was 949 MB against 871 MB at 10k (+9%;
    without it 1,211 against 975 MB, +24%), at no cost in throughput (100k rows, each run
    started at load below 0.6: 307 rows/s and 860 MB with it, 303 rows/s and 1,076 MB without).
    Fixing glibc's mmap threshold instead kept memory flat to the MB, but cost about a fifth of
    throughput (256 kB: 238 against 303 rows/s at 100k, both started quiet), since every activation is then mapped and zeroed afresh.

    PyTorch reads the switch once, so this must run before torch allocates its first tensor.
    When torch is already imported it changes nothing and returns whether the switch was
    already on. A value the user has set (``THP_MEM_ALLOC_ENABLE=0`` turns it off) is kept.
    Where the kernel has transparent huge pages off
    (``/sys/kernel/mm/transparent_hugepage/enabled`` says never), the request is ignored and
    only the alignment changes.
    """
    if "torch" in sys.modules:
        return os.environ.get(THP_SWITCH) == "1"
    os.environ.setdefault(THP_SWITCH, "1")
    return os.environ[THP_SWITCH] == "1"


@dataclass
class PredictSummary:
    """What a predict run did. ``resumed_at`` > 0 means it continued an interrupted run."""

    output: Path
    rows_total: int
    rows_written: int
    rows_skipped: int
    skipped_file: Path | None
    resumed_at: int
    seconds: float


def _family(path: Path, *, output: bool) -> str:
    name = path.name.lower()
    if name.endswith(".csv") or (not output and name.endswith(".csv.gz")):
        return "csv"
    if name.endswith(".jsonl") or (not output and name.endswith((".jsonl.gz", ".json"))):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    if output:
        raise BakeoffError(f"output {path}: unsupported suffix; end it in .csv, .jsonl or .parquet")
    raise BakeoffError(
        f"input {path}: unsupported file type; use .csv, .jsonl (optionally .gz) or .parquet"
    )


# ---------------------------------------------------------------------------------------------
# reading


@dataclass
class _Chunk:
    start: int
    texts: list[Any]
    pairs: list[Any] | None
    ids: list[Any] | None

    def __len__(self) -> int:
        return len(self.texts)


class _Source:
    """One input file: its columns checked up front, read as aligned chunks from any row."""

    def __init__(
        self, path: Path, text_column: str, pair_column: str | None, id_column: str | None
    ) -> None:
        check_input_path(path)
        self.path = path
        self.family = _family(path, output=False)
        _check_encoding(path, self.family)
        self.text_column = text_column
        self.pair_column = pair_column
        self.id_column = id_column
        self.wanted = list(dict.fromkeys(c for c in (text_column, pair_column, id_column) if c))
        self.id_arrow_type: Any = None
        self._check_columns()

    # -- set-up ---------------------------------------------------------------------------------

    def _open_text(self) -> Any:
        if self.path.name.lower().endswith(".gz"):
            return gzip.open(self.path, "rt", encoding="utf-8-sig", newline="")
        return open(self.path, encoding="utf-8-sig", newline="")

    def _columns(self) -> list[str]:
        if self.family == "parquet":
            import pyarrow.parquet as pq

            schema = pq.read_schema(self.path)
            if self.id_column and self.id_column in schema.names:
                self.id_arrow_type = schema.field(self.id_column).type
            return list(schema.names)
        if self.family == "csv":
            with self._open_text() as fh, _long_csv_fields():
                header = next(csv.reader(fh), [])
            return header
        with self._open_text() as fh:
            for lineno, line in enumerate(fh, start=1):
                if line.strip():
                    row = self._json(line, lineno)
                    return list(row)
        return []

    def _check_columns(self) -> None:
        with self._read_errors():
            columns = self._columns()
        if not columns:
            raise BakeoffError(f"{self.path}: has no rows or no header; give a file with data")
        missing = [c for c in self.wanted if c not in columns]
        if missing:
            where = "in the first row" if self.family == "jsonl" else ""
            raise BakeoffError(
                f"{self.path}: no column {', '.join(map(repr, missing))} {where} (columns: "
                f"{', '.join(map(str, columns[:20]))}); set --text-column/--text-pair-column/"
                "--id-column to the right names"
            )

    def _json(self, line: str, lineno: int) -> dict[str, Any]:
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BakeoffError(
                f"{self.path}: line {lineno} is not valid JSON ({exc.msg}); fix or remove that line"
            ) from None
        if not isinstance(row, dict):
            raise BakeoffError(
                f"{self.path}: line {lineno} is not a JSON object; write one object per line"
            )
        return row

    @contextmanager
    def _read_errors(self) -> Iterator[None]:
        """Whatever reading the file raises becomes one line naming the file."""
        try:
            yield
        except UnicodeDecodeError:
            raise BakeoffError(f"{self.path}: not valid UTF-8; re-save the file as UTF-8") from None
        except BakeoffError:
            raise
        except Exception as exc:  # a damaged .gz or Parquet file, a malformed CSV quote...
            raise BakeoffError(
                f"{self.path}: cannot be read ({type(exc).__name__}: {str(exc)[:200]}); fix the file"
            ) from None

    def scan(self) -> int:
        """Data rows in the file (the progress bar's total), after checking every row's texts.

        Why a whole pass before anything is written: a bad row (a list where text belongs, a
        CSV record with more fields than the header) found half-way would leave a half-written
        output behind; this way predict refuses the file up front, naming the row, as training
        does. Reading is cheap next to classifying, so the pass costs little.
        """
        with self._read_errors():
            if self.family == "parquet":
                rows = self._scan_parquet()
            elif self.family == "jsonl":
                rows = self._scan_jsonl()
            else:
                rows = self._scan_csv()
        if rows == 0:
            raise BakeoffError(
                f"{self.path}: has column names but no rows; give a file with rows to classify"
            )
        return rows

    def _scan_parquet(self) -> int:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(self.path)
        schema = pf.schema_arrow
        for column in (self.text_column, self.pair_column):
            if column is None:
                continue
            kind = schema.field(column).type
            if pa.types.is_nested(kind) or pa.types.is_dictionary(kind):
                raise BakeoffError(
                    f"{self.path}: column {column!r} holds {kind} values, not text; give one "
                    "string per row"
                )
        return int(pf.metadata.num_rows)

    def _scan_jsonl(self) -> int:
        rows = 0
        with self._open_text() as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                record = self._json(line, lineno)
                for column in self.wanted:
                    value = record.get(column)
                    if isinstance(value, (list, dict)):
                        raise BakeoffError(
                            f"{self.path}: line {lineno}, column {column!r} holds "
                            f"{json_kind(value)}, not a single value; give one string per row"
                        )
                rows += 1
        return rows

    def _scan_csv(self) -> int:
        """Strict quoting, as training reads CSV (``custom._read_csv``): a quote that never
        closes would otherwise swallow the rest of the file into one text."""
        rows = 0
        with self._open_text() as fh, _long_csv_fields():
            reader = csv.reader(fh, strict=True)
            try:
                width = len(next(reader, []))
                line = reader.line_num + 1
                # csv.reader honours quoted newlines; blank records are skipped, as pandas does
                for record in reader:
                    start, line = line, reader.line_num + 1
                    if not record:
                        continue
                    if len(record) > width:
                        raise BakeoffError(
                            f"{self.path}: line {start} has {len(record)} fields but the header "
                            f'has {width}; quote fields that contain commas ("a, b")'
                        )
                    rows += 1
            except csv.Error as exc:
                raise BakeoffError(
                    f"{self.path}: not well-formed CSV at line {reader.line_num} ({exc}); quote "
                    "a field that has commas, quotes or line breaks whole, with its quotes "
                    'doubled ("say ""hi""")'
                ) from None
        return rows

    # -- chunks ---------------------------------------------------------------------------------

    def _pieces_csv(self, chunk_rows: int, skip: int) -> Iterator[tuple[int, dict[str, list]]]:
        import pandas as pd

        # the C parser has no field size limit: a text of any length is read, as training reads it
        reader = pd.read_csv(
            self.path,
            usecols=self.wanted,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding="utf-8",
            chunksize=chunk_rows,
        )
        start = 0
        with reader:
            for frame in reader:
                n = len(frame)
                if start + n > skip:  # parsed rows before ``skip`` are simply dropped
                    yield start, {c: frame[c].tolist() for c in self.wanted}
                start += n

    def _pieces_jsonl(self, chunk_rows: int, skip: int) -> Iterator[tuple[int, dict[str, list]]]:
        row = 0
        cols: dict[str, list] = {c: [] for c in self.wanted}
        first = skip
        with self._open_text() as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                if row < skip:  # counted, not parsed
                    row += 1
                    continue
                record = self._json(line, lineno)
                for c in self.wanted:
                    cols[c].append(record.get(c))
                row += 1
                if row - first == chunk_rows:
                    yield first, cols
                    cols = {c: [] for c in self.wanted}
                    first = row
        if cols[self.text_column]:
            yield first, cols

    def _pieces_parquet(self, chunk_rows: int, skip: int) -> Iterator[tuple[int, dict[str, list]]]:
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(self.path)
        # start at the row group that holds row ``skip``: earlier ones are never decoded
        start, first_group = 0, pf.num_row_groups
        for g in range(pf.num_row_groups):
            n = pf.metadata.row_group(g).num_rows
            if start + n > skip:
                first_group = g
                break
            start += n
        if first_group == pf.num_row_groups:
            return
        groups = list(range(first_group, pf.num_row_groups))
        for batch in pf.iter_batches(batch_size=chunk_rows, row_groups=groups, columns=self.wanted):
            yield start, {c: batch.column(c).to_pylist() for c in self.wanted}
            start += batch.num_rows

    def chunks(self, chunk_rows: int, skip: int) -> Iterator[_Chunk]:
        """Chunks of rows ``[k*chunk_rows, (k+1)*chunk_rows)`` from row ``skip`` on (a multiple
        of ``chunk_rows``), whatever sizes the underlying reader produces."""
        pieces = {
            "csv": self._pieces_csv,
            "jsonl": self._pieces_jsonl,
            "parquet": self._pieces_parquet,
        }[self.family](chunk_rows, skip)
        buffer: dict[str, list] = {c: [] for c in self.wanted}
        buffer_start = skip
        try:
            for start, cols in pieces:
                n = len(cols[self.text_column])
                lo = max(0, skip - start)  # rows of this piece before ``skip``
                if lo >= n:
                    continue
                for c in self.wanted:
                    buffer[c].extend(cols[c][lo:])
                while len(buffer[self.text_column]) >= chunk_rows:
                    yield self._chunk(buffer_start, buffer, chunk_rows)
                    buffer = {c: v[chunk_rows:] for c, v in buffer.items()}
                    buffer_start += chunk_rows
        except UnicodeDecodeError:
            raise BakeoffError(f"{self.path}: not valid UTF-8; re-save the file as UTF-8") from None
        except BakeoffError:
            raise
        except Exception as exc:  # a malformed CSV row, a damaged Parquet page...
            raise BakeoffError(
                f"{self.path}: cannot be read after row {buffer_start} "
                f"({type(exc).__name__}: {str(exc)[:200]}); fix the file"
            ) from None
        if buffer[self.text_column]:
            yield self._chunk(buffer_start, buffer, len(buffer[self.text_column]))

    def _chunk(self, start: int, buffer: dict[str, list], n: int) -> _Chunk:
        return _Chunk(
            start,
            buffer[self.text_column][:n],
            buffer[self.pair_column][:n] if self.pair_column else None,
            buffer[self.id_column][:n] if self.id_column else None,
        )


def check_input(
    path: Path, text_column: str, pair_column: str | None, id_column: str | None
) -> None:
    """Refuse a missing, mistyped or column-less input file (cheap: it reads the header only),
    so the CLI can say so before it spends time loading a model."""
    _Source(path, text_column, pair_column, id_column)


def _text_problem(value: Any, column: str) -> str | None:
    """Why a cell cannot be classified, or None if it can (``scan`` refused lists and objects;
    numbers are read as their text, as training reads them)."""
    if value is None or (isinstance(value, float) and value != value):
        return f"missing {column}"
    if not _as_text(value).strip():
        return f"empty {column}"
    return None


def _as_text(value: Any) -> str:
    """A cell as text: Parquet binary cells are UTF-8 (with a replacement character for bytes that
    are not), anything else its ``str``."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


@contextmanager
def _long_csv_fields() -> Iterator[None]:
    """Let the csv module read fields of any length (its default stops at 131,072 characters):
    a long text is data, and training reads it (``custom._read_csv``); restored afterwards."""
    old = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)
    try:
        yield
    finally:
        csv.field_size_limit(old)


#: what the first bytes of a file say it is, when its name says otherwise
_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"


def check_input_path(path: Path) -> None:
    """The input names a readable regular file, or one line saying what it names instead."""
    if path.is_dir():
        raise BakeoffError(f"input {path} is a folder; give the file to classify inside it")
    if not path.exists():
        raise BakeoffError(f"input file {path} not found; check the path")
    if not path.is_file():
        raise BakeoffError(f"input {path} is not a regular file; give a .csv, .jsonl or .parquet")
    if not os.access(path, os.R_OK):
        raise BakeoffError(f"input file {path} cannot be read (permission denied)")


def _check_encoding(path: Path, family: str) -> None:
    """Refuse, by its first bytes, a file whose content is not what its name says (a UTF-16
    export, a gzip or Parquet file under another suffix): otherwise it reads as garbage or as
    "not valid UTF-8", which sends the user looking for the wrong problem."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    gz = path.name.lower().endswith(".gz")
    if head.startswith(_GZIP_MAGIC) and not gz:
        raise BakeoffError(
            f"{path}: is gzip-compressed but not named .gz; rename it to {path.name}.gz"
        )
    if gz and head and not head.startswith(_GZIP_MAGIC):
        raise BakeoffError(f"{path}: is named .gz but is not gzip-compressed; drop the .gz")
    if gz:
        with gzip.open(path, "rb") as fh:
            try:
                head = fh.read(4)
            except (OSError, EOFError) as exc:
                raise BakeoffError(
                    f"{path}: damaged gzip file ({exc}); compress it again"
                ) from None
    if family == "parquet":
        if head != _PARQUET_MAGIC:
            raise BakeoffError(f"{path}: is not a Parquet file; give the suffix its format has")
        return
    if head == _PARQUET_MAGIC:
        raise BakeoffError(f"{path}: is a Parquet file; name it .parquet")
    for name, marks in WIDE_BOMS:
        if head.startswith(marks):
            raise BakeoffError(
                f"{path}: is {name} text (it starts with a {name} byte-order mark); re-save it "
                "as UTF-8"
            )


# ---------------------------------------------------------------------------------------------
# writing


class _Output:
    """The output file (or Parquet parts), the side file of skipped rows, and the progress."""

    def __init__(self, path: Path, id_name: str, label_names: tuple[str, ...]) -> None:
        self.path = path
        self.family = _family(path, output=True)
        self.id_name = id_name
        self.label_names = label_names
        self.prob_columns = [f"p_{name}" for name in label_names]
        self.columns = [id_name, "label", *self.prob_columns]
        if len(set(self.columns)) != len(self.columns):
            raise BakeoffError(
                f"id column {id_name!r} clashes with an output column ({', '.join(self.columns[1:])}); "
                "rename it in the input or pass another --id-column"
            )
        self.progress_path = path.with_name(path.name + ".progress.json")
        self.skipped_path = path.with_name(path.name + ".skipped.csv")
        self.parts_dir = path.with_name(path.name + ".parts")
        self.lock_path = path.with_name(path.name + ".lock")
        self.state: dict[str, Any] = {}
        self.id_type: Any = None

    # -- state ----------------------------------------------------------------------------------

    def leftovers(self) -> list[Path]:
        return [
            p
            for p in (self.path, self.skipped_path, self.parts_dir, self.progress_path)
            if p.exists()
        ]

    def clear(self) -> None:
        for p in self.leftovers():
            shutil.rmtree(p) if p.is_dir() else p.unlink()

    def commit(self) -> None:
        write_json_atomic(self.progress_path, self.state)

    def load_state(self) -> dict[str, Any]:
        try:
            state = json.loads(self.progress_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            raise BakeoffError(
                f"{self.progress_path}: unreadable progress file; delete it and the output, or "
                "pass --overwrite to start again"
            ) from None
        if not isinstance(state, dict) or state.get("version") != PROGRESS_VERSION:
            raise BakeoffError(
                f"{self.progress_path}: progress file of another version; pass --overwrite"
            )
        return state

    # -- files ----------------------------------------------------------------------------------

    @staticmethod
    def _truncate(path: Path, size: int) -> None:
        if size == 0:
            path.unlink(missing_ok=True)
            return
        if not path.is_file() or path.stat().st_size < size:
            raise BakeoffError(
                f"{path} is shorter than its progress file records; it was changed by hand, "
                "pass --overwrite to start again"
            )
        with open(path, "r+b") as fh:
            fh.truncate(size)
            fh.flush()
            os.fsync(fh.fileno())

    def restore(self) -> None:
        """Bring the files back to the last committed chunk."""
        for litter in self.path.parent.glob(f".{self.path.name}*.tmp"):
            litter.unlink(missing_ok=True)  # temporary files of a killed run
        if self.family == "parquet":
            self.parts_dir.mkdir(parents=True, exist_ok=True)
            for part in self.parts_dir.iterdir():
                index = part.name.removeprefix("part-").removesuffix(".parquet")
                if not index.isdigit() or int(index) >= self.state["parts"]:
                    part.unlink()
        else:
            self._truncate(self.path, self.state["output_bytes"])
        self._truncate(self.skipped_path, self.state["skipped_bytes"])
        if self.family == "csv" and self.state["output_bytes"] == 0:
            self._append(self.path, self._csv_lines([self.columns]))
            self.state["output_bytes"] = self.path.stat().st_size
            self.commit()

    @staticmethod
    def _append(path: Path, data: bytes) -> int:
        """Append and fsync; returns the new size (what the next commit records)."""
        with open(path, "ab") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
            return fh.tell()

    @staticmethod
    def _csv_lines(rows: list[list[Any]]) -> bytes:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        return buf.getvalue().encode("utf-8")

    def write_chunk(
        self,
        ids: list[Any],
        labels: list[str | None],
        probs: list[list[float] | None],
        skipped: list[tuple[Any, str]],
    ) -> None:
        """Write one chunk's rows durably, then record it in the progress file."""
        blank: list[float | None] = [None] * len(self.prob_columns)
        if ids:
            if self.family == "csv":
                rows = [
                    [i, lab, *(p if p is not None else blank)]
                    for i, lab, p in zip(ids, labels, probs)
                ]
                self.state["output_bytes"] = self._append(self.path, self._csv_lines(rows))
            elif self.family == "jsonl":
                lines = []
                for i, lab, p in zip(ids, labels, probs):
                    row: dict[str, Any] = {self.id_name: i, "label": lab}
                    row.update(zip(self.prob_columns, p if p is not None else blank))
                    lines.append(json.dumps(row, ensure_ascii=False, default=str))
                data = ("\n".join(lines) + "\n").encode("utf-8")
                self.state["output_bytes"] = self._append(self.path, data)
            else:
                self._write_part(ids, labels, probs)
        if skipped:
            new = not self.skipped_path.exists() or self.skipped_path.stat().st_size == 0
            rows = ([[self.id_name, "reason"]] if new else []) + [list(s) for s in skipped]
            self.state["skipped_bytes"] = self._append(self.skipped_path, self._csv_lines(rows))
        self.state["rows_written"] += len(ids)
        self.state["rows_skipped"] += len(skipped)

    def _part_path(self, index: int) -> Path:
        return self.parts_dir / f"part-{index:06d}.parquet"

    def _write_part(
        self, ids: list[Any], labels: list[str | None], probs: list[list[float] | None]
    ) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.id_type is None and self.state["parts"] > 0:
            self.id_type = pq.read_schema(self._part_path(0)).field(self.id_name).type
        try:
            id_array = pa.array(ids, type=self.id_type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
            raise BakeoffError(
                f"id column {self.id_name!r} mixes value types (e.g. numbers and text); make "
                "the ids one type or write .csv/.jsonl output"
            ) from None
        self.id_type = id_array.type
        columns = {self.id_name: id_array, "label": pa.array(labels, type=pa.string())}
        for k, name in enumerate(self.prob_columns):
            columns[name] = pa.array([p[k] if p else None for p in probs], type=pa.float64())
        index = self.state["parts"]
        final = self._part_path(index)
        tmp = final.with_name(final.name + ".tmp")
        pq.write_table(pa.table(columns), tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        self.state["parts"] = index + 1

    def finish(self) -> None:
        """Parquet: stream the parts into the final file. Then drop the progress file."""
        if self.family == "parquet" and not self.state.get("complete"):
            import pyarrow.parquet as pq

            tmp = self.path.with_name(f".{self.path.name}.tmp")
            parts = [self._part_path(i) for i in range(self.state["parts"])]
            if parts:
                writer = None
                try:
                    for part in parts:
                        table = pq.read_table(part)
                        if writer is None:
                            writer = pq.ParquetWriter(tmp, table.schema)
                        writer.write_table(table)
                finally:
                    if writer is not None:
                        writer.close()
            else:  # nothing classified: an empty file with the right columns
                import pyarrow as pa

                schema = pa.schema(
                    [(self.id_name, pa.int64()), ("label", pa.string())]
                    + [(c, pa.float64()) for c in self.prob_columns]
                )
                pq.write_table(schema.empty_table(), tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            self.state["complete"] = True
            self.commit()
        if self.family == "parquet":
            shutil.rmtree(self.parts_dir, ignore_errors=True)
        if self.state["rows_skipped"] == 0:
            self.skipped_path.unlink(missing_ok=True)
        self.progress_path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# the command


def _job(
    source: _Source,
    classifier: Classifier,
    output: _Output,
    batch_size: int,
    chunk_rows: int,
    classifier_key: str | None,
) -> dict[str, Any]:
    """What must be the same for a run to continue another: same input file, same columns, same
    classifier and batching (so the rows already written agree with the ones still to come)."""
    stat = source.path.stat()
    return {
        "input": str(source.path.resolve()),
        "input_size": stat.st_size,
        "input_mtime_ns": stat.st_mtime_ns,
        "text_column": source.text_column,
        "text_pair_column": source.pair_column,
        "id_column": source.id_column,
        "label_names": list(classifier.label_names),
        "classifier": classifier_key,
        "batch_size": batch_size,
        "chunk_rows": chunk_rows,
        "format": output.family,
    }


def predict_file(
    classifier: Classifier,
    input_path: str | Path,
    output_path: str | Path,
    *,
    text_column: str = "text",
    text_pair_column: str | None = None,
    id_column: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    batch_size: int | None = None,
    overwrite: bool = False,
    classifier_key: str | None = None,
    reads_pairs: bool | None = None,
    progress: ProgressCallback | None = None,
) -> PredictSummary:
    """Classify every row of ``input_path`` into ``output_path`` (see the module docstring).

    An existing progress file for the same job is continued; one for another job (other input,
    columns, classifier or batching) is an error unless ``overwrite`` or unless it recorded no
    row yet (then there is nothing to keep). ``classifier_key`` (e.g. the experiment id) guards
    against resuming with a different model. ``reads_pairs`` says whether the model was trained
    on text pairs (None: unknown), so that a missing or extra ``text_pair_column`` is refused
    rather than silently classifying the wrong input. ``batch_size`` defaults to the
    classifier's (the evaluated one; another size changes float rounding, so a near-tie may
    then differ from the stored prediction). ``progress(done, total)`` is called after every
    batch with input rows done. One process at a time writes an output: a second one is
    refused (see :func:`_one_writer`).
    """
    started = time.perf_counter()
    input_path, output_path = Path(input_path), Path(output_path)
    if chunk_rows < 1:
        raise BakeoffError(f"chunk size must be at least 1 row, got {chunk_rows}")
    _check_pairs(reads_pairs, text_pair_column)
    source = _Source(input_path, text_column, text_pair_column, id_column)
    out = _Output(output_path, id_column or ROW_COLUMN, tuple(classifier.label_names))
    if output_path.resolve() == input_path.resolve():
        raise BakeoffError(f"output {output_path} is the input file; choose another output path")
    if output_path.is_dir():
        raise BakeoffError(f"output {output_path} is a folder; give a file path inside it")
    bs = int(batch_size or classifier.batch_size)
    job = _job(source, classifier, out, bs, chunk_rows, classifier_key)
    with _one_writer(out):
        resumed_at = _start(source, out, job, overwrite)
        if source.id_arrow_type is not None and out.family == "parquet":
            out.id_type = source.id_arrow_type
        try:
            if progress:
                progress(resumed_at, out.state["rows_total"])
            if not out.state.get("complete"):
                for chunk in source.chunks(chunk_rows, out.state["rows_done"]):
                    _classify_chunk(
                        classifier, chunk, source, out, bs, out.state["rows_total"], progress
                    )
                    out.state["rows_done"] = chunk.start + len(chunk)
                    out.commit()
                    if progress:
                        progress(out.state["rows_done"], out.state["rows_total"])
            out.finish()
        except BaseException:
            if out.state["rows_done"] == 0:  # nothing worth resuming: leave nothing behind
                out.clear()
            raise
    return PredictSummary(
        output=output_path,
        rows_total=out.state["rows_done"],
        rows_written=out.state["rows_written"],
        rows_skipped=out.state["rows_skipped"],
        skipped_file=out.skipped_path if out.state["rows_skipped"] else None,
        resumed_at=resumed_at,
        seconds=time.perf_counter() - started,
    )


def _check_pairs(reads_pairs: bool | None, text_pair_column: str | None) -> None:
    """A model trained on single texts given pairs (or the reverse) would still answer, but
    about the wrong input: refuse it."""
    if reads_pairs is False and text_pair_column:
        raise BakeoffError(
            "this model was trained on single texts, not text pairs; drop --text-pair-column "
            f"{text_pair_column}"
        )
    if reads_pairs and not text_pair_column:
        raise BakeoffError(
            "this model was trained on text pairs; name the second text's column with "
            "--text-pair-column"
        )


@contextmanager
def _one_writer(out: _Output) -> Iterator[None]:
    """Hold ``<output>.lock`` while writing ``out``: a second run on the same output is refused.

    Why: two runs writing one output both append every row, so the file held each row twice
    (the progress file cannot tell them apart). The lock is an OS lock (``filelock``), so it
    goes with the process, ``kill -9`` included, and never needs clearing by hand. The lock
    file is removed while still held, on the way out (filelock re-checks, after locking, that
    the file it locked is still linked, so a run that opened it just before is not fooled).
    """
    from filelock import FileLock, Timeout

    try:
        out.path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BakeoffError(
            f"output folder {out.path.parent} cannot be created ({exc.strerror}); choose "
            "another output path"
        ) from None
    lock = FileLock(out.lock_path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise BakeoffError(
            f"another process is writing {out.path} (it holds {out.lock_path.name}); wait for "
            "it to finish, or choose another output path"
        ) from None
    except OSError as exc:
        raise BakeoffError(
            f"cannot write beside {out.path} ({exc.strerror}); choose a writable output folder"
        ) from None
    try:
        yield
    finally:
        out.lock_path.unlink(missing_ok=True)
        lock.release()


def _start(source: _Source, out: _Output, job: dict[str, Any], overwrite: bool) -> int:
    """Continue the interrupted run recorded beside the output, or start afresh (checking the
    whole input first); returns the input row the run continues from."""
    if out.progress_path.exists() and not overwrite:
        out.state = out.load_state()
        if out.state.get("job") == job:
            out.restore()
            return int(out.state["rows_done"])
        if out.state.get("rows_done") != 0:
            recorded = out.state.get("job")
            recorded = recorded if isinstance(recorded, dict) else {}
            changed = sorted(k for k in job if recorded.get(k) != job[k])
            raise BakeoffError(
                f"{out.progress_path} belongs to an interrupted run with other settings "
                f"({', '.join(changed)} differ); run it with the same ones, or pass --overwrite "
                "to start again"
            )
        # a run that stopped before recording a row (killed during its first chunk) left
        # nothing to keep: its files are replaced as if it had never run
    elif out.leftovers() and not overwrite:
        raise BakeoffError(
            f"output {out.path} already exists (a finished run); pass --overwrite to "
            "replace it or choose another output path"
        )
    rows_total = source.scan()  # before anything is deleted or written
    out.clear()
    out.state = {
        "version": PROGRESS_VERSION,
        "job": job,
        "rows_total": rows_total,
        "rows_done": 0,
        "rows_written": 0,
        "rows_skipped": 0,
        "output_bytes": 0,
        "skipped_bytes": 0,
        "parts": 0,
    }
    out.commit()  # before any output exists, so a kill from here on is resumable
    out.restore()
    return 0


def _classify_chunk(
    classifier: Classifier,
    chunk: _Chunk,
    source: _Source,
    out: _Output,
    batch_size: int,
    total: int | None,
    progress: ProgressCallback | None,
) -> None:
    ids = chunk.ids if chunk.ids is not None else range(chunk.start, chunk.start + len(chunk))
    examples: list[Example] = []
    kept_ids: list[Any] = []
    skipped: list[tuple[Any, str]] = []
    pairs = chunk.pairs
    for k, (row_id, text) in enumerate(zip(ids, chunk.texts)):
        problem = _text_problem(text, source.text_column)
        pair = None
        if problem is None and pairs is not None:
            pair = pairs[k]
            problem = _text_problem(pair, source.pair_column or "text_pair")
        if problem is not None:
            skipped.append((row_id, problem))
            continue
        # label 0 is a placeholder: nothing reads gold labels when predicting
        examples.append(Example(_as_text(text), 0, None if pair is None else _as_text(pair)))
        kept_ids.append(row_id)

    labels: list[str | None] = []
    probs: list[list[float] | None] = []
    if examples:
        done = chunk.start

        def advance(n: int = 1) -> None:
            nonlocal done
            done += n
            if progress:
                progress(done, total)

        predictions = classifier.predict(examples, batch_size=batch_size, advance=advance)
        names = classifier.label_names
        labels = [names[i] if i != INVALID else None for i in predictions.labels]
        probs = list(predictions.scores) if predictions.scores is not None else [None] * len(labels)
    out.write_chunk(kept_ids, labels, probs, skipped)


__all__ = ["DEFAULT_CHUNK_ROWS", "PredictSummary", "check_input", "predict_file"]
