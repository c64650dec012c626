"""``bakeoff artifacts``: what a store kept for ``predict`` and ``export`` (or why not), with
sizes. Read-only: the store is never changed."""

from __future__ import annotations

from rich.table import Table

from bakeoff.cli.app import DbOption, app, console, fail
from bakeoff.errors import BakeoffError
from bakeoff.printable import markup


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n} B"


@app.command()
def artifacts(
    db: DbOption = None,
) -> None:
    """List the models and prompt recipes kept for predict/export, their size, or why not kept."""
    from bakeoff.naming import experiment_names
    from bakeoff.store import ResultsStore, default_db_path

    path = db or default_db_path()
    try:
        with ResultsStore(path, readonly=True) as store:
            records = {r.id: r for r in store.experiments("done")}
            rows = [a for a in store.artifacts() if a.experiment_id in records]
            folder = store.artifacts_dir
    except BakeoffError as exc:
        fail(exc)
    if not rows:
        console.print(
            f"Nothing kept in {markup(path)} (runs with --keep none, or none finished yet)."
        )
        return
    names = experiment_names([(r.id, r.config) for r in records.values()])
    table = Table(title=f"Kept for bakeoff predict / export — {markup(folder)}")
    for col in ("task", "experiment", "id", "accuracy", "kind", "size", "kept as"):
        # ids are what users copy into `predict -e`: never cut
        table.add_column(col, no_wrap=col == "id", min_width=16 if col == "id" else None)

    def accuracy(experiment_id: str) -> float:
        metrics = records[experiment_id].metrics
        return metrics.accuracy if metrics else float("nan")

    rows.sort(key=lambda a: (records[a.experiment_id].task, -accuracy(a.experiment_id)))
    for a in rows:
        r = records[a.experiment_id]
        table.add_row(
            markup(r.task),
            markup(names[r.id]),
            r.id,
            f"{100 * accuracy(r.id):.1f}",
            markup(a.kind),
            _size(a.bytes) if a.path else "—",
            markup(a.path) if a.path else f"[dim]{markup(a.note)}[/]",
        )
    console.print(table)
    total = sum(a.bytes for a in rows if a.path)
    console.print(f"[dim]{_size(total)} in all; use an id with `bakeoff predict -e ID`[/]")
