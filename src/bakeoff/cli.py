"""The ``bakeoff`` command line: run grids, list tasks and models, show results, write reports."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from bakeoff.errors import BakeoffError
from bakeoff.report import report_command

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Fine-tune an encoder or prompt a small LLM? Run both on the same data and measure.",
)
console = Console()
err_console = Console(stderr=True)


class RichProgress:
    """Progress bars: one for the grid, one per stage of the current experiment."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self._stages: list[Any] = []

    def stage(self, description: str, total: int | None):  # noqa: ANN201 - returns Advance
        for task_id in self._stages:
            self.progress.update(task_id, visible=False)
        task_id = self.progress.add_task(f"  {description}", total=total)
        self._stages.append(task_id)
        return lambda n=1: self.progress.advance(task_id, n)

    def clear_stages(self) -> None:
        for task_id in self._stages:
            self.progress.remove_task(task_id)
        self._stages = []


def _fail(exc: BakeoffError) -> None:
    err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


@app.command()
def run(
    task: Annotated[
        Optional[list[str]],
        typer.Option("--task", "--tasks", "-t", help="Task name(s), comma-separated or repeated."),
    ] = None,
    model: Annotated[
        Optional[list[str]],
        typer.Option(
            "--model", "--models", "-m", help="Model alias, hub id, folder or .gguf file."
        ),
    ] = None,
    method: Annotated[
        Optional[list[str]],
        typer.Option("--method", "--methods", help="finetune, zero-shot, few-shot."),
    ] = None,
    config: Annotated[
        Optional[Path],
        typer.Option("--config", "-c", help="Grid YAML (flags given here override it)."),
    ] = None,
    data_dir: Annotated[
        Optional[str],
        typer.Option(
            "--data-dir", envvar="BAKEOFF_DATA_DIR", help="Folder with <task>/<split>.jsonl files."
        ),
    ] = None,
    db: Annotated[
        Optional[Path],
        typer.Option("--db", help="Results store (SQLite). Default: $BAKEOFF_DB or ./bakeoff.db"),
    ] = None,
    train_limit: Annotated[
        Optional[int], typer.Option(help="Train on a seeded stratified sample of N examples.")
    ] = None,
    eval_limit: Annotated[
        Optional[int],
        typer.Option(
            "--eval-limit", "--limit", help="Evaluate a seeded stratified sample of N examples."
        ),
    ] = None,
    epochs: Annotated[Optional[float], typer.Option(help="Fine-tuning epochs (default 3).")] = None,
    learning_rate: Annotated[
        Optional[float], typer.Option("--lr", help="Fine-tuning learning rate (default 2e-5).")
    ] = None,
    batch_size: Annotated[
        Optional[int], typer.Option(help="Fine-tuning batch size (default 32).")
    ] = None,
    max_length: Annotated[
        Optional[int], typer.Option(help="Encoder max tokens (default 128).")
    ] = None,
    num_fewshot: Annotated[
        Optional[int], typer.Option("--num-fewshot", "-k", help="Few-shot examples (default 5).")
    ] = None,
    scoring: Annotated[
        Optional[str], typer.Option(help="LLM scoring: loglik (default) or generate.")
    ] = None,
    chat_template: Annotated[
        Optional[bool],
        typer.Option(
            "--chat-template/--no-chat-template",
            help="Use the tokenizer's chat template (default on).",
        ),
    ] = None,
    template: Annotated[
        Optional[str], typer.Option(help="Prompt template with {field} placeholders.")
    ] = None,
    instruction: Annotated[
        Optional[str], typer.Option(help="Prompt instruction replacing the built-in one.")
    ] = None,
    verbalizers: Annotated[
        Optional[str], typer.Option(help="Answer words, one per label, comma-separated.")
    ] = None,
    llm_batch_size: Annotated[
        Optional[str], typer.Option(help="LLM batch size: a number or auto.")
    ] = None,
    precision: Annotated[
        Optional[str], typer.Option(help="auto (bf16 where supported), bf16 or fp32.")
    ] = None,
    seed: Annotated[
        Optional[int], typer.Option(help="Seed for sampling and training (default 99).")
    ] = None,
    latency_samples: Annotated[
        Optional[int], typer.Option(help="Examples timed at batch size 1 (default 64).")
    ] = None,
    train_file: Annotated[
        Optional[Path], typer.Option(help="Your own training data (CSV, JSONL, Parquet).")
    ] = None,
    eval_file: Annotated[
        Optional[Path], typer.Option(help="Your own eval data; omit for a stratified hold-out.")
    ] = None,
    text_column: Annotated[str, typer.Option(help="Text column of your data.")] = "text",
    text_pair_column: Annotated[
        Optional[str], typer.Option(help="Second text column, for pairs.")
    ] = None,
    label_column: Annotated[str, typer.Option(help="Label column of your data.")] = "label",
    holdout: Annotated[
        float, typer.Option(help="Eval fraction when only --train-file is given.")
    ] = 0.2,
    task_name: Annotated[str, typer.Option(help="Name for your own data's task.")] = "custom",
    task_file: Annotated[
        Optional[list[Path]], typer.Option(help="Task YAML(s) describing your own data.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Re-run experiments already done.")
    ] = False,
) -> None:
    """Run a grid of tasks x models x methods; finished experiments are skipped."""
    try:
        _run(**locals())
    except BakeoffError as exc:
        _fail(exc)


def _run(**o: Any) -> None:
    from bakeoff.config import load_grid_yaml, make_grid
    from bakeoff.runner import LocalExecutor, pending, plan, skipped_pairs
    from bakeoff.store import ResultsStore

    overrides: dict[str, Any] = {}
    tasks = _split(o["task"])
    task_files = [str(p) for p in o["task_file"] or []]
    if o["train_file"] is not None:
        custom = {
            "name": o["task_name"],
            "train_file": str(Path(o["train_file"]).expanduser().resolve()),
            "eval_file": str(Path(o["eval_file"]).expanduser().resolve())
            if o["eval_file"]
            else None,
            "text_column": o["text_column"],
            "text_pair_column": o["text_pair_column"],
            "label_column": o["label_column"],
            "holdout_fraction": o["holdout"],
        }
        from bakeoff.custom import parse_custom_config

        parse_custom_config(custom, "flags")  # bad flags fail here, before anything else
        overrides["custom_tasks"] = [custom]
        if o["task_name"] not in tasks:
            tasks.append(o["task_name"])
    elif o["eval_file"] is not None:
        raise BakeoffError(
            "--eval-file needs --train-file too; give both, or only --train-file for a hold-out"
        )
    if tasks:
        overrides["tasks"] = tasks
    if task_files:
        overrides["task_files"] = task_files
    if o["model"]:
        overrides["models"] = _split(o["model"])
    if o["method"]:
        overrides["methods"] = _split(o["method"])
    for key in ("seed", "precision", "train_limit", "eval_limit", "latency_samples", "data_dir"):
        if o[key] is not None:
            overrides[key] = o[key]
    ft = {
        k: v
        for k, v in {
            "epochs": o["epochs"],
            "learning_rate": o["learning_rate"],
            "batch_size": o["batch_size"],
            "max_length": o["max_length"],
        }.items()
        if v is not None
    }
    pr: dict[str, Any] = {
        k: v
        for k, v in {
            "k": o["num_fewshot"],
            "scoring": o["scoring"],
            "chat_template": o["chat_template"],
            "template": o["template"],
            "instruction": o["instruction"],
        }.items()
        if v is not None
    }
    if o["verbalizers"]:
        pr["verbalizers"] = tuple(v.strip() for v in o["verbalizers"].split(","))
    if o["llm_batch_size"]:
        bs = o["llm_batch_size"]
        pr["batch_size"] = bs if bs == "auto" else _int_option(bs, "--llm-batch-size")
    if ft:
        overrides["finetune"] = ft
    if pr:
        overrides["prompt"] = pr
    if o["config"] is not None:
        grid = load_grid_yaml(o["config"], overrides)
    else:
        for key, flag in (("tasks", "--task"), ("models", "--model")):
            if key not in overrides:
                raise BakeoffError(
                    f"no {key} given; pass {flag} (see `bakeoff {key}`) or --config grid.yaml"
                )
        overrides.setdefault("methods", ["finetune"])
        grid = make_grid(overrides)

    store = ResultsStore(o["db"])
    experiments = plan(grid)
    for model, method in skipped_pairs(grid):
        console.print(
            f"[dim]skip[/] {model} × {method} [dim](an encoder is fine-tuned, a causal LM is "
            "prompted)[/]"
        )
    todo, done = pending(experiments, store, force=o["force"])
    for exp in done:
        console.print(f"[dim]skip[/] {exp.config.label} [dim](already done: {exp.id})[/]")
    if not todo:
        console.print(
            f"Nothing new to run: all {len(done)} experiment(s) are already in {store.path}."
        )
        return
    console.print(
        f"Running {len(todo)} experiment(s) into {store.path}"
        + (f", {len(done)} already done." if done else ".")
    )
    failures = 0
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        overall = bar.add_task("[bold]grid", total=len(todo))
        reporter = RichProgress(bar)

        def on_outcome(outcome: Any) -> None:
            nonlocal failures
            reporter.clear_stages()
            bar.advance(overall)
            label = outcome.experiment.config.label
            if outcome.status == "done":
                m = outcome.metrics
                bar.console.print(
                    f"[green]done[/] {label}: accuracy {m['accuracy']:.1%} "
                    f"[{m['accuracy_ci_low']:.1%}, {m['accuracy_ci_high']:.1%}], n={m['n']}"
                    + (f", invalid {m['invalid_rate']:.1%}" if m["n_invalid"] else "")
                )
            else:
                failures += 1
                bar.console.print(f"[red]failed[/] {label}: {outcome.error}", highlight=False)

        for exp in todo:
            bar.update(overall, description=f"[bold]{exp.config.label}")
            LocalExecutor().run([exp], store, reporter, on_outcome)
    if failures:
        err_console.print(
            f"[red]{failures} experiment(s) failed[/]; their errors are in {store.path}; fix and re-run."
        )
        raise typer.Exit(1)


def _int_option(value: str, flag: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise BakeoffError(f"{flag} must be a number or 'auto', got '{value}'") from None


@app.command()
def tasks() -> None:
    """List built-in tasks."""
    from bakeoff.tasks import BUILTIN_TASKS

    table = Table(title="Built-in tasks")
    for col in ("task", "inputs", "labels", "description"):
        table.add_column(col)
    for spec in BUILTIN_TASKS.values():
        note = f" [dim]({spec.local.note})[/]" if spec.local and spec.local.note else ""
        table.add_row(
            spec.name,
            " + ".join(spec.text_fields),
            ", ".join(spec.label_names),
            spec.description + note,
        )
    console.print(table)


@app.command()
def models() -> None:
    """List model aliases (any hub id, folder or .gguf file works too)."""
    from bakeoff.models import MODEL_ALIASES

    table = Table(title="Model aliases")
    for col in ("alias", "kind", "methods", "offline", "what"):
        table.add_column(col)
    for spec in MODEL_ALIASES.values():
        methods = "finetune" if spec.kind == "encoder" else "zero-shot, few-shot"
        table.add_row(
            spec.alias, spec.kind, methods, "yes" if spec.offline else "hub", spec.description
        )
    console.print(table)


def format_cell(metrics: dict[str, Any]) -> str:
    """'87.6 ± 2.2' (accuracy and half-width of its 95% interval), with the invalid rate if any."""
    from bakeoff.metrics import format_accuracy

    cell = format_accuracy(
        metrics["accuracy"], metrics["accuracy_ci_low"], metrics["accuracy_ci_high"]
    )
    if metrics.get("n_invalid"):
        cell += f" ({100 * metrics['invalid_rate']:.1f}% invalid)"
    return cell


@app.command()
def results(
    db: Annotated[
        Optional[Path],
        typer.Option("--db", help="Results store. Default: $BAKEOFF_DB or ./bakeoff.db"),
    ] = None,
) -> None:
    """Accuracy ± 95% interval by model and method x task (the study's table, with intervals)."""
    from bakeoff.config import method_label
    from bakeoff.store import ResultsStore, default_db_path

    try:
        path = db or default_db_path()
        if not path.exists():
            raise BakeoffError(f"no results store at {path}; run `bakeoff run` first or pass --db")
        store = ResultsStore(path)
        records = store.experiments("done")
        others = [r for r in store.experiments(None) if r.status != "done"]
    except BakeoffError as exc:
        _fail(exc)
    if not records:
        console.print(f"No finished experiments in {path}.")
    else:
        task_names = sorted({r.task for r in records})
        rows: dict[tuple[str, str], dict[str, str]] = {}
        for r in records:
            limit = f" (n={r.metrics['n']})"
            rows.setdefault((r.model, method_label(r.config)), {})[r.task] = format_cell(
                r.metrics
            ) + (limit if r.config.get("eval_limit") else "")
        table = Table(title=f"Accuracy % ± 95% CI — {path}")
        table.add_column("model")
        table.add_column("method")
        for t in task_names:
            table.add_column(t, justify="right")
        for (model, method), cells in sorted(rows.items()):
            table.add_row(model, method, *(cells.get(t, "—") for t in task_names))
        console.print(table)
        speed = Table(title="Speed (same protocol for every method)")
        for col in (
            "task",
            "model",
            "method",
            "examples/s",
            "latency ms (p50 / p95)",
            "peak MB",
            "train s",
            "device",
        ):
            speed.add_column(col)
        for r in records:
            t = r.timing or {}
            speed.add_row(
                r.task,
                r.model,
                r.method,
                f"{t.get('throughput_per_s', 0):.1f}",
                f"{t.get('latency_median_ms', 0):.1f} / {t.get('latency_p95_ms', 0):.1f}",
                f"{t.get('peak_memory_mb', 0):.0f}",
                f"{(r.training or {}).get('train_time_s', 0):.0f}",
                t.get("device", ""),
            )
        console.print(speed)
    for r in others:
        console.print(
            f"[yellow]{r.status}[/] {r.task} / {r.model} / {r.method}: {(r.error or '').strip().splitlines()[-1] if r.error else 'interrupted; re-run to finish'}",
            highlight=False,
        )


app.command("report")(report_command)


@app.command()
def bench(
    models: Annotated[
        str, typer.Option("--models", "-m", help="Architectures, comma-separated.")
    ] = "bert-base,deberta-v3-base,qwen2-0.5b,qwen2.5-1.5b,gemma-2-2b",
    task: Annotated[str, typer.Option("--task", "-t", help="Task whose texts are used.")] = "sst2",
    data_dir: Annotated[
        Optional[str], typer.Option("--data-dir", envvar="BAKEOFF_DATA_DIR")
    ] = None,
    limit: Annotated[int, typer.Option(help="Examples per measurement.")] = 64,
    batch_size: Annotated[int, typer.Option(help="Batch size for throughput.")] = 32,
    max_length: Annotated[
        Optional[str],
        typer.Option("--max-length", help="Sweep of input lengths, e.g. 128,256,512,2048."),
    ] = None,
    precision: Annotated[str, typer.Option(help="auto, bf16 or fp32.")] = "auto",
    latency_samples: Annotated[int, typer.Option(help="Examples timed at batch size 1.")] = 16,
    json_out: Annotated[
        Optional[Path], typer.Option("--json", help="Also write the rows as JSON.")
    ] = None,
) -> None:
    """Speed only: the study's five architectures with random weights, by the same timing protocol."""
    import json

    from bakeoff.bench import run_bench

    table = Table(title="bakeoff bench (random weights; speed does not depend on them)")
    for col in (
        "model",
        "measures",
        "prec",
        "batch",
        "max len",
        "tokens",
        "examples/s",
        "p50 ms",
        "roof/s",
        "of roof",
    ):
        table.add_column(
            col, justify="right" if col not in ("model", "measures", "prec") else "left"
        )
    try:
        lengths = (
            [_int_option(x, "--max-length") for x in _split([max_length])] if max_length else None
        )
        with console.status("measuring...") as status:

            def show(row: Any) -> None:
                status.update(f"measured {row.model} at max length {row.max_length}")
                table.add_row(
                    row.model,
                    row.what,
                    row.precision,
                    str(row.batch_size),
                    str(row.max_length),
                    f"{row.mean_tokens:.0f}",
                    f"{row.throughput_per_s:.1f}",
                    f"{row.latency_median_ms:.1f}",
                    f"{row.roof_per_s:.1f}",
                    f"{row.roof_fraction:.0%}",
                )

            rows, rates = run_bench(
                _split([models]),
                task,
                data_dir,
                limit,
                batch_size,
                lengths,
                precision,
                latency_samples,
                on_row=show,
            )
    except BakeoffError as exc:
        _fail(exc)
    console.print(table)
    console.print(
        f"matmul rate: bf16 {rates['bf16'] / 1e9:.0f} GFLOP/s, fp32 {rates['fp32'] / 1e9:.0f} GFLOP/s; "
        "roof = rate / (2 x non-embedding params x tokens computed per example)"
    )
    if json_out:
        json_out.write_text(
            json.dumps({"rates": rates, "rows": [r.to_dict() for r in rows]}, indent=2)
        )


def _quiet_libraries() -> None:
    """Our own progress bars replace the libraries' per-call bars and load reports."""
    import os

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import datasets
        import transformers

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        datasets.disable_progress_bars()
        datasets.utils.logging.set_verbosity_error()
        import huggingface_hub

        huggingface_hub.utils.logging.set_verbosity_error()
    except ImportError:
        pass


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("run", "bench"):
        _quiet_libraries()
    try:
        app()
    except BakeoffError as exc:  # errors raised outside a command's own handler
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
