"""The ``bakeoff report`` command (registered by ``bakeoff.cli``); typer-compatible."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from bakeoff.errors import BakeoffError
from bakeoff.report.options import DEFAULT_ALPHA, ReportOptions


def report_command(
    db: Annotated[
        Optional[Path],
        typer.Option("--db", help="Results store. Default: $BAKEOFF_DB or ./bakeoff.db"),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder to write the report into.")
    ] = Path("bakeoff-report"),
    price_per_hour: Annotated[
        float,
        typer.Option(
            "--price-per-hour",
            help="USD per device-hour of the device the experiments ran on; turns measured "
            "throughput into cost per million examples. The default 1.0 is a placeholder: set "
            "your cloud or amortised hardware price.",
        ),
    ] = 1.0,
    labels: Annotated[
        Optional[int],
        typer.Option(
            "--labels",
            help="Labelled examples you have; experiments that needed more are ruled out, and "
            "where a label-budget curve was run the advice reads it at this number.",
        ),
    ] = None,
    daily_volume: Annotated[
        Optional[float],
        typer.Option(
            "--daily-volume", help="Examples to classify per day (for device-hours and cost a day)."
        ),
    ] = None,
    latency_budget_ms: Annotated[
        Optional[float],
        typer.Option(
            "--latency-budget-ms",
            help="Per-example latency limit; slower experiments are ruled out.",
        ),
    ] = None,
    latency_stat: Annotated[
        str, typer.Option("--latency-stat", help="Latency the budget applies to: median or p95.")
    ] = "p95",
    horizon_days: Annotated[
        float,
        typer.Option(
            "--horizon-days", help="Days of running cost weighed against one-off training cost."
        ),
    ] = 30.0,
    task: Annotated[
        Optional[list[str]],
        typer.Option("--task", "-t", help="Task(s) on the challenge page (default: every task)."),
    ] = None,
    alpha: Annotated[
        float, typer.Option("--alpha", help="Significance level per task (after Holm correction).")
    ] = DEFAULT_ALPHA,
    hard_examples: Annotated[
        int, typer.Option("--hard-examples", help="Hard examples listed per task and kind.")
    ] = 10,
) -> None:
    """Write report.md, a self-contained report.html, challenge.html and figures from the store."""
    from bakeoff.report import build_report
    from bakeoff.store import ResultsStore, default_db_path

    path = db or default_db_path()
    if not path.exists():
        raise BakeoffError(f"no results store at {path}; run `bakeoff run` first or pass --db")
    tasks = tuple(t.strip() for item in task or [] for t in item.split(",") if t.strip())
    options = ReportOptions(
        price_per_hour=price_per_hour,
        labels=labels,
        daily_volume=daily_volume,
        latency_budget_ms=latency_budget_ms,
        latency_stat=latency_stat,  # type: ignore[arg-type]  # validated by ReportOptions
        horizon_days=horizon_days,
        alpha=alpha,
        hard_examples=hard_examples,
        challenge_tasks=tasks or None,
    )
    with ResultsStore(path, readonly=True) as store:
        written = build_report(store, out, options)
    typer.echo(f"Report written to {out}/")
    for name in ("report.html", "report.md", "challenge.html"):
        typer.echo(f"  {written[name]}")
    typer.echo(
        f"  {out / 'figures'}/ ({sum(1 for k in written if k.startswith('figures/'))} files)"
    )
