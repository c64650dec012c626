"""``bakeoff samples``: every evaluated example's record (text, gold, prediction, per-label
scores, raw output) as JSON Lines or Parquet, schema ``bakeoff.samples/1`` (see
``bakeoff.samples``). Read-only: the store is never changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from bakeoff.cli.app import app, db_option_default, err_console, fail, split_chosen
from bakeoff.errors import BakeoffError
from bakeoff.printable import markup

#: what to give instead of a blank --experiment
EXPERIMENT_HINT = (
    "give an experiment id or 4+ characters of one (`bakeoff results --format json` lists "
    "them), or --all for every finished experiment"
)


@app.command()
def samples(
    out: Annotated[
        str,
        typer.Option(
            "--out",
            "-o",
            "--output_path",
            help="File to write: .jsonl, .jsonl.gz or .parquet (by its name); - writes JSON "
            "Lines to stdout.",
        ),
    ],
    db: Annotated[
        Optional[Path],
        typer.Option("--db", help="Results store.", show_default=db_option_default()),
    ] = None,
    experiment: Annotated[
        Optional[list[str]],
        typer.Option(
            "--experiment",
            "-e",
            help="Experiment id, or a unique prefix of 4+ characters (ids: `bakeoff results "
            "--format json`); repeat or comma-separate for several.",
            show_default="every finished experiment",
        ),
    ] = None,
    all_: Annotated[
        bool,
        typer.Option("--all", help="Export every finished experiment (what no --experiment does)."),
    ] = False,
    task: Annotated[
        Optional[list[str]],
        typer.Option("--task", "-t", help="Only experiments of these tasks; comma-separated."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing output file.")
    ] = False,
) -> None:
    """Per-example records of finished experiments (like lm-eval's --log_samples), for pandas."""
    from bakeoff.samples import SAMPLES_SCHEMA, export_samples
    from bakeoff.store import default_db_path

    try:
        ids = split_chosen(experiment, "--experiment", EXPERIMENT_HINT)
        tasks = split_chosen(task, "--task", "name a task (see `bakeoff results`), or leave it out")
        if all_ and ids:
            raise BakeoffError("give --all or --experiment, not both")
        # a file that is already there may be the user's: replaced only when asked
        if out != "-" and Path(out).is_file() and not overwrite:
            raise BakeoffError(f"{out} already exists; pass --overwrite or choose another path")
        summary = export_samples(db or default_db_path(), out, ids, tasks)
    except BakeoffError as exc:
        fail(exc)
    where = "stdout" if summary.path == "-" else markup(summary.path)
    # on stderr, so `--out -` leaves stdout to the records
    err_console.print(
        f"wrote {summary.records} records of {summary.experiments} experiment(s) to {where} "
        f"({summary.format}, schema {SAMPLES_SCHEMA})",
        highlight=False,
        soft_wrap=True,
    )
