"""``bakeoff forget``: remove experiments (and their kept models) from a store.

Lists what would go, asks before deleting (``--yes`` skips the question, ``--dry-run`` only
lists); the work is :mod:`bakeoff.forget`.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.table import Table

from bakeoff.cli.app import DbOption, app, console, fail
from bakeoff.cli.artifacts import _size
from bakeoff.errors import BakeoffError
from bakeoff.printable import markup


@app.command()
def forget(
    experiments: Annotated[
        Optional[list[str]],
        typer.Argument(
            help="Experiment ids (a unique prefix of 4+ characters); see `bakeoff results`.",
            show_default=False,
        ),
    ] = None,
    task: Annotated[Optional[str], typer.Option("--task", "-t", help="Only this task.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Only this model.")] = None,
    method: Annotated[Optional[str], typer.Option("--method", help="Only this method.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be removed; change nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    db: DbOption = None,
) -> None:
    """Remove experiments from the store: their results, predictions and kept model or recipe.
    Later results and reports no longer include them."""
    from bakeoff.forget import forget as forget_plan
    from bakeoff.forget import select
    from bakeoff.naming import experiment_names
    from bakeoff.store import ResultsStore, default_db_path

    path = db or default_db_path()
    try:
        if not path.is_file():
            raise BakeoffError(f"no results store at {path}; pass --db")
        # a dry run opens the store read-only: it cannot change anything, by construction
        with ResultsStore(path, readonly=dry_run) as store:
            plan = select(store, experiments or [], task, model, method)
            names = experiment_names([(r.id, r.config) for r in plan.experiments])
            table = Table(title=f"{'Would forget' if dry_run else 'To forget'} — {path}")
            for col in ("id", "task", "experiment", "status", "accuracy", "kept"):
                # ids are what users copy: never cut
                table.add_column(col, no_wrap=col == "id", min_width=16 if col == "id" else None)
            for r in plan.experiments:
                kept = plan.files.get(r.id)
                table.add_row(
                    r.id,
                    markup(r.task),
                    markup(names[r.id]),
                    r.status,
                    f"{100 * r.metrics.accuracy:.1f}" if r.metrics else "—",
                    f"{markup(kept.name)} ({_size(plan.sizes[r.id])})" if kept else "—",
                )
            console.print(table)
            if plan.files:
                console.print(f"[dim]kept files are in {markup(str(store.artifacts_dir))}[/]")
            what = (
                f"{len(plan.experiments)} experiment(s) and {len(plan.files)} kept "
                f"file(s) ({_size(plan.total_bytes)})"
            )
            if dry_run:
                console.print(
                    f"Dry run: would forget {what}; nothing was changed.",
                    highlight=False,
                    soft_wrap=True,
                )
                return
            if not yes:
                typer.confirm(f"Forget {what}?", abort=True)
            removed = forget_plan(store, plan)
    except BakeoffError as exc:
        fail(exc)
    console.print(
        f"Forgot {len(plan.experiments)} experiment(s) in {path}; deleted {len(removed)} kept "
        "file(s).",
        highlight=False,
        soft_wrap=True,
    )
