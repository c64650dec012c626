"""Reports stay bounded for tasks with many classes, and are written whole or not at all.

A task with 1,000 labels once made ``bakeoff report`` draw a 1,000 x 1,001 confusion matrix per
experiment (a 600-inch figure: minutes and over 20 GB). The matrices now show the classes that
matter most and say so; these tests check what is drawn through the ``*_data`` and layout
functions and the size of the written PNG, never the time taken.
"""

from __future__ import annotations

import builtins
import errno
import io
from pathlib import Path

import pytest

from bakeoff.data import Example
from bakeoff.errors import BakeoffError
from bakeoff.report import ReportOptions, build_report
from bakeoff.report.analysis import collect
from bakeoff.report.figures import (
    FIGURE_DPI,
    MAX_CONFUSION_CLASSES,
    MAX_CONFUSION_HEIGHT_IN,
    MAX_CONFUSION_PANELS,
    MAX_CONFUSION_WIDTH_IN,
    MAX_TICK_CHARS,
    ConfusionData,
    confusion_classes,
    confusion_data,
    confusion_layout,
    confusion_note,
)
from bakeoff.store import ResultsStore
from tests.report_fixtures import add_experiment, build_store

N_CLASSES = 1000
N_EVAL = 16
KEY = "many:fp-many:validation"
#: one long class name: tick labels must be cut, not widen the figure
LABELS = [f"class {i:04d}" for i in range(N_CLASSES)]
LABELS[7] = "a very long class name that would widen every axis " * 3
GOLD = [(i * 61) % N_CLASSES for i in range(N_EVAL)]  # 16 distinct classes
GOLD[0] = 7


def _png_size(path: Path) -> tuple[int, int]:
    raw = path.read_bytes()[:24]
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ResultsStore:
    store = ResultsStore(tmp_path_factory.mktemp("many") / "b.db")
    store.save_examples(
        KEY,
        [(i, Example(f"example {i}", GOLD[i])) for i in range(N_EVAL)],
        "many",
        [3] * N_CLASSES,
    )
    common = {"task": "many", "dataset_key": KEY, "labels": LABELS, "gold": GOLD}
    add_experiment(store, model="minilm", method="finetune", wrong={1, 2, 3}, **common)
    add_experiment(
        store, model="smollm2-135m", method="zero-shot", wrong=set(range(8)), invalid={0}, **common
    )
    add_experiment(store, model="smollm2-135m", method="few-shot", wrong={4, 5}, **common)
    return store


def test_thousand_class_report_is_bounded(store: ResultsStore, tmp_path: Path) -> None:
    written = build_report(store, tmp_path / "out", ReportOptions())
    section = collect(store, ReportOptions()).section("many")
    matrices = confusion_data(section)
    assert len(matrices) == 3
    for d in matrices:
        # drawn: at most 20 classes, plus 'other' and 'invalid' columns
        assert len(d.row_labels) == MAX_CONFUSION_CLASSES and d.n_classes == N_CLASSES
        assert len(d.col_labels) <= MAX_CONFUSION_CLASSES + 2
        assert len(d.matrix) == len(d.row_labels)
        assert all(len(row) == len(d.col_labels) for row in d.matrix)
        assert all(len(label) <= len("invalid") or label in LABELS for label in d.col_labels)
        # nothing lost: every evaluated example is in a drawn row or counted as left out
        assert sum(map(sum, d.matrix)) + d.hidden_examples == N_EVAL
    zero_shot = next(d for d in matrices if "zero-shot" in d.name)
    assert zero_shot.col_labels[-2:] == ["other", "invalid"]
    # every class with gold examples outranks classes no example has or was wrongly given
    shown = set(confusion_classes(section))
    assert len(shown) == MAX_CONFUSION_CLASSES and set(GOLD) <= shown

    layout = confusion_layout(matrices)
    assert layout.width <= MAX_CONFUSION_WIDTH_IN and layout.height <= MAX_CONFUSION_HEIGHT_IN
    assert layout.panels == 3
    note = confusion_note(matrices)
    assert "of 1,000" in note and "'other'" in note

    png = written["figures/confusion_many.png"]
    width, height = _png_size(png)
    # bbox_inches='tight' trims the canvas; rotated tick labels may reach a little past it
    assert width <= (MAX_CONFUSION_WIDTH_IN + 2) * FIGURE_DPI
    assert height <= (MAX_CONFUSION_HEIGHT_IN + 2) * FIGURE_DPI
    assert written["figures/confusion_many.svg"].stat().st_size < 5_000_000
    html = written["report.html"].read_text(encoding="utf-8")
    assert "of 1,000" in html  # the note travels with the figure (its alt text and title)


def test_small_tasks_keep_every_class(tmp_path: Path) -> None:
    data = collect(build_store(tmp_path / "b.db"), ReportOptions())
    for section in data.sections:
        matrices = confusion_data(section)
        assert all(not d.capped and d.hidden_examples == 0 for d in matrices)
        assert "other" not in matrices[0].col_labels
        assert confusion_note(matrices) == ""
        assert confusion_layout(matrices).cell == 0.6


def _matrix(name: str, n_classes: int) -> ConfusionData:
    k = min(n_classes, MAX_CONFUSION_CLASSES)
    cols = [f"c{i}" for i in range(k)] + (["other"] if n_classes > k else [])
    return ConfusionData(name, [[1] * len(cols) for _ in range(k)], cols[:k], cols, n_classes, 0)


@pytest.mark.parametrize("n_experiments", [1, 4, 15, 40])
@pytest.mark.parametrize("n_classes", [2, 9, 20, 1000])
def test_layout_never_exceeds_the_limits(n_experiments: int, n_classes: int) -> None:
    ds = [_matrix(f"experiment {i}", n_classes) for i in range(n_experiments)]
    layout = confusion_layout(ds)
    assert layout.width <= MAX_CONFUSION_WIDTH_IN and layout.height <= MAX_CONFUSION_HEIGHT_IN
    assert 1 <= layout.panels <= min(n_experiments, MAX_CONFUSION_PANELS)
    assert layout.cols * layout.rows >= layout.panels
    note = confusion_note(ds)
    if layout.panels < n_experiments:
        assert f"the {layout.panels} most accurate of {n_experiments} experiments" in note
    assert (n_classes > MAX_CONFUSION_CLASSES) == (f"of {n_classes:,}" in note)


def test_tick_labels_are_cut() -> None:
    from bakeoff.report.figures import _short

    assert _short("x" * 200) == "x" * (MAX_TICK_CHARS - 1) + "…"
    assert _short("short") == "short"


# ---- atomic writes ----------------------------------------------------------------------------


def _failing_open(target: str, exc: OSError, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every file opened for writing whose name contains ``target`` fail half-way through
    its first write, as a full disk does; returns the names it failed."""
    real_open = builtins.open
    failed: list[str] = []

    class HalfWriter:
        def __init__(self, fh) -> None:
            self.fh = fh

        def write(self, data):
            self.fh.write(data[: len(data) // 2])
            self.fh.flush()
            failed.append(str(self.fh.name))
            raise exc

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.fh.close()

    def fake_open(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        if target in str(file) and any(c in mode for c in "wax"):
            return HalfWriter(fh)
        return fh

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(io, "open", fake_open)
    return failed


@pytest.fixture
def old_report(tmp_path: Path) -> tuple[ResultsStore, Path, dict[str, bytes]]:
    store = build_store(tmp_path / "b.db")
    out = tmp_path / "out"
    written = build_report(store, out, ReportOptions())
    return store, out, {k: p.read_bytes() for k, p in written.items()}


def test_full_disk_leaves_the_old_report(
    old_report: tuple[ResultsStore, Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, out, before = old_report
    failed = _failing_open(
        "report.html", OSError(errno.ENOSPC, "No space left on device"), monkeypatch
    )
    with pytest.raises(BakeoffError) as err:
        build_report(store, out, ReportOptions(price_per_hour=9.0))
    monkeypatch.undo()
    assert failed, "the injected failure never happened"
    msg = str(err.value)
    assert msg == (
        f"cannot write report to {out} (No space left on device); free space or pass a "
        "different --out"
    )
    assert (out / "report.html").read_bytes() == before["report.html"]
    leftovers = [p.name for p in out.rglob("*") if p.name.startswith(".")]
    assert not leftovers, leftovers


def test_unwritable_figure_leaves_the_old_figures(
    old_report: tuple[ResultsStore, Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, out, before = old_report
    failed = _failing_open(
        "accuracy.png", PermissionError(errno.EACCES, "Permission denied"), monkeypatch
    )
    with pytest.raises(BakeoffError) as err:
        build_report(store, out, ReportOptions(price_per_hour=9.0))
    monkeypatch.undo()
    assert failed
    assert str(err.value) == (
        f"cannot write report to {out} (Permission denied); pass a writable --out"
    )
    for name, content in before.items():
        assert (out / name).read_bytes() == content, name
    assert not [p.name for p in out.rglob("*") if p.name.startswith(".")]
