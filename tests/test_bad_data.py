"""Bad data files through the real CLI: one ``error:`` line, exit code 2, no traceback, no store.

Each case writes a broken file, runs ``bakeoff run --train-file F --model <tiny BERT> --method
finetune --db DB`` and checks what a user sees. The data must be refused while it is loaded, before
any model is loaded or anything is written, so the results store must not appear (or, when it
existed, must be byte-for-byte unchanged).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bakeoff.cli import app
from bakeoff.custom import CustomDataConfig, load_custom
from bakeoff.store import ResultsStore


def _good(n: int = 20) -> list[dict]:
    return [{"text": f"sample text {i}", "label": ["neg", "pos"][i % 2]} for i in range(n)]


def _jsonl(rows: list) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _csv(labels: list[str], header: str = "text,label") -> str:
    return header + "\n" + "".join(f"text {i},{lab}\n" for i, lab in enumerate(labels))


def _two(n: int = 20) -> list[str]:
    return [["neg", "pos"][i % 2] for i in range(n)]


#: 20,000 good rows before the bad byte: past the first block any decoder reads
_LONG_CSV = _csv(_two(20000))
_LATIN_LINE = 20002  # header + 20,000 rows, then the bad row
_LATIN_OFFSET = len(_LONG_CSV.encode()) + len("caf")


def _parquet(path: Path, names: list[str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = [pa.array([f"t{i}" for i in range(10)])] + [
        pa.array([i % 2 for i in range(10)]) for _ in names[1:]
    ]
    pq.write_table(pa.table(cols, names=names), path)


@dataclass
class Case:
    id: str
    #: file name inside the case folder; "" means the folder itself
    name: str
    #: text (written as UTF-8), bytes, or a function that writes the file at the given path
    content: str | bytes | Callable[[Path], None] | None
    #: fragments the error line must contain
    expect: tuple[str, ...]
    extra: tuple[str, ...] = ()
    #: an eval file written next to it, passed with --eval-file
    eval_content: str | None = None


CASES = [
    Case("missing-file", "nope.csv", None, ("not found",)),
    Case("directory", "", None, ("is a directory", "not a file")),
    Case("empty-csv", "train.csv", "", ("is empty",)),
    Case("empty-jsonl", "train.jsonl", "", ("is empty",)),
    Case("blank-lines-csv", "train.csv", "\n\n  \n", ("is empty",)),
    Case("blank-lines-jsonl", "train.jsonl", "\n\n\n", ("no data rows",)),
    Case("header-only", "train.csv", "text,label\n", ("no data rows", "'text', 'label'")),
    Case("single-class", "train.csv", _csv(["pos"] * 20), ("single class", "'pos'")),
    Case(
        "label-column-missing",
        "train.csv",
        _csv(_two(), "text,stars"),
        ("no column 'label'", "'text', 'stars'", "--label-column"),
    ),
    Case(
        "text-column-missing",
        "train.jsonl",
        _jsonl([{"review": "x", "label": "a"}] * 4),
        ("no column 'text'", "'review', 'label'"),
    ),
    Case(
        "label-column-case",
        "train.csv",
        _csv(_two(), "text,Label"),
        ("no column 'label'", "did you mean 'Label'"),
    ),
    Case(
        "tab-separated-csv",
        "train.csv",
        "text\tlabel\n" + "".join(f"t{i}\t{i % 2}\n" for i in range(10)),
        ("another separator",),
    ),
    Case(
        "text-is-label-column",
        "train.csv",
        _csv(_two()),
        ("given twice",),
        extra=("--text-column", "label"),
    ),
    Case(
        "duplicate-columns-csv",
        "train.csv",
        "text,label,label\n" + "".join(f"t{i},a,b\n" for i in range(10)),
        ("'label' is used 2 times", "columns 2, 3", "unique"),
    ),
    Case(
        "duplicate-columns-parquet",
        "train.parquet",
        lambda p: _parquet(p, ["text", "label", "label"]),
        ("'label' is used 2 times",),
    ),
    Case(
        "duplicate-key-jsonl",
        "train.jsonl",
        _jsonl(_good(3)) + '{"text": "x", "label": "pos", "label": "neg"}\n',
        ("line 4", "key 'label' twice"),
    ),
    Case(
        "jsonl-row-is-list",
        "train.jsonl",
        _jsonl(_good(5)) + "[1, 2]\n",
        ("line 6 is a list", "not a JSON object"),
    ),
    Case(
        "jsonl-row-is-null",
        "train.jsonl",
        _jsonl(_good(5)) + "\nnull\n",
        ("line 7 is null", "not a JSON object"),
    ),
    Case(
        "jsonl-row-is-string",
        "train.jsonl",
        _jsonl(_good(2)) + '"just text"\n',
        ("line 3 is a string",),
    ),
    Case(
        "jsonl-row-is-number",
        "train.jsonl",
        _jsonl(_good(2)) + "42\n",
        ("line 3 is a number",),
    ),
    Case(
        "jsonl-row-without-label",
        "train.jsonl",
        _jsonl(_good(5)) + "\n" + _jsonl([{"text": "no label here"}]),
        ("row 6 (line 7) has no 'label'", "it has: 'text'"),
    ),
    Case(
        "jsonl-row-without-text",
        "train.jsonl",
        _jsonl(_good(5) + [{"label": "pos"}]),
        ("row 6 has no 'text'", "it has: 'label'"),
    ),
    Case(
        "jsonl-invalid-json",
        "train.jsonl",
        _jsonl(_good(2)) + '{"text": "x", "label": \n',
        ("line 3 is not valid JSON",),
    ),
    Case(
        "json-array-with-non-object",
        "train.json",
        json.dumps([*_good(4), None]),
        ("item 5 of the array is null",),
    ),
    Case(
        "jsonl-null-label",
        "train.jsonl",
        _jsonl([*_good(4), {"text": "x", "label": None}]),
        ("row 5 has no 'label' value",),
    ),
    Case(
        "jsonl-nan-label",
        "train.jsonl",
        _jsonl(_good(4)) + '{"text": "x", "label": NaN}\n',
        ("row 5 has no 'label' value",),
    ),
    Case(
        "jsonl-object-label",
        "train.jsonl",
        _jsonl([*_good(4), {"text": "x", "label": {"a": 1}}]),
        ("row 5 has a 'label' that is an object",),
    ),
    Case(
        "jsonl-list-text",
        "train.jsonl",
        _jsonl([*_good(4), {"text": ["a", "b"], "label": "pos"}]),
        ("row 5 has a 'text' that is a list",),
    ),
    Case(
        "csv-nan-label",
        "train.csv",
        _csv([*_two(4), "NaN", *_two(4)]),
        ("row 5 (line 6) has no 'label' value ('NaN')",),
    ),
    Case(
        "csv-empty-label",
        "train.csv",
        _csv([*_two(4), "", *_two(4)]),
        ("row 5 (line 6) has no 'label' value",),
    ),
    Case(
        "csv-blank-label",
        "train.csv",
        _csv([*_two(4), "   ", *_two(4)]),
        ("row 5 (line 6) has no 'label' value",),
    ),
    Case(
        "csv-empty-text",
        "train.csv",
        "text,label\n" + "".join(f"t{i},a\n" for i in range(3)) + ",b\n",
        ("row 4 (line 5) has no 'text' value",),
    ),
    Case(
        "csv-too-many-fields",
        "train.csv",
        _csv(_two(5)) + "a, b,pos\n",
        ("line 7 has 3 fields but the header has 2",),
    ),
    Case(
        "csv-unclosed-quote",
        "train.csv",
        _csv(_two(5)) + '"never closed,pos\n' + _csv(_two(3)).split("\n", 1)[1],
        ("not well-formed CSV",),
    ),
    Case(
        "csv-latin-1",
        "train.csv",
        (_LONG_CSV + "caf\xe9 au lait,pos\n").encode("latin-1"),
        (
            "not valid UTF-8",
            "0xe9",
            f"line {_LATIN_LINE}, column 4",
            f"byte offset {_LATIN_OFFSET}",
        ),
    ),
    Case(
        "jsonl-latin-1",
        "train.jsonl",
        (_jsonl(_good(3000)) + '{"text": "caf\xe9", "label": "pos"}\n').encode("latin-1"),
        ("not valid UTF-8", "line 3001, column 14"),
    ),
    Case(
        "jsonl-gz-latin-1",
        "train.jsonl.gz",
        gzip.compress((_jsonl(_good(3000)) + '{"text": "\xe9"}\n').encode("latin-1")),
        ("not valid UTF-8", "line 3001, column 11", "uncompressed byte offset"),
    ),
    Case(
        "truncated-gzip",
        "train.jsonl.gz",
        gzip.compress(_jsonl(_good(5000)).encode())[:-10],
        ("cannot be read", "end-of-stream"),
    ),
    Case(
        "corrupt-parquet",
        "train.parquet",
        b"PAR1 definitely not parquet",
        ("not a readable Parquet",),
    ),
    Case("unsupported-type", "train.txt", "text,label\nx,1\n", ("unsupported file type",)),
    Case(
        "eval-label-unseen",
        "train.csv",
        _csv(_two()),
        ("eval labels 'maybe' never occur in training",),
        eval_content=_csv(["pos", "maybe"]),
    ),
    Case(
        # '--1' and '²' once made int() fail while sorting the labels (str.isdigit('²') is True)
        "odd-numeric-labels-sorted",
        "train.csv",
        _csv(["--1", "²", "3"] * 5),
        ("eval labels '4' never occur in training",),
        eval_content=_csv(["3", "4"]),
    ),
    Case(
        "eval-file-is-train-file",
        "train.csv",
        _csv(_two()),
        ("is the train file",),
        extra=("--eval-file", "{path}"),
    ),
]


def _write(case: Case, folder: Path) -> Path:
    path = folder / case.name if case.name else folder
    if callable(case.content):
        case.content(path)
    elif isinstance(case.content, bytes):
        path.write_bytes(case.content)
    elif isinstance(case.content, str):
        path.write_text(case.content, encoding="utf-8")
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _invoke(case: Case, tmp_path: Path, tiny_bert: Path, db: Path):
    folder = tmp_path / "data"
    folder.mkdir()
    path = _write(case, folder)
    args = ["run", "--train-file", str(path), "--model", str(tiny_bert)]
    args += ["--method", "finetune", "--db", str(db)]
    if case.eval_content is not None:
        (folder / "eval.csv").write_text(case.eval_content, encoding="utf-8")
        args += ["--eval-file", str(folder / "eval.csv")]
    args += [a.replace("{path}", str(path)) for a in case.extra]
    return CliRunner().invoke(app, args)


def _check_one_error_line(result, case: Case) -> str:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: "), lines[0]
    for fragment in case.expect:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("store_before", [False, True], ids=["no-store", "existing-store"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_data_is_one_error_line(
    case: Case, store_before: bool, tmp_path: Path, tiny_bert: Path
) -> None:
    db = tmp_path / "results.db"
    if store_before:
        ResultsStore(db).close()
        before = _sha(db)
    result = _invoke(case, tmp_path, tiny_bert, db)
    _check_one_error_line(result, case)
    if store_before:
        assert _sha(db) == before, "an existing results store was changed by a refused run"
    else:
        assert not db.exists(), "a refused run created the results store"


# A label with rich markup in it ('[/]') reaches the error line verbatim: the CLI escapes it, so
# rich never reads it as markup (it raised MarkupError, a traceback, before).
def test_error_line_with_markup_characters(tmp_path: Path, tiny_bert: Path) -> None:
    case = Case(
        "markup-in-label",
        "train.csv",
        _csv(_two()),
        ("'[/]' never occur in training",),
        eval_content=_csv(["pos", "[/]"]),
    )
    db = tmp_path / "b.db"
    ResultsStore(db).close()
    _check_one_error_line(_invoke(case, tmp_path, tiny_bert, db), case)


def test_installed_command_prints_one_line(tmp_path: Path, tiny_bert: Path) -> None:
    """The same through the installed ``bakeoff`` script, as a user runs it: stderr has the one
    line, stdout nothing, and Python printed no traceback."""
    bad = tmp_path / "train.jsonl"
    bad.write_text(_jsonl(_good(4)) + "null\n", encoding="utf-8")
    script = Path(sys.executable).with_name("bakeoff")
    if not script.exists():
        pytest.skip(f"no bakeoff script next to {sys.executable}")
    db = tmp_path / "b.db"
    ResultsStore(db).close()
    before = _sha(db)
    done = subprocess.run(
        [str(script), "run", "--train-file", str(bad), "--model", str(tiny_bert), "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and not done.stdout.strip()
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "line 5 is null" in lines[0]
    assert _sha(db) == before


# ---- what is not an error: one spelling per label across formats, long texts ---------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_numeric_labels_have_one_spelling_in_every_format(tmp_path: Path, fmt: str) -> None:
    """'1', '1.0', 1 and 1.0 are one label, as a float column written to CSV shows them."""
    import pandas as pd

    spelled: list = {
        "csv": ["1", "1.0", "2", "2.0", " 10 ", "1e1"],
        "jsonl": [1, 1.0, "2", "2.0", 10, 10.0],
        "parquet": [1.0, 1.0, 2.0, 2.0, 10.0, 10.0],
    }[fmt]
    rows = [{"text": f"text {i}", "label": spelled[i % 6]} for i in range(60)]
    path = tmp_path / f"train.{fmt}"
    if fmt == "csv":
        path.write_text(_csv([str(r["label"]) for r in rows]), encoding="utf-8")
    elif fmt == "jsonl":
        path.write_text(_jsonl(rows), encoding="utf-8")
    else:
        pd.DataFrame(rows).to_parquet(path)
    data = load_custom(CustomDataConfig(train_file=path))
    assert data.task.label_names == ("1", "2", "10")  # numeric order: 2 before 10


def test_odd_numeric_looking_labels_sort_without_error(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text(_csv(["--1", "²", "-3", "+4"] * 5), encoding="utf-8")
    data = load_custom(CustomDataConfig(train_file=path, holdout_fraction=0.4))
    # the label canon: NFKC makes '²' the digit 2 and '+4' is the number 4; '--1' stays text
    assert sorted(data.task.label_names) == sorted(["--1", "2", "-3", "4"])


def test_true_false_labels_are_one_spelling(tmp_path: Path) -> None:
    csv_path, jsonl_path = tmp_path / "a.csv", tmp_path / "a.jsonl"
    csv_path.write_text(_csv(["True", "false", "true", "FALSE"] * 5), encoding="utf-8")
    jsonl_path.write_text(
        _jsonl([{"text": f"t{i}", "label": i % 2 == 0} for i in range(20)]), encoding="utf-8"
    )
    for path in (csv_path, jsonl_path):
        assert load_custom(CustomDataConfig(train_file=path)).task.label_names == ("false", "true")


def test_very_long_texts_and_a_bom_are_fine(tmp_path: Path) -> None:
    long_text = "word " * 200_000  # 1 MB per field, beyond the csv module's default limit
    path = tmp_path / "train.csv"
    body = "".join(f'"{long_text}{i}",{["neg", "pos"][i % 2]}\n' for i in range(10))
    path.write_text("\ufefftext,label\n" + body, encoding="utf-8")
    data = load_custom(CustomDataConfig(train_file=path, holdout_fraction=0.4))
    assert data.task.label_names == ("neg", "pos")
    assert min(len(e.text) for e in data.train + data.eval) > 1_000_000


def test_csv_with_multiline_field_names_the_right_line(tmp_path: Path) -> None:
    from bakeoff.errors import BakeoffError

    path = tmp_path / "train.csv"
    path.write_text('text,label\n"two\nlines",pos\nfine,neg\n"also\nfine",NaN\n', encoding="utf-8")
    with pytest.raises(BakeoffError, match=r"row 3 \(line 5\) has no 'label' value"):
        load_custom(CustomDataConfig(train_file=path))


@pytest.mark.parametrize(
    ("encoding", "named"), [("utf-16", "UTF-16"), ("utf-32", "UTF-32"), ("cp1252", "Latin-1")]
)
def test_a_file_not_in_utf8_is_named_by_its_likely_encoding(
    tmp_path: Path, encoding: str, named: str
) -> None:
    """A UTF-16 or UTF-32 file (as spreadsheets on Windows save them) is named as such, not as
    Latin-1, so the fix (re-save as UTF-8) is clear."""
    from bakeoff.data import not_utf8

    path = tmp_path / "rows.csv"
    path.write_bytes("text,label\ncafé au lait,1\nbye,0\n".encode(encoding))
    message = str(not_utf8(path))
    assert named in message and "re-save the file as UTF-8" in message, message
    if named != "Latin-1":
        assert "Latin-1" not in message
