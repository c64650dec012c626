"""``bakeoff predict``: classify a CSV, JSON Lines or Parquet file with a finished experiment's
kept model, streaming and resumable (the work is ``bakeoff.predict.predict_file``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from bakeoff.cli.app import DbOption, app, console, err_console, fail
from bakeoff.errors import BakeoffError
from bakeoff.printable import markup

if TYPE_CHECKING:
    from bakeoff.reuse import Chosen

EXPERIMENT_HELP = "Experiment id, or a unique prefix of 4+ characters (see `bakeoff artifacts`)."
TASK_HELP = "Use this task's winner, by the report's rules (no winner: an error naming the choice)."
ARTIFACT_HELP = "A kept model folder or prompt recipe .json (e.g. from `bakeoff export`)."
#: how predict and export name what to use: exactly one of these (see ``bakeoff.reuse.choose``)
ExperimentOption = Annotated[
    Optional[str], typer.Option("--experiment", "-e", help=EXPERIMENT_HELP)
]
TaskOption = Annotated[Optional[str], typer.Option("--task", "-t", help=TASK_HELP)]
ArtifactOption = Annotated[Optional[Path], typer.Option(help=ARTIFACT_HELP)]


class RateColumn(ProgressColumn):
    """Rows per second, from rich's own moving estimate."""

    def render(self, task: Any) -> Text:
        speed = task.finished_speed or task.speed
        return Text("—" if speed is None else f"{speed:,.0f} rows/s", style="progress.data.speed")


def reads_pairs(classifier: Any, chosen: Chosen, db: Path) -> bool | None:
    """Whether the chosen model was trained on text pairs; None where nothing says.

    Why: a model trained on single texts still answers when given pairs (and the reverse), but
    about an input it never saw, so ``predict`` refuses the mismatch. A prompted recipe says so
    in its template; for a trained model the evaluated examples in the store say it, else the
    task, when it is a built-in one.
    """
    from bakeoff.artifacts import read_artifact
    from bakeoff.store import ResultsStore
    from bakeoff.tasks import BUILTIN_TASKS

    fmt = getattr(classifier, "fmt", None)
    if fmt is not None:
        return len(fmt.text_fields) == 2
    task = None
    if chosen.record is not None:
        with ResultsStore(db, readonly=True) as store:
            examples = store.examples(chosen.record.dataset_key)
        if examples:
            return any(ex.text_pair is not None for ex in examples.values())
        task = chosen.record.task
    else:
        extra = read_artifact(chosen.path).get("extra")
        task = extra.get("task") if isinstance(extra, dict) else None
    spec = BUILTIN_TASKS.get(task) if isinstance(task, str) else None
    return None if spec is None else spec.is_pair


@app.command()
def predict(
    input_file: Annotated[
        Path, typer.Argument(help="Rows to classify: .csv, .jsonl (or .gz) or .parquet.")
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Where to write: .csv, .jsonl or .parquet (by its name)."
        ),
    ],
    experiment: ExperimentOption = None,
    task: TaskOption = None,
    artifact: ArtifactOption = None,
    db: DbOption = None,
    text_column: Annotated[str, typer.Option(help="Column holding the text.")] = "text",
    text_pair_column: Annotated[
        Optional[str], typer.Option(help="Second text column, for sentence-pair tasks.")
    ] = None,
    id_column: Annotated[
        Optional[str],
        typer.Option(
            help="Column copied to the output as the row's id.", show_default="row number"
        ),
    ] = None,
    batch_size: Annotated[
        Optional[int],
        typer.Option(min=1, help="Inference batch size.", show_default="the experiment's"),
    ] = None,
    chunk_rows: Annotated[
        int, typer.Option(min=1, help="Rows read, classified and written at a time.")
    ] = 8192,
    device: Annotated[
        Optional[str],
        typer.Option(
            metavar="<auto|cpu|cuda|cuda:N|mps>", help="Where to run.", show_default="auto"
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace a finished output or an interrupted other job."),
    ] = False,
) -> None:
    """Classify a file with a finished experiment; killed and run again, it continues."""
    from bakeoff.predict import check_input, predict_file, use_huge_pages_for_tensors

    # before torch is imported: flat memory over long files (see the function)
    use_huge_pages_for_tensors()
    from bakeoff.artifacts import load_classifier
    from bakeoff.config import check_device
    from bakeoff.reuse import choose
    from bakeoff.store import default_db_path

    try:
        if device is not None:
            check_device(device)
        # the path, its format and its columns, before the model loads: a wrong file fails at once
        check_input(input_file, text_column, text_pair_column, id_column)
        chosen = choose(db or default_db_path(), experiment, task, artifact)
        err_console.print(
            f"using {markup(chosen.how)} ({markup(chosen.path)})", highlight=False, soft_wrap=True
        )
        classifier = load_classifier(chosen.path, None if device in (None, "auto") else device)
        pairs = reads_pairs(classifier, chosen, db or default_db_path())
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, transient=False) as bar:
            job = bar.add_task("predict", total=None)

            def progress(done: int, total: int | None) -> None:
                bar.update(job, completed=done, total=total)

            summary = predict_file(
                classifier,
                input_file,
                output,
                text_column=text_column,
                text_pair_column=text_pair_column,
                id_column=id_column,
                chunk_rows=chunk_rows,
                batch_size=batch_size,
                overwrite=overwrite,
                classifier_key=chosen.key,
                reads_pairs=pairs,
                progress=progress,
            )
    except BakeoffError as exc:
        fail(exc)
    resumed = f", continued from row {summary.resumed_at:,}" if summary.resumed_at else ""
    console.print(
        f"wrote {summary.rows_written:,} predictions to {markup(summary.output)} in "
        f"{summary.seconds:.1f} s{resumed}",
        highlight=False,
    )
    if summary.skipped_file is not None:
        console.print(
            f"[yellow]{summary.rows_skipped:,} row(s) could not be classified[/] (empty text); "
            f"listed in {markup(summary.skipped_file)}",
            highlight=False,
        )
