"""Every bad input, flag and output path of ``bakeoff predict`` through the real CLI: exit code 2,
one ``error:`` line, no traceback, and the output folder exactly as it was.

Each row gets its own folder with a finished output of an earlier run (``done.csv``) and runs
``bakeoff predict`` with a tiny random-weight encoder artifact. Whatever the row gets wrong, the
folder must be byte-for-byte the same afterwards: no half-written output, no progress file that
blocks the re-run, and the earlier output kept even under ``--overwrite`` (the whole input is
checked before anything is deleted or written).

After the table: two runs on one output (one writes, the other refuses), texts longer than the
csv module's field limit and than any tokenizer should read, and a failed run's leftovers.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bakeoff.cli import app
from bakeoff.textcut import char_limit

MAX_LENGTH = 32
ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Any:
    """Tiny models gain nothing from threads; on a busy 2-core machine they only wait."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _save(tiny_bert: Path, folder: Path, task: str) -> Path:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from bakeoff.artifacts import save_encoder

    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert)
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    return save_encoder(
        folder,
        model,
        tokenizer,
        ("neg", "pos"),
        {"max_length": MAX_LENGTH},
        "fp32",
        batch_size=8,
        extra={"experiment_id": f"exp-{task}", "task": task},
    )


@pytest.fixture(scope="module")
def single(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An encoder kept from a single-text task (the artifact says sst2)."""
    return _save(tiny_bert, tmp_path_factory.mktemp("artifacts") / "single", "sst2")


@pytest.fixture(scope="module")
def paired(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An encoder kept from a text-pair task (the artifact says rte)."""
    return _save(tiny_bert, tmp_path_factory.mktemp("artifacts") / "paired", "rte")


# ---------------------------------------------------------------------------------------------
# inputs


def _csv(path: Path, rows: list[list[Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)


def _jsonl(path: Path, rows: list[Any]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _parquet(path: Path, columns: dict[str, list[Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)


GOOD = [["text", "id"], ["a fine film", "a"], ["dull", "b"]]


def _good_csv(d: Path) -> None:
    _csv(d / "in.csv", GOOD)


@dataclass
class Case:
    id: str
    #: writes the row's input (and anything else) into its folder
    setup: Callable[[Path], None]
    #: arguments after ``predict``; ``{dir}`` is the row's folder
    args: tuple[str, ...]
    #: fragments the error line must contain
    expect: tuple[str, ...]
    #: the model: "single" (trained on one text) or "paired"
    model: str = "single"
    marks: tuple[Any, ...] = ()


def _bytes(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda d: (d / name).write_bytes(data)


def _text(name: str, text: str, encoding: str = "utf-8") -> Callable[[Path], None]:
    return lambda d: (d / name).write_text(text, encoding=encoding)


def _gz(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda d: (d / name).write_bytes(gzip.compress(data))


def _damaged_gz(d: Path) -> None:
    data = gzip.compress(("text\n" + "a fine film\n" * 5000).encode())
    (d / "in.csv.gz").write_bytes(data[: len(data) // 2])


def _parquet_as(name: str) -> Callable[[Path], None]:
    return lambda d: _parquet(d / name, {"text": ["a", "b"]})


def _jsonl_rows(*rows: Any) -> Callable[[Path], None]:
    return lambda d: _jsonl(d / "in.jsonl", list(rows))


def _a_folder(d: Path) -> None:
    (d / "in.csv").mkdir()


def _output_folder(d: Path) -> None:
    _good_csv(d)
    (d / "out.csv").mkdir()
    (d / "out.csv" / "mine.txt").write_text("the user's", encoding="utf-8")


def _parent_is_a_file(d: Path) -> None:
    _good_csv(d)
    (d / "file").write_text("not a folder", encoding="utf-8")


def _locked(d: Path) -> None:
    _good_csv(d)


IN = ("{dir}/in.csv",)
OUT = ("-o", "{dir}/out.csv")
CASES = [
    # the input path
    Case("input-missing", lambda d: None, IN + OUT, ("not found",)),
    Case("input-is-a-folder", _a_folder, IN + OUT, ("is a folder",)),
    Case("input-unsupported-suffix", _text("in.txt", "text\nfine\n"),
         ("{dir}/in.txt", *OUT), ("unsupported file type",)),
    # the bytes: encodings and formats under the wrong name
    Case("empty-file", _text("in.csv", ""), IN + OUT, ("no rows or no header",)),
    Case("header-only", _text("in.csv", "text,id\n"), IN + OUT, ("no rows",)),
    Case("header-only-parquet", lambda d: _parquet(d / "in.parquet", {"text": []}),
         ("{dir}/in.parquet", *OUT), ("no rows",)),
    Case("blank-lines-jsonl", _text("in.jsonl", "\n\n  \n"), ("{dir}/in.jsonl", *OUT),
         ("no rows",)),
    Case("utf16-csv", _text("in.csv", "text\nfine\n", "utf-16"), IN + OUT, ("UTF-16",)),
    Case("utf16-be-jsonl", _bytes("in.jsonl", b"\xfe\xff" + '{"text": "a"}\n'.encode("utf-16-be")),
         ("{dir}/in.jsonl", *OUT), ("UTF-16",)),
    Case("utf32-csv", _text("in.csv", "text\nfine\n", "utf-32"), IN + OUT, ("UTF-32",)),
    Case("latin1-csv", _bytes("in.csv", "text\ncaf\xe9 cr\xe8me\n".encode("latin-1")), IN + OUT,
         ("not valid UTF-8",)),
    Case("binary-file", _bytes("in.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50), IN + OUT,
         ("not valid UTF-8",)),
    Case("gzip-named-csv", _gz("in.csv", b"text\nfine\n"), IN + OUT, ("gzip-compressed",)),
    Case("gz-name-not-gzip", _text("in.csv.gz", "text\nfine\n"), ("{dir}/in.csv.gz", *OUT),
         ("not gzip-compressed",)),
    Case("damaged-gz", _damaged_gz, ("{dir}/in.csv.gz", *OUT), ("cannot be read",)),
    Case("utf16-inside-gz", _gz("in.csv.gz", "text\nfine\n".encode("utf-16")),
         ("{dir}/in.csv.gz", *OUT), ("UTF-16",)),
    Case("parquet-named-csv", _parquet_as("in.csv"), IN + OUT, ("is a Parquet file",)),
    Case("text-named-parquet", _text("in.parquet", "text\nfine\n"), ("{dir}/in.parquet", *OUT),
         ("not a Parquet file",)),
    # columns and rows
    Case("missing-column", _good_csv, (*IN, *OUT, "--text-column", "review"),
         ("no column 'review'",)),
    Case("missing-id-column", _good_csv, (*IN, *OUT, "--id-column", "key"), ("no column 'key'",)),
    Case("id-column-clashes", lambda d: _csv(d / "in.csv", [["text", "label"], ["a", "b"]]),
         (*IN, *OUT, "--id-column", "label"), ("clashes",)),
    Case("csv-extra-fields", _text("in.csv", "text\nfine\nbad, unquoted, commas\n"), IN + OUT,
         ("line 3 has 3 fields",)),
    Case("csv-quote-never-closes", _text("in.csv", 'text\nfine\n"open quote, and more\nrows\n'),
         IN + OUT, ("not well-formed CSV",)),
    Case("csv-text-after-a-quote", _text("in.csv", 'text\n"quoted" then text\n'), IN + OUT,
         ("not well-formed CSV",)),
    Case("jsonl-list-text", _jsonl_rows({"text": "fine"}, {"text": ["a", "b"]}),
         ("{dir}/in.jsonl", *OUT), ("line 2, column 'text' holds a list",)),
    Case("jsonl-object-text", _jsonl_rows({"text": {"a": 1}}), ("{dir}/in.jsonl", *OUT),
         ("line 1, column 'text' holds an object",)),
    Case("jsonl-list-pair", _jsonl_rows({"text": "a", "t2": ["b"]}),
         ("{dir}/in.jsonl", *OUT, "--text-pair-column", "t2"), ("column 't2' holds a list",),
         model="paired"),
    Case("jsonl-list-id", _jsonl_rows({"text": "a", "id": [1]}),
         ("{dir}/in.jsonl", *OUT, "--id-column", "id"), ("column 'id' holds a list",)),
    Case("jsonl-not-json", _text("in.jsonl", '{"text": "a"}\n{"text": \n'),
         ("{dir}/in.jsonl", *OUT), ("line 2 is not valid JSON",)),
    Case("jsonl-not-an-object", _text("in.jsonl", '{"text": "a"}\n["a"]\n'),
         ("{dir}/in.jsonl", *OUT), ("line 2 is not a JSON object",)),
    Case("parquet-list-column", lambda d: _parquet(d / "in.parquet", {"text": [["a"], ["b"]]}),
         ("{dir}/in.parquet", *OUT), ("column 'text' holds list",)),
    # the model and the input disagree
    Case("pair-column-single-model", lambda d: _csv(d / "in.csv", [["text", "t2"], ["a", "b"]]),
         (*IN, *OUT, "--text-pair-column", "t2"), ("single texts", "drop --text-pair-column")),
    Case("no-pair-column-pair-model", _good_csv, IN + OUT, ("text pairs", "--text-pair-column"),
         model="paired"),
    # the output path
    Case("output-unsupported-suffix", _good_csv, (*IN, "-o", "{dir}/out.txt"),
         ("unsupported suffix",)),
    Case("output-is-a-folder", _output_folder, IN + OUT, ("is a folder",)),
    Case("output-is-the-input", _good_csv, (*IN, "-o", "{dir}/in.csv", "--overwrite"),
         ("is the input",)),
    Case("output-exists", _good_csv, (*IN, "-o", "{dir}/done.csv"), ("already exists",)),
    Case("overwrite-with-a-bad-input", _jsonl_rows({"text": "a"}, {"text": [1]}),
         ("{dir}/in.jsonl", "-o", "{dir}/done.csv", "--overwrite"), ("holds a list",)),
    Case("output-under-a-file", _parent_is_a_file, (*IN, "-o", "{dir}/file/out.csv"),
         ("cannot be created",)),
    Case("output-folder-read-only", _good_csv, (*IN, "-o", "{dir}/ro/out.csv"),
         ("cannot write beside",),
         marks=(pytest.mark.skipif(ROOT, reason="root writes into read-only folders"),)),
    Case("another-run-writes-it", _locked, IN + OUT, ("another process is writing",)),
]  # fmt: skip


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (None for a folder)."""
    return {
        str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes()
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_predict_input_is_one_line_and_writes_nothing(
    case: Case, single: Path, paired: Path, tmp_path: Path
) -> None:
    from filelock import FileLock

    case.setup(tmp_path)
    (tmp_path / "done.csv").write_text("row,label,p_neg,p_pos\n0,neg,0.6,0.4\n", encoding="utf-8")
    if case.id == "output-folder-read-only":
        (tmp_path / "ro").mkdir()
        (tmp_path / "ro").chmod(0o500)
    before = _snapshot(tmp_path)
    model = single if case.model == "single" else paired
    args = ["predict", *(a.format(dir=tmp_path) for a in case.args), "--artifact", str(model)]
    lock = FileLock(tmp_path / "out.csv.lock", timeout=0)
    if case.id == "another-run-writes-it":
        lock.acquire()
        before = _snapshot(tmp_path)  # the lock file is the other run's
    try:
        result = CliRunner().invoke(app, args)
    finally:
        if lock.is_locked:
            lock.release()
        (tmp_path / "ro").chmod(0o700) if (tmp_path / "ro").exists() else None
    output = result.output
    assert result.exit_code == 2, output
    assert "Traceback" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    for fragment in case.expect:
        assert fragment in errors[0], errors[0]
    assert _snapshot(tmp_path) == before


# ---------------------------------------------------------------------------------------------
# one writer per output

_WRITER = """
import sys, time
from pathlib import Path
from bakeoff.artifacts import load_classifier
from bakeoff.predict import predict_file

clf = load_classifier(sys.argv[1], device="cpu")
started, go = Path(sys.argv[4]), Path(sys.argv[5])

def progress(done, total):
    if done > 0 and not started.exists():
        started.write_text("writing")  # one chunk is written: now wait for the other run
        deadline = time.monotonic() + 120
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

predict_file(clf, sys.argv[2], sys.argv[3], chunk_rows=10, progress=progress)
"""


def test_two_runs_on_one_output_one_writes_the_other_refuses(single: Path, tmp_path: Path) -> None:
    """A real second process, started while the first is between chunks, is refused with one
    line and exit 2; the first then finishes with every row exactly once."""
    texts = [f"review number {i} of a film" for i in range(40)]
    _csv(tmp_path / "in.csv", [["text"], *([t] for t in texts)])
    out, started, go = tmp_path / "out.csv", tmp_path / "started", tmp_path / "go"
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(_WRITER), encoding="utf-8")
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(
        [sys.executable, str(script), str(single), str(tmp_path / "in.csv"), str(out),
         str(started), str(go)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        for _ in range(1200):
            if started.exists() or first.poll() is not None:
                break
            subprocess.run(["sleep", "0.1"])
        assert started.exists(), first.communicate()[1].decode()[-2000:]
        second = subprocess.run(
            [sys.executable, "-m", "bakeoff.cli", "predict", str(tmp_path / "in.csv"),
             "-o", str(out), "--artifact", str(single)],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        go.write_text("go")
        _, err = first.communicate(timeout=300)
    assert second.returncode == 2, second.stdout + second.stderr
    assert "another process is writing" in second.stdout + second.stderr
    assert "Traceback" not in second.stdout + second.stderr
    assert first.returncode == 0, err.decode()[-2000:]
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["row"]) for r in rows] == list(range(40))  # each row once
    assert (
        not (tmp_path / "out.csv.lock").exists()
        and not (tmp_path / "out.csv.progress.json").exists()
    )


# ---------------------------------------------------------------------------------------------
# long texts


class _Spy:
    """A tokenizer that records the longest string it was given."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.longest = 0

    def __call__(self, text: Any, pair: Any = None, **kwargs: Any) -> Any:
        for batch in (text, pair):
            if batch is not None:
                values = [batch] if isinstance(batch, str) else batch
                self.longest = max([self.longest, *map(len, values)])
        return self.tokenizer(text, pair, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tokenizer, name)


def _words(n_chars: int, seed: int = 0) -> str:
    import random

    words = "a film of rare warmth and wit the cast is superb but the script wanders".split()
    rng = random.Random(seed)
    out: list[str] = []
    size = 0
    while size < n_chars:
        w = rng.choice(words)
        out.append(w)
        size += len(w) + 1
    return " ".join(out)


def test_a_csv_field_over_the_csv_modules_limit_is_predicted(single: Path, tmp_path: Path) -> None:
    """``run`` reads fields of any length, so predict must too (the csv module stops at
    131,072 characters unless told otherwise); the limit is restored afterwards."""
    long = _words(200_000)
    _csv(tmp_path / "in.csv", [["text"], [long], ["short"]])
    before = csv.field_size_limit()
    result = CliRunner().invoke(
        app, ["predict", str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.csv"),
              "--artifact", str(single)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as fh:
        assert [r["row"] for r in csv.DictReader(fh)] == ["0", "1"]
    assert csv.field_size_limit() == before


def test_texts_are_cut_before_tokenising_without_changing_predictions(single: Path) -> None:
    """The encoder's tokenizer never sees more than ``char_limit`` characters of a text, and a
    text far over the model's length is classified exactly as its whole text would be."""
    import torch

    from bakeoff.artifacts import load_classifier
    from bakeoff.data import Example

    clf = load_classifier(single, device="cpu")
    spy = _Spy(clf.tokenizer)
    clf.tokenizer = spy
    long, other = _words(3 * char_limit(MAX_LENGTH), seed=1), _words(40_000, seed=4)
    singles = clf.predict([Example(long, 0), Example(other, 0)], batch_size=1)
    pairs = clf.predict([Example(long, 0, other)], batch_size=1)
    assert 0 < spy.longest <= 2 * char_limit(MAX_LENGTH)  # a pair's longer text keeps twice

    def whole(text: str, pair: str | None = None) -> list[float]:
        """The text tokenised whole, then truncated: what the model saw before the cut."""
        enc = spy.tokenizer(text, pair, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
        with torch.inference_mode():
            return torch.softmax(clf.model(**enc).logits.float(), dim=-1)[0].tolist()

    want = [whole(long), whole(other), whole(long, other)]
    assert want[0] != want[1]  # the two texts do reach the model differently
    assert [*singles.scores, *pairs.scores] == want


def test_a_multi_megabyte_jsonl_line_is_cut_before_tokenising(single: Path, tmp_path: Path) -> None:
    """One 8 MB line (it used to be tokenised whole: 40 MB took 11.6 GB and 111 s) is classified
    from its first ``char_limit`` characters, next to ordinary rows."""
    from bakeoff.artifacts import load_classifier
    from bakeoff.predict import predict_file

    clf = load_classifier(single, device="cpu")
    spy = _Spy(clf.tokenizer)
    clf.tokenizer = spy
    huge = _words(8_000_000, seed=2)
    _jsonl(tmp_path / "in.jsonl", [{"text": "fine"}, {"text": huge}, {"text": 7}])
    summary = predict_file(clf, tmp_path / "in.jsonl", tmp_path / "out.jsonl")
    assert summary.rows_written == 3
    assert spy.longest <= char_limit(MAX_LENGTH)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["row"] for r in rows] == [0, 1, 2]  # the number 7 is read as the text "7"


def test_embedding_and_prompted_classifiers_cut_too(tiny_bert: Path) -> None:
    """Embedding (and SetFit) and prompted classifiers hand their tokenizers cut texts; a
    prompted one still says its prompt was cut to max_length."""
    from bakeoff.backends.causal_lm import load_causal_lm
    from bakeoff.config import PromptSettings
    from bakeoff.data import Example
    from bakeoff.methods.embed_logreg import EmbeddingClassifier, load_sentence_encoder
    from bakeoff.methods.prompted import PromptedClassifier
    from bakeoff.prompts import PromptBuilder, build_format
    from tests.llm_fixtures import tiny_llama_path, toy_sst2

    encoder, _ = load_sentence_encoder(str(tiny_bert), "cpu")
    encoder.max_seq_length = MAX_LENGTH
    seen: list[int] = []
    preprocess = encoder.preprocess  # where sentence-transformers tokenises

    def spy(inputs: list[str], *args: Any, **kwargs: Any) -> Any:
        seen.extend(len(t) for t in inputs)
        return preprocess(inputs, *args, **kwargs)

    encoder.preprocess = spy
    embed = EmbeddingClassifier(encoder, None, ("neg", "pos"), 8, "cpu", "fp32", True)
    huge = _words(2_000_000, seed=3)
    assert embed.features([Example(huge, 0), Example("fine", 0)]).shape[0] == 2
    assert max(seen) <= char_limit(MAX_LENGTH)

    data = toy_sst2()
    settings = PromptSettings(k=0, max_length=64)
    lm = load_causal_lm(str(tiny_llama_path()), "cpu", "fp32")
    builder = PromptBuilder(build_format(data.task, settings), [], lm.tokenizer, False)
    prompted = PromptedClassifier(lm, builder, settings, "cpu", 2, False)
    lm.tokenizer = _Spy(lm.tokenizer)
    prompted.builder.tokenizer = lm.tokenizer
    with pytest.warns(UserWarning, match="cut from the left"):
        pred = prompted.predict([Example(huge, 0), Example("fine", 0)])
    assert len(pred.labels) == 2
    assert 0 < lm.tokenizer.longest <= char_limit(64) + 200  # the text's cut plus the template


# ---------------------------------------------------------------------------------------------
# leftovers


def test_a_run_that_failed_before_its_first_row_leaves_nothing_behind(
    single: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that dies before recording a row leaves no progress file to block the re-run, and
    a progress file left by one killed that early (other input since) is simply replaced."""
    from bakeoff.artifacts import load_classifier
    from bakeoff.predict import predict_file

    clf = load_classifier(single, device="cpu")
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    _csv(source, [["text"], ["fine"], ["dull"]])

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the device went away")

    with monkeypatch.context() as patch:
        patch.setattr(clf, "predict", broken)
        with pytest.raises(RuntimeError):
            predict_file(clf, source, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]

    # a run killed during its first chunk: a progress file with no row recorded
    (tmp_path / "out.csv.progress.json").write_text(
        json.dumps({"version": 1, "job": {"input": "elsewhere"}, "rows_done": 0}),
        encoding="utf-8",
    )
    out.write_text("row,label,p_neg,p_pos\n", encoding="utf-8")
    _csv(source, [["text"], ["fine"], ["dull"], ["fixed"]])
    assert predict_file(clf, source, out).rows_written == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


def test_what_the_model_reads_comes_from_its_recipe_or_its_task(
    single: Path, paired: Path, tmp_path: Path
) -> None:
    """A prompted recipe's template names its text fields; a kept encoder's task says whether
    it read pairs; an artifact from an unknown task is not guessed about (None: not checked)."""
    from types import SimpleNamespace

    from bakeoff.cli.predict import reads_pairs
    from bakeoff.reuse import Chosen

    db = tmp_path / "unused.db"
    for fields, want in ((("sentence",), False), (("premise", "hypothesis"), True)):
        prompted = SimpleNamespace(fmt=SimpleNamespace(text_fields=fields))
        assert reads_pairs(prompted, Chosen(tmp_path, None, "recipe"), db) is want
    plain = SimpleNamespace()
    assert reads_pairs(plain, Chosen(single, None, "artifact"), db) is False
    assert reads_pairs(plain, Chosen(paired, None, "artifact"), db) is True
    meta = json.loads((single / "bakeoff-artifact.json").read_text(encoding="utf-8"))
    meta["extra"]["task"] = "my-own-tickets"
    unknown = tmp_path / "unknown"
    unknown.mkdir()
    for item in single.iterdir():
        (unknown / item.name).write_bytes(item.read_bytes())
    (unknown / "bakeoff-artifact.json").write_text(json.dumps(meta), encoding="utf-8")
    assert reads_pairs(plain, Chosen(unknown, None, "artifact"), db) is None
    assert not db.exists()
