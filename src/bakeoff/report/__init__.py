"""``bakeoff report``: the study's outputs, rebuilt from the results store with honest statistics.

:func:`build_report` writes ``report.md``, a self-contained ``report.html``, an interactive
``challenge.html`` and ``figures/*.png|svg`` into a folder. Everything in them is derived from the
store (see :mod:`bakeoff.report.analysis`), so re-running it after more experiments finish simply
updates the report. Each file is replaced atomically, so an interrupted or failed write (a full
disk) never leaves a truncated report behind.

This module stays cheap to import (the CLI registers :func:`report_command` at start-up): scipy,
statsmodels, matplotlib and jinja2 load only inside :func:`build_report`.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from bakeoff.errors import BakeoffError
from bakeoff.report.command import report_command
from bakeoff.report.options import ReportOptions

if TYPE_CHECKING:
    from bakeoff.report.figures import FigureFiles
    from bakeoff.store import ResultsStore

__all__ = ["ReportOptions", "build_report", "report_command", "write_atomically"]


def _write_error(out_dir: Path, exc: OSError) -> BakeoffError:
    """One line for any OS refusal while writing the report (full disk, no permission...)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    fix = (
        "free space or pass a different --out"
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
        else "pass a writable --out"
    )
    return BakeoffError(f"cannot write report to {out_dir} ({reason}); {fix}")


def _prepare_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise BakeoffError(f"--out {out_dir} is a file; give a folder for the report")
    try:
        (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _write_error(out_dir, exc) from None


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


def _install_figures(figures: list[FigureFiles], staging: Path, fig_dir: Path) -> list[FigureFiles]:
    """Move figures drawn into ``staging`` over the ones in ``fig_dir``, one atomic rename each."""
    placed = []
    for f in figures:
        png, svg = fig_dir / f.png.relative_to(staging), fig_dir / f.svg.relative_to(staging)
        os.replace(f.png, png)
        os.replace(f.svg, svg)
        placed.append(dataclasses.replace(f, png=png, svg=svg))
    return placed


def build_report(
    store: ResultsStore, out_dir: Path, options: ReportOptions | None = None
) -> dict[str, Path]:
    """Write the report into ``out_dir``; return the written files keyed by their relative path.

    Raises :class:`BakeoffError` for an empty store, an unusable folder or a task in
    ``options.challenge_tasks`` that has no results. Nothing is written before the store has been
    read and checked. Every file is written whole or not at all (see :func:`write_atomically`):
    a full disk or a missing permission leaves the previous report as it was, and is one
    ``cannot write report to DIR`` error line.
    """
    from bakeoff.report.analysis import collect
    from bakeoff.report.figures import write_figures
    from bakeoff.report.render import context, render_challenge, render_html, render_markdown

    options = options or ReportOptions()
    out_dir = Path(out_dir)
    data = collect(store, options)
    _prepare_out_dir(out_dir)
    fig_dir = out_dir / "figures"
    staging = out_dir / f".figures.{os.getpid()}.tmp"
    written: dict[str, Path] = {}
    try:
        try:
            figures = _install_figures(write_figures(data, staging), staging, fig_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        current = {p.name for f in figures for p in (f.png, f.svg)}
        for pattern in ("confusion_*", "curve_*"):  # tasks (or curves) no longer in the store
            for stale in fig_dir.glob(pattern):
                if stale.name not in current and stale.suffix in (".png", ".svg"):
                    stale.unlink()
        ctx = context(data, figures, out_dir)
        pages = (
            ("report.md", render_markdown(ctx)),
            ("report.html", render_html(ctx)),
            ("challenge.html", render_challenge(data)),
        )
        for name, text in pages:
            write_atomically(out_dir / name, text.encode("utf-8"))
            written[name] = out_dir / name
    except OSError as exc:
        raise _write_error(out_dir, exc) from None
    for f in figures:
        for p in (f.png, f.svg):
            written[p.relative_to(out_dir).as_posix()] = p
    return written
