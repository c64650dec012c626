"""``bakeoff mlflow``: export the store to MLflow, one run per finished experiment, without
duplicating runs on a second export (see ``bakeoff.tracking``). Needs the ``[mlflow]`` extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from bakeoff.cli.app import app, console, db_option_default, fail, split_chosen
from bakeoff.errors import BakeoffError
from bakeoff.printable import markup


@app.command("mlflow")
def mlflow_export(
    db: Annotated[
        Optional[Path],
        typer.Option("--db", help="Results store.", show_default=db_option_default()),
    ] = None,
    tracking_uri: Annotated[
        Optional[str],
        typer.Option(
            "--tracking-uri",
            help="MLflow tracking URI: sqlite:///mlflow.db, http://host:5000, databricks...",
            show_default="$MLFLOW_TRACKING_URI, else MLflow's local sqlite:///mlflow.db",
        ),
    ] = None,
    experiment_name: Annotated[
        str, typer.Option("--experiment-name", help="MLflow experiment to log the runs in.")
    ] = "bakeoff",
    report: Annotated[
        Optional[Path],
        typer.Option(
            "--report",
            help="A report folder (from `bakeoff report --out DIR`) to attach to every run.",
        ),
    ] = None,
    experiment: Annotated[
        Optional[list[str]],
        typer.Option(
            "--experiment",
            "-e",
            help="Only these experiment ids (or unique prefixes); repeat or comma-separate.",
            show_default="every finished experiment",
        ),
    ] = None,
) -> None:
    """Export finished experiments to MLflow: params, metrics, tags, predictions (mlflow extra)."""
    from bakeoff.store import default_db_path
    from bakeoff.tracking import export_to_mlflow

    def show(record: Any, name: str, action: str) -> None:
        colour = {"created": "green", "updated": "yellow"}.get(action, "dim")
        console.print(
            f"[{colour}]{action:9}[/] {markup(record.task)} · {markup(name)}", highlight=False
        )

    try:
        ids = split_chosen(
            experiment, "--experiment", "give an experiment id, or leave it out for every one"
        )
        summary = export_to_mlflow(
            db or default_db_path(),
            tracking_uri,
            experiment_name,
            report,
            ids,
            on_run=show,
            quiet=True,  # MLflow's INFO lines (database migrations); ours say what happened
        )
    except BakeoffError as exc:
        fail(exc)
    uri = summary.tracking_uri
    console.print(
        f"MLflow experiment '{markup(summary.experiment_name)}' at {markup(uri)}: "
        f"{len(summary.created)} run(s) created, {len(summary.updated)} updated, "
        f"{len(summary.unchanged)} unchanged. Browse them with the full mlflow package: "
        f"mlflow ui --backend-store-uri {markup(uri)}",
        highlight=False,
        soft_wrap=True,
    )
