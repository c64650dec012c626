"""``bakeoff report``: the study's outputs, rebuilt from the results store with honest statistics.

:func:`build_report` writes ``report.md``, a self-contained ``report.html``, an interactive
``challenge.html`` and ``figures/*.png|svg`` into a folder. Everything in them is derived from the
store (see :mod:`bakeoff.report.analysis`), so re-running it after more experiments finish simply
updates the report. The whole report is built in a hidden sibling folder and swapped in only
when complete (:mod:`bakeoff.outputs`), so an interrupted or failed write (a full disk) leaves the
previous report whole. ``--out`` must be new, empty, or a report folder bakeoff wrote (it carries
``bakeoff-output.json``; an older bakeoff's report folder holding only report files is adopted):
any other folder is refused, since replacing it would delete files bakeoff did not write.

This module stays cheap to import (the CLI registers :func:`report_command` at start-up): scipy,
statsmodels, matplotlib and jinja2 load only inside :func:`build_report`.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from bakeoff.outputs import check_folder, only_files, pid_alive, write_error, write_folder
from bakeoff.report.command import report_command
from bakeoff.report.options import ReportOptions

if TYPE_CHECKING:
    from bakeoff.store import ResultsStore

__all__ = ["ReportOptions", "build_report", "report_command", "write_atomically"]


#: what an older bakeoff's report folder (no marker) may hold, so it is adopted, not refused
LEGACY_REPORT = ("report.md", "report.html", "challenge.html", "figures/*.png", "figures/*.svg")
_LEGACY_LEFTOVER = re.compile(
    r"^\.(?:figures|report\.md|report\.html|challenge\.html)\.(\d+)\.tmp$"
)


def _legacy_report(out_dir: Path) -> list[str] | None:
    """The files of a report folder an older bakeoff wrote (before the marker), or None. Its
    killed runs' leftovers (``.figures.PID.tmp/``, ``.report.md.PID.tmp``) of dead processes
    are removed first: figures and pages only, nothing else."""
    for entry in out_dir.iterdir():
        match = _LEGACY_LEFTOVER.match(entry.name)
        if not match or pid_alive(int(match[1])):
            continue
        if entry.is_dir():
            for p in entry.iterdir():
                if p.suffix in (".png", ".svg") and p.is_file():
                    p.unlink()
            with contextlib.suppress(OSError):
                entry.rmdir()
        else:
            entry.unlink()
    return only_files(out_dir, LEGACY_REPORT)


def _prepare_out_dir(out_dir: Path, store: ResultsStore) -> bool:
    """Check ``--out``: new, empty, or a report bakeoff wrote (True: one to replace)."""
    try:
        return check_folder(
            out_dir,
            "report",
            "--out",
            protect=(store.path, store.artifacts_dir),
            legacy=_legacy_report,
        )
    except OSError as exc:
        raise write_error(out_dir, exc, "--out", "report to ") from None


def _temporary(path: Path) -> Path:
    """A hidden name beside ``path``: same folder, so the final ``os.replace`` is atomic."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half.

    The bytes go to a temporary file in the same folder, are flushed to disk, and the file is
    renamed over ``path``; on any error the temporary file is removed and ``path`` is untouched.
    """
    tmp = _temporary(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def build_report(
    store: ResultsStore, out_dir: Path, options: ReportOptions | None = None
) -> dict[str, Path]:
    """Write the report into ``out_dir``; return the written files keyed by their relative path.

    Raises :class:`BakeoffError` for an empty store, an unusable folder or a task in
    ``options.challenge_tasks`` that has no results. Nothing is written before the store has been
    read and checked. The report is written whole or not at all (built aside, then swapped in):
    a full disk or a missing permission leaves the previous report as it was, and is one
    ``cannot write report to DIR`` error line.
    """
    from bakeoff.report.analysis import collect
    from bakeoff.report.figures import write_figures
    from bakeoff.report.render import context, render_challenge, render_html, render_markdown

    options = options or ReportOptions()
    out_dir = Path(out_dir)
    data = collect(store, options)
    replace = _prepare_out_dir(out_dir, store)
    names: list[str] = []

    def build(stage: Path) -> None:
        figures = write_figures(data, stage / "figures")
        ctx = context(data, figures, stage)
        pages = (
            ("report.md", render_markdown(ctx)),
            ("report.html", render_html(ctx)),
            ("challenge.html", render_challenge(data)),
        )
        for name, text in pages:
            write_atomically(stage / name, text.encode("utf-8"))
            names.append(name)
        names.extend(p.relative_to(stage).as_posix() for f in figures for p in (f.png, f.svg))

    write_folder(out_dir, "report", "--out", build, replace=replace, what="report to ")
    return {name: out_dir / name for name in names}
