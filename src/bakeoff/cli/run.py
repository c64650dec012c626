"""``bakeoff run``: flags and grid files become one grid; ``runner.run_grid`` runs it.

This module parses, draws progress and sets the exit code; planning, running and storing happen
in ``bakeoff.runner``. Every flag means what the same key means in a grid file.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
import yaml
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from bakeoff.cli.app import (
    EVAL_FILE_ALONE,
    app,
    console,
    custom_task_from_flags,
    err_console,
    fail,
    split_values,
)
from bakeoff.errors import BakeoffError
from bakeoff.printable import markup

# Fixed choices are listed in each option's metavar and checked by the grid's validation, so a
# wrong value is one error line naming the setting, like every other bad input (click's own
# choice check would print a usage box instead).


def _value(choice: Any) -> Any:
    """An Enum choice as the plain string the grid takes; None and plain values as they are."""
    return choice.value if isinstance(choice, Enum) else choice


class RichProgress:
    """Progress bars: one for the grid, one per stage of the current experiment."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self._stages: list[Any] = []

    def stage(self, description: str, total: int | None):  # noqa: ANN201 - returns Advance
        for task_id in self._stages:
            self.progress.update(task_id, visible=False)
        task_id = self.progress.add_task(f"  {markup(description)}", total=total)
        self._stages.append(task_id)
        return lambda n=1: self.progress.advance(task_id, n)

    def note(self, text: str) -> None:
        self.progress.console.print(f"  [dim]{markup(text)}[/]", highlight=False)

    def clear_stages(self) -> None:
        for task_id in self._stages:
            self.progress.remove_task(task_id)
        self._stages = []


class GridDisplay:
    """Listens to ``run_grid``: the grid bar (its ETA from finished experiments only), one line
    per finished experiment, and the counts for the summary and for Ctrl-C."""

    def __init__(self, bar: Progress, reporter: RichProgress) -> None:
        self.bar = bar
        self.reporter = reporter
        self.overall: Any = None
        self.outcomes: list[Any] = []
        #: experiments running now, by id (several at once on a distributed executor)
        self.running: dict[str, Any] = {}

    def planned(self, todo: Sequence[Any], done: Sequence[Any]) -> None:
        self.overall = self.bar.add_task("[bold]grid", total=len(todo))

    def _describe(self) -> None:
        running = list(self.running.values())
        if not running:
            text = "[bold]grid"
        elif len(running) == 1:
            text = f"[bold]{markup(running[0].config.label)}"
        else:
            text = f"[bold]{len(running)} running[/] ({markup(running[-1].config.label)}, ...)"
        self.bar.update(self.overall, description=text)

    def started(self, experiment: Any) -> None:
        self.running[experiment.id] = experiment
        self._describe()

    def finished(self, outcome: Any) -> None:
        self.running.pop(outcome.experiment.id, None)
        self._describe()
        self.outcomes.append(outcome)
        self.reporter.clear_stages()
        self.bar.advance(self.overall)
        label = markup(outcome.experiment.config.label)
        out = self.bar.console
        if outcome.status == "done":
            m = outcome.metrics
            out.print(
                f"[green]done[/] {label}: accuracy {m.accuracy:.1%} "
                f"[{m.accuracy_ci_low:.1%}, {m.accuracy_ci_high:.1%}], n={m.n}"
                + (f", invalid {m.invalid_rate:.1%}" if m.n_invalid else ""),
                highlight=False,
            )
            for warning in outcome.warnings:
                out.print(f"  [yellow]warning[/] {markup(warning)}", highlight=False)
            if outcome.artifact:
                out.print(f"  [dim]{markup(outcome.artifact)}[/]", highlight=False)
        elif outcome.status == "busy":
            out.print(
                f"[yellow]skip[/] {label}: another process is running it",
                highlight=False,
            )
        else:
            out.print(
                f"[red]failed[/] {label}: {markup(outcome.error, keep_newlines=True)}",
                highlight=False,
            )


def summary_table(outcomes: Sequence[Any]) -> Table:
    table = Table(title="This run")
    for col in ("task", "model", "method", "status", "accuracy [95% CI]", "warnings"):
        table.add_column(col)
    for o in outcomes:
        c = o.experiment.config
        acc = (
            f"{o.metrics.accuracy:.1%} [{o.metrics.accuracy_ci_low:.1%}, "
            f"{o.metrics.accuracy_ci_high:.1%}]"
            if o.metrics
            else "—"
        )
        cells = (c.task, c.model, c.method, o.status, acc, str(len(o.warnings) or ""))
        table.add_row(*(markup(cell) for cell in cells))
    return table


def _parse_set(values: list[str] | None) -> dict[str, dict[str, Any]]:
    """``--set setfit.num_iterations=10`` -> ``{"setfit": {"num_iterations": 10}}`` (YAML values)."""
    sections: dict[str, dict[str, Any]] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not section or not name:
            raise BakeoffError(
                f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. --set finetune.epochs=5 "
                "(sections: see `bakeoff methods`)"
            )
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            parsed = value
        sections.setdefault(section, {})[name] = parsed
    return sections


def _batch_size(value: str | None) -> int | str | None:
    if value is None or value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise BakeoffError(
            f"--batch-size takes a whole number or auto, got '{value}'; e.g. --batch-size auto"
        ) from None


def grid_from_flags(o: dict[str, Any]) -> Any:
    """Flags (and ``--config``) as one validated :class:`GridConfig`; flags win over the file."""
    from bakeoff.config import load_grid_yaml, make_grid

    overrides: dict[str, Any] = {}
    tasks = split_values(o["task"])
    task_files = [str(p) for p in o["task_file"] or []]
    if o["train_file"] is not None or o["dataset"] is not None:
        custom = {
            **custom_task_from_flags(o, o["task_name"]),
            "dataset": o["dataset"],
            "config": o["dataset_config"],
            "train_split": o["train_split"] or "train",
            "eval_split": o["eval_split"],
        }
        from bakeoff.custom import parse_custom_config

        parse_custom_config(custom, "flags")  # bad flags fail here, before anything else
        overrides["custom_tasks"] = [custom]
        if o["task_name"] not in tasks:
            tasks.append(o["task_name"])
    elif o["eval_file"] is not None:
        raise BakeoffError(EVAL_FILE_ALONE)
    elif o["eval_split"] is not None or o["train_split"] is not None:
        raise BakeoffError("--train-split/--eval-split need --dataset (a Hugging Face dataset id)")
    if tasks:
        overrides["tasks"] = tasks
    if task_files:
        overrides["task_files"] = task_files
    if o["model"]:
        overrides["models"] = split_values(o["model"])
    if o["method"]:
        overrides["methods"] = split_values(o["method"])
    for key in (
        "seed", "seeds", "precision", "train_limit", "eval_limit", "cv", "latency_samples", "data_dir",
        "executor", "ray_address", "ray_cpus", "ray_gpus", "device", "keep",
    ):  # fmt: skip
        if o[key] is not None:
            overrides[key] = _value(o[key])
    if o["batch_size"] is not None:
        overrides["batch_size"] = _batch_size(o["batch_size"])
    sections = _parse_set(o["set"])
    finetune = {
        k: v
        for k, v in {
            "preset": _value(o["preset"]),
            "epochs": o["epochs"],
            "learning_rate": o["learning_rate"],
            "batch_size": o["train_batch_size"],
            "max_length": o["max_length"],
        }.items()
        if v is not None
    }
    prompt: dict[str, Any] = {
        k: v
        for k, v in {
            "k": o["num_fewshot"],
            "scoring": _value(o["scoring"]),
            "chat_template": o["chat_template"],
            "template": o["template"],
            "instruction": o["instruction"],
        }.items()
        if v is not None
    }
    if o["verbalizers"]:
        prompt["verbalizers"] = tuple(v.strip() for v in o["verbalizers"].split(","))
    for name, values in (("finetune", finetune), ("prompt", prompt)):
        if values:
            sections[name] = {**sections.get(name, {}), **values}
    overrides.update(sections)
    if o["config"] is not None:
        return load_grid_yaml(o["config"], overrides)
    for key, flag in (("tasks", "--task"), ("models", "--model")):
        if key not in overrides:
            raise BakeoffError(
                f"no {key} given; pass {flag} (see `bakeoff {key}`) or --config grid.yaml"
            )
    overrides.setdefault("methods", ["finetune"])
    return make_grid(overrides)


@app.command()
def run(
    task: Annotated[
        Optional[list[str]],
        typer.Option("--task", "--tasks", "-t", help="Task name(s), comma-separated or repeated."),
    ] = None,
    model: Annotated[
        Optional[list[str]],
        typer.Option(
            "--model",
            "--models",
            "-m",
            help="Model alias, hub id, folder or .gguf file.",
        ),
    ] = None,
    method: Annotated[
        Optional[list[str]],
        typer.Option(
            "--method",
            "--methods",
            help="Method(s), comma-separated (see `bakeoff methods`).",
        ),
    ] = None,
    config: Annotated[
        Optional[Path],
        typer.Option("--config", "-c", help="Grid YAML (flags given here override it)."),
    ] = None,
    data_dir: Annotated[
        Optional[str],
        typer.Option(
            "--data-dir",
            envvar="BAKEOFF_DATA_DIR",
            help="Folder with <task>/<split>.jsonl files.",
        ),
    ] = None,
    db: Annotated[
        Optional[Path],
        typer.Option(
            "--db",
            help="Results store (SQLite).",
            show_default="$BAKEOFF_DB or ./bakeoff.db",
        ),
    ] = None,
    train_limit: Annotated[
        Optional[str],
        typer.Option(
            help="Train on a seeded stratified sample of N examples; a list (16,64,256,all) "
            "runs a label-budget curve."
        ),
    ] = None,
    seeds: Annotated[
        Optional[str],
        typer.Option(
            help="Repeat seeded experiments once per seed, e.g. 1,2,3.",
            show_default="--seed",
        ),
    ] = None,
    executor: Annotated[
        Optional[str],
        typer.Option(
            metavar="<local|ray>",
            help="Where experiments run; ray needs the ray extra.",
            show_default="local",
        ),
    ] = None,
    ray_address: Annotated[
        Optional[str],
        typer.Option(
            help="Ray cluster to join: auto, or host:port.",
            show_default="a local instance",
        ),
    ] = None,
    cv: Annotated[
        Optional[int],
        typer.Option(
            "--cv",
            help="Score every labelled example out of fold with K models (small data sets).",
            show_default="a hold-out split",
        ),
    ] = None,
    ray_cpus: Annotated[
        Optional[float],
        typer.Option(help="CPUs each experiment asks Ray for.", show_default="1"),
    ] = None,
    ray_gpus: Annotated[
        Optional[float],
        typer.Option(
            help="GPUs each experiment asks Ray for (0.5 shares one; 0: CPU only).",
            show_default="1 where the cluster has GPUs",
        ),
    ] = None,
    keep: Annotated[
        Optional[str],
        typer.Option(
            metavar="<best|all|none>",
            help="What to keep for predict/export: best keeps every prompt recipe and the most "
            "accurate fine-tuned model per task; all keeps every model.",
            show_default="best",
        ),
    ] = None,
    eval_limit: Annotated[
        Optional[int],
        typer.Option(
            "--eval-limit",
            "--limit",
            help="Evaluate a seeded stratified sample of N examples.",
        ),
    ] = None,
    batch_size: Annotated[
        Optional[str],
        typer.Option(
            "--batch-size",
            "--batch_size",
            metavar="<N|auto>",
            help="Inference batch size for every method: a number, or auto (the largest that "
            "fits on a GPU, 16 on a CPU).",
            show_default="auto",
        ),
    ] = None,
    preset: Annotated[
        Optional[str],
        typer.Option(
            metavar="<study>",
            help="Fine-tuning preset: study is the published study's exact settings.",
        ),
    ] = None,
    epochs: Annotated[
        Optional[float], typer.Option(help="Fine-tuning epochs.", show_default="3")
    ] = None,
    learning_rate: Annotated[
        Optional[float],
        typer.Option("--lr", help="Fine-tuning learning rate.", show_default="5e-5"),
    ] = None,
    train_batch_size: Annotated[
        Optional[int], typer.Option(help="Fine-tuning batch size.", show_default="16")
    ] = None,
    max_length: Annotated[
        Optional[int], typer.Option(help="Encoder max tokens.", show_default="128")
    ] = None,
    num_fewshot: Annotated[
        Optional[int],
        typer.Option(
            "--num-fewshot",
            "--num_fewshot",
            "-k",
            help="Few-shot examples.",
            show_default="5",
        ),
    ] = None,
    scoring: Annotated[
        Optional[str],
        typer.Option(
            metavar="<loglik|generate>",
            help="LLM scoring: answer log-likelihoods, or generate and parse.",
            show_default="loglik",
        ),
    ] = None,
    chat_template: Annotated[
        Optional[bool],
        typer.Option(
            "--chat-template/--no-chat-template",
            help="Use the tokenizer's chat template (lm-eval: --apply_chat_template).",
            show_default="on",
        ),
    ] = None,
    template: Annotated[
        Optional[str], typer.Option(help="Prompt template with {field} placeholders.")
    ] = None,
    instruction: Annotated[
        Optional[str],
        typer.Option(help="Prompt instruction replacing the built-in one."),
    ] = None,
    verbalizers: Annotated[
        Optional[str],
        typer.Option(help="Answer words, one per label, comma-separated."),
    ] = None,
    set_: Annotated[
        Optional[list[str]],
        typer.Option(
            "--set",
            help="Any method setting as SECTION.KEY=VALUE, e.g. --set setfit.num_iterations=10.",
        ),
    ] = None,
    precision: Annotated[
        Optional[str],
        typer.Option(
            metavar="<auto|bf16|fp32>",
            help="Number format; auto is bf16 where supported.",
            show_default="auto",
        ),
    ] = None,
    device: Annotated[
        Optional[str],
        typer.Option(
            metavar="<auto|cpu|cuda|cuda:N|mps>",
            help="Where to run; auto takes CUDA, then mps, then the CPU.",
            show_default="auto",
        ),
    ] = None,
    seed: Annotated[
        Optional[int],
        typer.Option(help="Seed for sampling and training.", show_default="99"),
    ] = None,
    latency_samples: Annotated[
        Optional[int],
        typer.Option(help="Examples timed at batch size 1.", show_default="64"),
    ] = None,
    train_file: Annotated[
        Optional[Path],
        typer.Option(help="Your own training data (CSV, JSONL, Parquet)."),
    ] = None,
    eval_file: Annotated[
        Optional[Path],
        typer.Option(help="Your own eval data; omit for a stratified hold-out."),
    ] = None,
    dataset: Annotated[
        Optional[str],
        typer.Option(
            help="A Hugging Face dataset id (org/name) as your own data, instead of files."
        ),
    ] = None,
    dataset_config: Annotated[
        Optional[str],
        typer.Option(help="The dataset's configuration, e.g. sst2 of nyu-mll/glue."),
    ] = None,
    train_split: Annotated[
        Optional[str],
        typer.Option(help="The dataset's training split.", show_default="train"),
    ] = None,
    eval_split: Annotated[
        Optional[str],
        typer.Option(
            help="The dataset's eval split.",
            show_default="a stratified hold-out of the train split",
        ),
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
        Optional[list[Path]],
        typer.Option(help="Task YAML(s) describing your own data."),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Re-run experiments already done (the old result stays until then).",
        ),
    ] = False,
) -> None:
    """Run a grid of tasks x models x methods; finished experiments are skipped."""
    o = dict(locals())
    o["set"] = o.pop("set_")
    try:
        _run(o)
    except BakeoffError as exc:
        fail(exc)


def _run(o: dict[str, Any]) -> None:
    from bakeoff.runner import plan_grid, run_grid
    from bakeoff.store import default_db_path

    grid = grid_from_flags(o)
    # every check (data, models, settings) runs before the store is opened or created
    planned = plan_grid(grid)
    db_path = o["db"] or default_db_path()
    for (model, method), why in planned.skipped.items():
        console.print(
            f"[dim]skip[/] {markup(model)} × {markup(method)} [dim]({markup(why)})[/]",
            highlight=False,
        )
    from bakeoff.foresight import plan_warnings

    # label spellings merged by the label canon, then what planning already knows will weaken
    # the verdict; printed once the store is open (so a bad --db stays one line) and before
    # anything runs, while there is still time to change the command
    warnings_before = [*planned.notes, *plan_warnings(planned)]
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    started = time.perf_counter()
    with Progress(*columns, console=console, transient=False) as bar:
        reporter = RichProgress(bar)
        display = GridDisplay(bar, reporter)

        class Announce:
            def planned(self, todo: Sequence[Any], done: Sequence[Any]) -> None:
                for warning in warnings_before:
                    bar.console.print(
                        f"[yellow]warning[/] {markup(warning)}", highlight=False, soft_wrap=True
                    )
                for exp in done:
                    bar.console.print(
                        f"[dim]skip[/] {markup(exp.config.label)} [dim](already done: {exp.id})[/]",
                        highlight=False,
                    )
                if todo:
                    bar.console.print(
                        f"Running {len(todo)} experiment(s) into {markup(db_path)}"
                        + (f", {len(done)} already done." if done else "."),
                        highlight=False,
                    )
                    display.planned(todo, done)
                else:
                    bar.console.print(
                        f"Nothing new to run: all {len(done)} experiment(s) are already in "
                        f"{markup(db_path)}.",
                        highlight=False,
                    )

            started = staticmethod(display.started)
            finished = staticmethod(display.finished)

        try:
            result = run_grid(
                planned,
                db_path,
                force=o["force"],
                progress=reporter,
                listener=Announce(),
            )
        except KeyboardInterrupt:
            reporter.clear_stages()
            bar.stop()
            done = sum(x.status == "done" for x in display.outcomes)
            running = [markup(e.config.label) for e in display.running.values()]
            stopped = (
                f"; {running[0]} was stopped and will run again"
                if len(running) == 1
                else f"; {len(running)} were stopped and will run again: {', '.join(running)}"
            )
            err_console.print(
                f"interrupted: {done} experiment(s) of this run finished and are stored in "
                f"{markup(db_path)}"
                + (stopped if running else "")
                + ". Run the same command to resume.",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(130) from None
    if result.outcomes:
        console.print(summary_table(result.outcomes))
        console.print(f"[dim]{time.perf_counter() - started:.0f} s in all[/]")
    if result.failures:
        err_console.print(
            f"[red]{len(result.failures)} experiment(s) failed[/]; their errors are in {markup(db_path)}; "
            "fix and re-run.",
            highlight=False,
        )
        raise typer.Exit(1)
