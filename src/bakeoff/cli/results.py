"""``bakeoff results``: the store as a table (or JSON, CSV, Markdown), with the baseline row.

Read-only: the store is opened without write access, so this works on a read-only file and can
never change it. The JSON and CSV layouts are versioned (``RESULTS_SCHEMA``) and documented in
the README; one row per experiment, named by what sets it apart (``bakeoff.naming``).
"""

from __future__ import annotations

import csv
import io
import json
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from bakeoff.cli.app import app, console, fail
from bakeoff.errors import BakeoffError
from bakeoff.printable import markup, printable

RESULTS_SCHEMA = "bakeoff.results/1"


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


def result_rows(store: Any) -> tuple[list[dict[str, Any]], list[Any]]:
    """One flat record per finished experiment plus one per task for the majority baseline
    (``kind`` tells them apart), and the unfinished experiments."""
    from bakeoff.baseline import NAME, majority_baseline, standing
    from bakeoff.naming import experiment_names

    records = store.experiments("done")
    others = [r for r in store.experiments(None) if r.status != "done"]
    names = experiment_names([(r.id, r.config) for r in records])
    groups = {r.id: _seed_group(r.config) for r in records}
    # a configuration run with several seeds is named without its seed in the seed table
    firsts: dict[str, Any] = {}
    for r in records:
        firsts.setdefault(groups[r.id], r)
    group_names = experiment_names(
        [(g, r.config.model_copy(update={"seed": 0})) for g, r in firsts.items()]
    )
    rows: list[dict[str, Any]] = []
    baselines: dict[str, Any] = {}
    for r in records:
        m, t, tr = r.metrics, r.timing, r.training
        if r.dataset_key not in baselines:
            baselines[r.dataset_key] = majority_baseline(
                store.train_label_counts(r.dataset_key),
                store.examples(r.dataset_key),
                r.label_names,
            )
        base = baselines[r.dataset_key]
        test = base.test(store.predictions(r.id)) if base else None
        rows.append(
            {
                "kind": "experiment",
                "id": r.id,
                "name": names[r.id],
                "seed": r.config.seed,
                #: experiments that differ only in their seed share a group (and its name)
                "group": groups[r.id],
                "group_name": group_names[groups[r.id]],
                "task": r.task,
                "model": r.model,
                "method": r.method,
                "n": m.n,
                "accuracy": m.accuracy,
                "accuracy_ci_low": m.accuracy_ci_low,
                "accuracy_ci_high": m.accuracy_ci_high,
                "macro_f1": m.macro_f1,
                "mcc": m.mcc,
                "ece": m.ece,
                "invalid_rate": m.invalid_rate,
                "beats_baseline": None
                if test is None
                else bool(test.a_only > test.b_only and test.p_value < 0.05),
                "p_vs_baseline": None if test is None else test.p_value,
                "below_baseline": None
                if test is None
                else standing(test.a_only, test.b_only, test.p_value) == "below",
                "labels_used": tr.labels_used if tr else None,
                "train_time_s": tr.train_time_s if tr else None,
                "throughput_per_s": t.throughput_per_s if t else None,
                "latency_median_ms": t.latency_median_ms if t else None,
                "latency_p95_ms": t.latency_p95_ms if t else None,
                "peak_memory_mb": t.peak_memory_mb if t else None,
                "device": t.device if t else None,
                "warnings": list(tr.warnings) if tr else [],
                "config": r.config.model_dump(mode="json"),
            }
        )
    seen: set[str] = set()
    for r in records:
        base = baselines.get(r.dataset_key)
        if base is None or r.dataset_key in seen:
            continue
        seen.add(r.dataset_key)
        low, high = base.interval
        rows.append(
            {
                "kind": "baseline",
                "id": None,
                "name": f"{NAME}: always '{base.label_name}'",
                "task": r.task,
                "model": None,
                "method": "majority",
                "n": base.n,
                "accuracy": base.accuracy,
                "accuracy_ci_low": low,
                "accuracy_ci_high": high,
                "labels_used": 0,
            }
        )
    return rows, others


def _seed_group(config: Any) -> str:
    """The configuration without its seed: what several seeds repeat."""
    return config.model_copy(update={"seed": 0}).experiment_id()


def seed_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Experiments that differ only in their seed, as one row each: the mean accuracy, its
    standard deviation and range across seeds (kind ``seeds``); other rows as they are."""
    from statistics import mean, stdev

    out: list[dict[str, Any]] = []
    members: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        if r["kind"] == "experiment":
            members.setdefault((r["task"], r["group"]), []).append(r)
    done: set[tuple[str, str]] = set()
    for r in rows:
        key = (r["task"], r.get("group") or "")
        group = members.get(key, [])
        if r["kind"] != "experiment" or len(group) < 2:
            out.append(r)
            continue
        if key in done:
            continue
        done.add(key)
        accs = [g["accuracy"] for g in group]
        out.append(
            {
                **r,
                "kind": "seeds",
                "name": r["group_name"],
                "accuracy": mean(accs),
                "accuracy_sd": stdev(accs),
                "accuracy_min": min(accs),
                "accuracy_max": max(accs),
                "seeds": sorted(g["seed"] for g in group),
                "beats_baseline": None
                if any(g["beats_baseline"] is None for g in group)
                else all(g["beats_baseline"] for g in group),
                "below_baseline": all(g.get("below_baseline") for g in group),
                **{
                    k: mean(g[k] for g in group)
                    for k in (
                        "train_time_s",
                        "throughput_per_s",
                        "latency_median_ms",
                        "latency_p95_ms",
                        "peak_memory_mb",
                    )
                    if all(g.get(k) is not None for g in group)
                },  # fmt: skip
                "warnings": list(dict.fromkeys(w for g in group for w in g["warnings"])),
            }
        )
    return out


def _cell(row: dict[str, Any]) -> str:
    """'87.6 [85.2, 89.7]': accuracy and its interval, which is not symmetric, as [low, high]."""
    from bakeoff.metrics import format_accuracy

    if row["kind"] == "seeds":
        cell = (
            f"{100 * row['accuracy']:.1f} ± {100 * row['accuracy_sd']:.1f} "
            f"[{100 * row['accuracy_min']:.1f}, {100 * row['accuracy_max']:.1f}] "
            f"({len(row['seeds'])} seeds)"
        )
        return cell + _vs_base(row)
    cell = format_accuracy(row["accuracy"], row["accuracy_ci_low"], row["accuracy_ci_high"])
    if row.get("invalid_rate"):
        cell += f" ({100 * row['invalid_rate']:.1f}% invalid)"
    return cell + _vs_base(row)


def _vs_base(row: dict[str, Any]) -> str:
    """' below baseline' where the paired test says it is worse, ' ≈base' where it cannot
    tell it from the baseline; nothing where it is better."""
    if row.get("below_baseline"):
        return " below baseline"
    return " ≈base" if row.get("beats_baseline") is False else ""


def _md(text: str) -> str:
    """A Markdown table cell: control characters shown, a ``|`` kept inside its cell."""
    return printable(text).replace("|", "\\|")


def _status_line(r: Any) -> str:
    if r.status == "running":
        return "running now, or stopped; the same command resumes it"
    if r.error == "interrupted":
        return "interrupted; the same command runs it again"
    return (r.error or "").strip().splitlines()[-1] if r.error else "unknown error"


@app.command()
def results(
    db: Annotated[
        Optional[Path],
        typer.Option("--db", help="Results store. Default: $BAKEOFF_DB or ./bakeoff.db"),
    ] = None,
    format: Annotated[
        Format, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
    ] = Format.table,
) -> None:
    """Accuracy [95% CI] by experiment x task, the majority baseline, and speed."""
    from bakeoff.store import ResultsStore, default_db_path

    path = db or default_db_path()
    try:
        with ResultsStore(path, readonly=True) as store:
            rows, others = result_rows(store)
    except BakeoffError as exc:
        fail(exc)
    if format is Format.json:
        payload = {
            "schema": RESULTS_SCHEMA,
            "store": str(path),
            "generated_at": time.time(),
            "results": rows,
            "unfinished": [
                {"id": r.id, "task": r.task, "model": r.model, "method": r.method,
                 "status": r.status, "error": r.error}
                for r in others
            ],
        }  # fmt: skip
        typer.echo(json.dumps(payload, indent=2))
        return
    if format is Format.csv:
        buf = io.StringIO()
        fields = [
            "kind", "task", "name", "id", "model", "method", "n", "accuracy", "accuracy_ci_low",
            "accuracy_ci_high", "macro_f1", "mcc", "ece", "invalid_rate", "beats_baseline",
            "p_vs_baseline", "labels_used", "train_time_s", "throughput_per_s",
            "latency_median_ms", "latency_p95_ms", "peak_memory_mb", "device",
        ]  # fmt: skip
        writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        # text for people and spreadsheets: control characters shown, not sent (JSON is exact)
        writer.writerows(
            {k: printable(v) if isinstance(v, str) else v for k, v in r.items()} for r in rows
        )
        typer.echo(buf.getvalue(), nl=False)
        return
    if not rows:
        console.print(f"No finished experiments in {markup(path)}.", highlight=False)
    rows = seed_rows(rows)
    task_names = sorted({r["task"] for r in rows})
    names = sorted(
        {r["name"] for r in rows if r["kind"] != "baseline"},
    ) + sorted({r["name"] for r in rows if r["kind"] == "baseline"})
    cells: dict[str, dict[str, str]] = {}
    for r in rows:
        cells.setdefault(r["name"], {})[r["task"]] = _cell(r)
    speed_rows = [
        [
            r["task"],
            r["name"],
            f"{r['throughput_per_s']:.1f}",
            f"{r['latency_median_ms']:.1f}",
            f"{r['latency_p95_ms']:.1f}",
            f"{r['peak_memory_mb']:.0f}",
            f"{r['train_time_s']:.0f}",
            r["device"] or "",
        ]
        for r in rows
        if r["kind"] != "baseline"
    ]
    speed_cols = [
        "task",
        "experiment",
        "examples/s",
        "p50 ms",
        "p95 ms",
        "peak MB",
        "train s",
        "device",
    ]
    if format is Format.markdown:
        lines = [
            "| experiment | " + " | ".join(_md(t) for t in task_names) + " |",
            "|---|" + "---|" * len(task_names),
        ]
        for name in names:
            lines.append(
                f"| {_md(name)} | " + " | ".join(cells[name].get(t, "—") for t in task_names) + " |"
            )
        lines += ["", "| " + " | ".join(speed_cols) + " |", "|---" * len(speed_cols) + "|"]
        lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in speed_rows]
        typer.echo("\n".join(lines))
    elif rows:
        table = Table(title=f"Accuracy % [95% CI] — {markup(path)}")
        table.add_column("experiment")
        for t in task_names:
            table.add_column(markup(t), justify="right")
        for name in names:
            style = "dim" if name.startswith("majority") else None
            table.add_row(markup(name), *(cells[name].get(t, "—") for t in task_names), style=style)
        console.print(table)
        if any(_vs_base(r) == " ≈base" for r in rows):
            console.print(
                "[dim]≈base: not significantly better than the majority-class baseline "
                "(paired exact test, p ≥ 0.05; for seeds: not every seed is)[/]"
            )
        if any(r.get("below_baseline") for r in rows):
            console.print(
                "[dim]below baseline: significantly worse than always answering the "
                "majority class (paired exact test, p < 0.05; for seeds: every seed is)[/]"
            )
        if any(r["kind"] == "seeds" for r in rows):
            console.print(
                "[dim]seeds: mean ± standard deviation [lowest, highest] across seeds; the "
                "report compares them with a bootstrap over examples and seeds[/]"
            )
        speed = Table(title="Speed (same protocol for every method)")
        for col in speed_cols:
            speed.add_column(col)
        for row in speed_rows:
            speed.add_row(*(markup(cell) for cell in row))
        console.print(speed)
        for r in rows:
            for warning in r.get("warnings") or []:
                console.print(
                    f"[yellow]warning[/] {markup(r['task'])} / {markup(r['name'])}: {markup(warning)}",
                    highlight=False,
                )
    for r in others:
        console.print(
            f"[yellow]{markup(r.status)}[/] {markup(r.task)} / {markup(r.model)} / "
            f"{markup(r.method)}: {markup(_status_line(r))}",
            highlight=False,
        )
