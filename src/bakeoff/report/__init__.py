"""``bakeoff report``: the study's outputs, rebuilt from the results store with honest statistics.

:func:`build_report` writes ``report.md``, a self-contained ``report.html``, an interactive
``challenge.html`` and ``figures/*.png|svg`` into a folder. Everything in them is derived from the
store (see :mod:`bakeoff.report.analysis`), so re-running it after more experiments finish simply
updates the report.

This module stays cheap to import (the CLI registers :func:`report_command` at start-up): scipy,
statsmodels, matplotlib and jinja2 load only inside :func:`build_report`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bakeoff.errors import BakeoffError
from bakeoff.report.command import report_command
from bakeoff.report.options import ReportOptions

if TYPE_CHECKING:
    from bakeoff.store import ResultsStore

__all__ = ["ReportOptions", "build_report", "report_command"]


def _prepare_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise BakeoffError(f"--out {out_dir} is a file; give a folder for the report")
    try:
        (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BakeoffError(
            f"cannot create the report folder {out_dir} ({exc.strerror}); pass a writable --out"
        ) from None


def build_report(
    store: ResultsStore, out_dir: Path, options: ReportOptions | None = None
) -> dict[str, Path]:
    """Write the report into ``out_dir``; return the written files keyed by their relative path.

    Raises :class:`BakeoffError` for an empty store, an unusable folder or a task in
    ``options.challenge_tasks`` that has no results. Nothing is written before the store has been
    read and checked.
    """
    from bakeoff.report.analysis import collect
    from bakeoff.report.figures import write_figures
    from bakeoff.report.render import context, render_challenge, render_html, render_markdown

    options = options or ReportOptions()
    out_dir = Path(out_dir)
    data = collect(store, options)
    _prepare_out_dir(out_dir)
    fig_dir = out_dir / "figures"
    figures = write_figures(data, fig_dir)
    current = {p.name for f in figures for p in (f.png, f.svg)}
    for stale in fig_dir.glob("confusion_*"):  # tasks no longer in the store
        if stale.name not in current and stale.suffix in (".png", ".svg"):
            stale.unlink()
    ctx = context(data, figures, out_dir)
    written: dict[str, Path] = {}
    try:
        for name, text in (
            ("report.md", render_markdown(ctx)),
            ("report.html", render_html(ctx)),
            ("challenge.html", render_challenge(data)),
        ):
            path = out_dir / name
            path.write_text(text, encoding="utf-8")
            written[name] = path
    except OSError as exc:
        raise BakeoffError(
            f"cannot write the report into {out_dir} ({exc.strerror}); pass a writable --out"
        ) from None
    for f in figures:
        for p in (f.png, f.svg):
            written[p.relative_to(out_dir).as_posix()] = p
    return written
