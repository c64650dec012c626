"""Bad input to the smaller commands (``samples``, ``mlflow``, ``cache``, ``results``, a foreign
store) and hostile text from the data on the terminal, through the real CLI.

Each refusal row checks: exit code 2, exactly one ``error:`` line naming the problem, no
traceback, and nothing written or changed (the store, the target, the output). The terminal rows
check that labels, task and model names holding rich markup (``[/]``, ``[bold]x``), ANSI escapes
and other control characters neither crash a command nor reach the terminal raw, and that the
stored result is intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bakeoff.cli import app
from bakeoff.errors import BakeoffError
from bakeoff.printable import markup, printable
from bakeoff.store import ResultsStore

sys.path.insert(0, str(Path(__file__).parent))
from report_fixtures import add_experiment, build_store, timing  # noqa: E402

runner = CliRunner()

#: anything that acts on a terminal: C0/C1 controls but newline, and bidirectional overrides
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

#: labels that once crashed rich or reached the terminal raw
HOSTILE_LABELS = ["[/]", "[bold]x", "\x1b[31mred\x1b[0m", "bell\x07\rback", "\u202eevil", ":smile:"]


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _one_error_line(result: Any, *fragments: str) -> str:
    """The result is a refusal: exit 2, one ``error:`` line with every fragment, no traceback."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    text = " ".join(result.output.split())
    for fragment in fragments:
        assert fragment in text, result.output
    return lines[0]


def _nothing_beside(folder: Path, name: str) -> None:
    """Only the store in its folder: a reader may leave SQLite's empty WAL index files."""
    extra = {p.name for p in folder.iterdir()} - {name}
    assert extra <= {f"{name}-wal", f"{name}-shm"}, f"written: {extra}"
    wal = folder / f"{name}-wal"
    assert not wal.exists() or wal.stat().st_size == 0


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "b.db"
    build_store(path).close()
    return path


# -- samples -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["-e", ""], ("--experiment ''", "empty value", "--all")),
        (["-e", "   "], ("--experiment '", "empty value")),
        (["-e", ","], ("--experiment ','", "empty value")),
        (["-e", "abcd,"], ("--experiment 'abcd,'", "empty value")),
        (["--experiment", "", "--experiment", "abcd"], ("--experiment ''",)),
        (["--all", "-e", ""], ("--experiment ''",)),
        (["-t", ""], ("--task ''", "empty value")),
        (["-t", "sst2,,rte"], ("--task 'sst2,,rte'",)),
        (["-e", "ab"], ("--experiment ab", "no experiment with that id")),
        (["-t", "no_such_task"], ("--task no_such_task",)),
    ],
    ids=[
        "empty-id", "blank-id", "comma-only", "trailing-comma", "one-of-two-empty",
        "all-and-empty", "empty-task", "empty-task-in-list", "short-id", "unknown-task",
    ],
)  # fmt: skip
def test_samples_refuses_a_blank_or_unknown_selection(
    db: Path, tmp_path: Path, args: list[str], fragments: tuple[str, ...]
) -> None:
    before = _digest(db)
    out = tmp_path / "s.jsonl"
    result = runner.invoke(app, ["samples", "--db", str(db), "-o", str(out), *args])
    _one_error_line(result, *fragments)
    assert not out.exists() and _digest(db) == before
    _nothing_beside(tmp_path, "b.db")


def test_samples_without_a_selection_still_exports_everything(db: Path, tmp_path: Path) -> None:
    """The refusals above are about blank values only: no flag at all still means every
    finished experiment, and a valid id still picks one."""
    out = tmp_path / "all.jsonl"
    result = runner.invoke(app, ["samples", "--db", str(db), "-o", str(out)])
    assert result.exit_code == 0, result.output
    with ResultsStore(db, readonly=True) as store:
        records = store.experiments("done")
        expected = sum(len(store.predictions(r.id)) for r in records)
    assert out.read_text().count("\n") == expected
    one = tmp_path / "one.jsonl"
    result = runner.invoke(app, ["samples", "--db", str(db), "-o", str(one), "-e", records[0].id])
    assert result.exit_code == 0, result.output
    ids = {json.loads(line)["experiment_id"] for line in one.read_text().split("\n") if line}
    assert ids == {records[0].id}


def test_samples_never_replaces_a_file_unless_asked(db: Path, tmp_path: Path) -> None:
    """An existing output may be the user's own file: refused in one line and left as it was;
    ``--overwrite`` replaces it."""
    out = tmp_path / "mine.jsonl"
    out.write_text('{"mine": 1}\n', encoding="utf-8")
    result = runner.invoke(app, ["samples", "--db", str(db), "-o", str(out)])
    assert result.exit_code == 2
    _one_error_line(result, "already exists", "--overwrite")
    assert out.read_text(encoding="utf-8") == '{"mine": 1}\n'
    result = runner.invoke(app, ["samples", "--db", str(db), "-o", str(out), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert '"mine"' not in out.read_text(encoding="utf-8")


# -- mlflow ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Target:
    id: str
    #: the --tracking-uri; ``{dir}`` is the row's folder, ``{db}`` the results store,
    #: ``{port}`` a port nothing listens on
    uri: str
    expect: tuple[str, ...]
    setup: Callable[[Path, Path], None] | None = None


def _garbage(folder: Path, db: Path) -> None:
    (folder / "m.db").write_bytes(bytes(range(256)) * 8)


def _text(folder: Path, db: Path) -> None:
    (folder / "m.db").write_text("not a database\n")


def _copy_of_store(folder: Path, db: Path) -> None:
    shutil.copy(db, folder / "m.db")


def _foreign(folder: Path, db: Path) -> None:
    with sqlite3.connect(folder / "m.db") as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("INSERT INTO notes (body) VALUES ('my own data')")
    conn.close()


def _a_folder(folder: Path, db: Path) -> None:
    (folder / "m.db").mkdir()


def _a_file(folder: Path, db: Path) -> None:
    (folder / "plain").write_text("a file\n")


TARGETS = [
    Target("not-sqlite-bytes", "sqlite:///{dir}/m.db", ("not a SQLite database",), _garbage),
    Target("text-file", "sqlite:///{dir}/m.db", ("not a SQLite database",), _text),
    Target("the-results-store", "sqlite:///{db}", ("the results store being exported",)),
    Target("copy-of-a-store", "sqlite:///{dir}/m.db", ("something else", "not MLflow's"),
           _copy_of_store),
    Target("foreign-sqlite", "sqlite:///{dir}/m.db", ("something else", "notes"), _foreign),
    Target("a-folder", "sqlite:///{dir}/m.db", ("is a folder",), _a_folder),
    Target("under-a-file", "sqlite:///{dir}/plain/m.db", ("is a file, not a folder",), _a_file),
    Target("refused", "http://127.0.0.1:{port}", ("cannot reach the MLflow tracking server",)),
    Target("no-such-host", "http://no-such-host.invalid:5000",
           ("cannot reach the MLflow tracking server", "no host named")),
    Target("port-out-of-range", "http://127.0.0.1:99999", ("port is not a number",)),
    Target("no-host", "http://", ("no host name",)),
    Target("sqlite-no-slashes", "sqlite:m.db", ("a SQLite URI is sqlite:///",)),
]  # fmt: skip


@pytest.mark.parametrize("target", TARGETS, ids=[t.id for t in TARGETS])
def test_mlflow_refuses_an_unusable_target_at_once(
    target: Target, db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("mlflow")
    pytest.importorskip("sqlalchemy")
    folder = tmp_path / "target"
    folder.mkdir()
    monkeypatch.chdir(folder)  # MLflow would put artifacts under ./mlruns
    if target.setup is not None:
        target.setup(folder, db)
    before = {p.name: _digest(p) for p in folder.iterdir()}
    store_before = _digest(db)
    uri = target.uri.format(dir=folder, db=db, port=_free_port())
    started = time.perf_counter()
    result = runner.invoke(app, ["mlflow", "--db", str(db), "--tracking-uri", uri])
    _one_error_line(result, *target.expect)
    assert time.perf_counter() - started < 30, "the refusal must not wait on MLflow's retries"
    assert {p.name: _digest(p) for p in folder.iterdir()} == before, "the target was changed"
    assert _digest(db) == store_before


def test_mlflow_refuses_a_read_only_target(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An MLflow database that cannot be written: one line, not a SQLAlchemy traceback. Root
    writes through file modes, so there the file is made immutable (skipped without chattr)."""
    pytest.importorskip("mlflow")
    pytest.importorskip("sqlalchemy")
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "mlflow.db"
    uri = f"sqlite:///{target}"
    first = runner.invoke(app, ["mlflow", "--db", str(db), "--tracking-uri", uri])
    assert first.exit_code == 0, first.output
    before = _digest(target)
    immutable = os.geteuid() == 0
    if immutable:
        chattr = shutil.which("chattr")
        made = chattr and subprocess.run([chattr, "+i", str(target)], capture_output=True)
        if not made or made.returncode != 0:
            pytest.skip("running as root without chattr +i: cannot make a file read-only")
    else:
        target.chmod(0o444)
    try:
        result = runner.invoke(app, ["mlflow", "--db", str(db), "--tracking-uri", uri])
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(target)], check=True)
        target.chmod(0o644)
    _one_error_line(result, "cannot be written", "mlflow.db")
    assert _digest(target) == before


def test_mlflow_refuses_a_blank_experiment(db: Path, tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    target = tmp_path / "mlflow.db"
    result = runner.invoke(
        app, ["mlflow", "--db", str(db), "-e", "", "--tracking-uri", f"sqlite:///{target}"]
    )
    _one_error_line(result, "--experiment ''", "empty value")
    assert not target.exists()


def test_mlflow_first_request_settings_are_put_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """The short retries hold for the first request only, and a value the user set wins."""
    from bakeoff.tracking_target import FIRST_REQUEST_ENV, first_request

    for key in FIRST_REQUEST_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "300")
    with first_request():
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "300"
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "1"
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "300"


# -- cache -------------------------------------------------------------------------------------


def _cache_file(root: Path) -> Path:
    path = root / "cache"
    path.write_text("I am a file\n")
    return path


def _gguf_file(root: Path) -> Path:
    (root / "cache").mkdir()
    (root / "cache" / "gguf").write_text("I am a file\n")
    return root / "cache"


def _under_a_file(root: Path) -> Path:
    (root / "plain").write_text("a file\n")
    return root / "plain" / "cache"


CACHES: list[Any] = [
    pytest.param(_cache_file, ("is a file, not a folder",), id="cache-is-a-file"),
    pytest.param(_gguf_file, ("gguf is a file", "remove that file"), id="gguf-is-a-file"),
    pytest.param(_under_a_file, ("is under", "a file"), id="under-a-file"),
    pytest.param(lambda root: "   ", ("BAKEOFF_CACHE is blank",), id="blank"),
]


@pytest.mark.parametrize("command", ["list", "clear"])
@pytest.mark.parametrize(("make", "fragments"), CACHES)
def test_cache_names_a_bad_cache_path(
    make: Callable[[Path], Any],
    fragments: tuple[str, ...],
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BAKEOFF_CACHE", str(make(tmp_path)))
    before = {p.relative_to(tmp_path): _digest(p) for p in tmp_path.rglob("*")}
    result = runner.invoke(app, ["cache", command])
    line = _one_error_line(result, *fragments)
    assert "empty" not in line
    assert {p.relative_to(tmp_path): _digest(p) for p in tmp_path.rglob("*")} == before


def test_cache_not_made_yet_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAKEOFF_CACHE", str(tmp_path / "new"))
    result = runner.invoke(app, ["cache", "list"])
    assert result.exit_code == 0 and "does not exist yet" in result.output, result.output
    assert not (tmp_path / "new").exists()


# -- foreign stores ----------------------------------------------------------------------------


def _meta_of_another_program(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE meta (name TEXT, content TEXT)")
        conn.execute("INSERT INTO meta VALUES ('version', '7')")
        conn.execute("CREATE TABLE documents (id INTEGER PRIMARY KEY, body TEXT)")
    conn.close()


def _only_a_foreign_meta(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE meta (k TEXT, v TEXT)")
    conn.close()


def _version_but_no_tables(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO meta VALUES ('schema_version', '2')")
    conn.close()


FOREIGN: list[Any] = [
    pytest.param(_meta_of_another_program, "another program", id="foreign-meta-table"),
    pytest.param(_only_a_foreign_meta, "another program", id="only-a-foreign-meta"),
    pytest.param(_version_but_no_tables, "no experiments table", id="version-but-no-tables"),
]


@pytest.mark.parametrize(
    "command",
    [["results"], ["samples", "-o", "{dir}/s.jsonl"], ["artifacts"]],
    ids=["results", "samples", "artifacts"],
)
@pytest.mark.parametrize(("make", "fragment"), FOREIGN)
def test_a_store_that_is_not_bakeoffs_is_named_so(
    make: Callable[[Path], None], fragment: str, command: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "other.db"
    make(path)
    before = _digest(path)
    args = [a.format(dir=tmp_path) for a in command]
    result = runner.invoke(app, [*args, "--db", str(path)])
    line = _one_error_line(result, fragment, "pass a different --db")
    assert "no such column" not in line
    assert _digest(path) == before
    _nothing_beside(tmp_path, "other.db")


def test_opening_a_foreign_store_for_writing_changes_nothing(tmp_path: Path) -> None:
    """What `run` does with --db: the file is left exactly as it was."""
    path = tmp_path / "other.db"
    _meta_of_another_program(path)
    before = _digest(path)
    with pytest.raises(BakeoffError, match="another program"):
        ResultsStore(path)
    assert _digest(path) == before


# -- terminal output ---------------------------------------------------------------------------


def test_printable_shows_what_would_act_on_a_terminal() -> None:
    cases = {
        "\x1b[31mred": "\\x1b[31mred",
        "a\rb\x07": "a\\rb\\x07",
        "one\ntwo\tthree": "one\\ntwo three",
        "\u202eevil": "\\u202eevil",
        "zero\u200bwidth": "zero\\u200bwidth",
        "\ud800": "\\ud800",
        "\x85next": "\\x85next",
        "plain [text] ünïcödé 日本": "plain [text] ünïcödé 日本",
        "family 👨\u200d👩\u200d👧": "family 👨\u200d👩\u200d👧",  # joiners are writing
    }
    for raw, shown in cases.items():
        assert printable(raw) == shown
        assert not RAW_CONTROL.search(printable(raw))
    assert printable("a\nb\u2028c", keep_newlines=True) == "a\nb\u2028c"
    assert markup("[/]") == "\\[/]" and markup("[bold]x") == "\\[bold]x"


def _hostile_store(path: Path) -> Path:
    """A store whose task, model and labels carry markup and control characters."""
    from bakeoff.data import Example
    from bakeoff.records import TrainingRecord

    store = ResultsStore(path)
    key = "t:fp-hostile:validation"
    gold = [i % len(HOSTILE_LABELS) for i in range(30)]
    store.save_examples(
        key,
        [(i, Example(f"text {i} \x1b[2J", g)) for i, g in enumerate(gold)],
        "t",
        [5] * len(HOSTILE_LABELS),
    )
    add_experiment(
        store,
        task="t",
        dataset_key=key,
        labels=HOSTILE_LABELS,
        model="[bold]model\x1b]0;title\x07",
        method="finetune",
        gold=gold,
        wrong={1, 2, 3},
        timing_dict=timing(100.0, 5.0, 8.0, 200.0),
        training=TrainingRecord(
            labels_used=30,
            train_time_s=3.0,
            warnings=["answered '[/]' for 90% of examples :smile: \x1b[5mblink"],
        ),
    )
    store.close()
    return path


def _assert_shown_not_sent(output: str, allow: str = "") -> None:
    found = {c for c in RAW_CONTROL.findall(output) if c not in allow}
    assert not found, (found, output)
    assert "Traceback" not in output and "MarkupError" not in output


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "json"])
def test_results_prints_hostile_names_as_text(tmp_path: Path, fmt: str) -> None:
    db = _hostile_store(tmp_path / "h.db")
    before = _digest(db)
    result = runner.invoke(app, ["results", "--db", str(db), "-f", fmt], terminal_width=400)
    assert result.exit_code == 0, result.output
    _assert_shown_not_sent(result.output)
    if fmt == "json":  # exact: JSON's own escapes, read back to the stored strings
        payload = json.loads(result.output)
        warnings = [w for r in payload["results"] for w in r.get("warnings", [])]
        assert any("\x1b[5mblink" in w for w in warnings)
    else:
        assert "[bold]model\\x1b]0;title\\x07" in result.output
    if fmt == "table":
        assert "answered '[/]'" in result.output  # printed, not parsed as a closing tag
        assert ":smile: \\x1b[5mblink" in result.output  # not an emoji, not blinking
    assert _digest(db) == before


def test_errors_naming_hostile_values_are_one_printable_line(tmp_path: Path) -> None:
    db = _hostile_store(tmp_path / "h.db")
    result = runner.invoke(
        app, ["samples", "--db", str(db), "-o", str(tmp_path / "s.jsonl"), "-t", "[/]\x1b[2J"]
    )
    line = _one_error_line(result, "--task [/]\\x1b[2J")
    _assert_shown_not_sent(line)


def _hostile_data(folder: Path) -> Path:
    """100 rows, two labels with markup and escapes; near-identical texts, so a random
    classifier trained with a negligible learning rate answers one label (a warning names it)."""
    labels = ["[/]", "[bold]x\r\x1b[31my"]
    rows = [
        {"text": f"sample text number {i} " + ("good" if i % 2 else "bad"), "label": labels[i % 2]}
        for i in range(100)
    ]
    path = folder / "hostile.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_run_summary_survives_hostile_labels_and_model_names(
    tmp_path: Path, tiny_bert: Path
) -> None:
    """A label like ``[/]`` in a warning crashed the end of ``bakeoff run`` (the result was
    stored, the summary lost); a model folder with markup and an escape in its name goes
    through the progress bar, the done line and the summary."""
    model = tmp_path / "m[bold]\x1b[31m"
    shutil.copytree(tiny_bert, model)
    data = _hostile_data(tmp_path)
    db = tmp_path / "b.db"
    args = [
        "run", "--train-file", str(data), "--model", str(model), "--db", str(db),
        "--epochs", "1", "--lr", "1e-9", "--latency-samples", "2", "--keep", "none",
        "--set", "finetune.min_steps=0",
    ]  # fmt: skip
    result = runner.invoke(app, args, terminal_width=300)
    assert result.exit_code == 0, result.output
    # transformers' and datasets' own bars redraw with \r (the entry point quiets them)
    _assert_shown_not_sent(result.output, allow="\r")
    assert "This run" in result.output and "s in all" in result.output
    assert "warning" in result.output, "the data should make a one-label warning"
    assert "m[bold]\\x1b[31m" in result.output
    with ResultsStore(db, readonly=True) as store:
        (record,) = store.experiments("done")
        # stored as the label canon reads them: inner whitespace (the \r) is one space
        assert list(record.label_names) == ["[/]", "[bold]x \x1b[31my"]
        assert record.model.endswith("m[bold]\x1b[31m")
        assert any("answered '" in w for w in record.training.warnings)
    again = runner.invoke(app, ["results", "--db", str(db)], terminal_width=300)
    assert again.exit_code == 0, again.output
    _assert_shown_not_sent(again.output)


def test_report_shows_control_characters_as_escapes(tmp_path: Path) -> None:
    db = _hostile_store(tmp_path / "h.db")
    out = tmp_path / "report"
    result = runner.invoke(app, ["report", "--db", str(db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    _assert_shown_not_sent(result.output)
    for name in ("report.md", "report.html", "challenge.html"):
        text = (out / name).read_text(encoding="utf-8")
        assert not RAW_CONTROL.search(text), name
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "\\x1b" in md
    for svg in (out / "figures").glob("*.svg"):
        assert not RAW_CONTROL.search(svg.read_text(encoding="utf-8")), svg.name
