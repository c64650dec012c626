"""``bakeoff prompt``: the exact prompt a model receives, its answer words' tokens and its length.

Prompted results hinge on details that are invisible in a table: how the chat template wraps the
instruction, whether an answer word is one token, how long a few-shot prompt gets. This shows
them for one example before anything is run, with the same code the prompted methods use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.panel import Panel
from rich.table import Table

from bakeoff.cli.app import (
    EVAL_FILE_ALONE,
    app,
    console,
    custom_task_from_flags,
    fail,
    split_values,
)
from bakeoff.errors import BakeoffError
from bakeoff.printable import markup


@app.command()
def prompt(
    model: Annotated[
        str, typer.Option("--model", "-m", help="Causal LM alias, id, folder or .gguf.")
    ],
    task: Annotated[
        Optional[str],
        typer.Option(
            "--task",
            "-t",
            "--task-name",
            help="Task name (built-in or your own; names --train-file's task, as in run).",
            show_default="custom with --train-file",
        ),
    ] = None,
    num_fewshot: Annotated[
        int, typer.Option("--num-fewshot", "-k", help="Few-shot examples (0: zero-shot).")
    ] = 0,
    example: Annotated[int, typer.Option(help="Which evaluation example to show.")] = 0,
    template: Annotated[
        Optional[str], typer.Option(help="Prompt template with {field} placeholders.")
    ] = None,
    instruction: Annotated[Optional[str], typer.Option(help="Instruction to use.")] = None,
    verbalizers: Annotated[
        Optional[str], typer.Option(help="Answer words, one per label, comma-separated.")
    ] = None,
    chat_template: Annotated[
        bool, typer.Option("--chat-template/--no-chat-template", help="Use the chat template.")
    ] = True,
    seed: Annotated[int, typer.Option(help="Seed for the few-shot sample.")] = 99,
    data_dir: Annotated[
        Optional[str], typer.Option("--data-dir", envvar="BAKEOFF_DATA_DIR")
    ] = None,
    task_file: Annotated[
        Optional[list[Path]], typer.Option(help="Task YAML(s) describing your own data.")
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
) -> None:
    """Print the exact prompt a model receives for one example, each answer word's tokens and
    the prompt's length in tokens."""
    try:
        _show(locals())
    except BakeoffError as exc:
        fail(exc)


def _custom_task(o: dict[str, Any]) -> dict[str, Any] | None:
    """``--train-file`` and its column flags as a task, named by ``--task`` (as in ``run``)."""
    if o["train_file"] is None:
        if o["eval_file"] is not None:
            raise BakeoffError(EVAL_FILE_ALONE)
        return None
    return custom_task_from_flags(o, o["task"] or "custom")


def _show(o: dict[str, Any]) -> None:
    from bakeoff import checks
    from bakeoff.backends.causal_lm import load_causal_lm
    from bakeoff.config import PromptSettings, make_grid
    from bakeoff.environment import best_device, resolve_precision
    from bakeoff.methods.prompted import ANSWER_ROOM, PromptedClassifier
    from bakeoff.prompts import PromptBuilder, build_format, sample_shots
    from bakeoff.runner import load_grid_tasks

    prompt_settings: dict[str, Any] = {"k": o["num_fewshot"], "chat_template": o["chat_template"]}
    for key in ("template", "instruction", "verbalizers"):
        if o[key] is not None:
            prompt_settings[key] = o[key]
    custom = _custom_task(o)
    if o["task"] is None and custom is None:
        raise BakeoffError(
            "no task given; pass --task (see `bakeoff tasks`), or --train-file for your own data"
        )
    grid = make_grid(
        {
            "tasks": split_values([o["task"] or "custom"]),
            "custom_tasks": [custom] if custom else [],
            "models": [o["model"]],
            "methods": ["few-shot" if o["num_fewshot"] else "zero-shot"],
            "seed": o["seed"],
            "data_dir": o["data_dir"],
            "task_files": [str(p) for p in o["task_file"] or []],
            "prompt": prompt_settings,
        }
    )
    data = next(iter(load_grid_tasks(grid).values()))
    settings = grid.section("prompt")
    assert isinstance(settings, PromptSettings)
    fmt = build_format(data.task, settings)
    if not 0 <= o["example"] < len(data.eval):
        raise BakeoffError(
            f"--example {o['example']}: task {data.task.name} has {len(data.eval)} evaluation "
            f"examples; give 0 to {len(data.eval) - 1}"
        )
    shots = [data.train[i] for i in sample_shots(data.train, settings.k, grid.seed)]
    device = best_device()
    with console.status(f"loading {o['model']} (its tokenizer and chat template)"):
        lm = load_causal_lm(o["model"], device, resolve_precision("auto", device))
    builder = PromptBuilder(
        fmt,
        shots,
        lm.tokenizer,
        settings.chat_template,
        settings.max_length - ANSWER_ROOM,
    )
    clf = PromptedClassifier(lm, builder, settings, device, 1, False)
    query = data.eval[o["example"]]
    text = builder.prompt(query)
    (_request,), cut = clf.requests([text])
    answer_tokens = clf.answer_tokens(query)
    title = (
        f"{data.task.name} · {o['model']} · "
        f"{'zero-shot' if not shots else f'few-shot k={len(shots)}'} · example {o['example']}"
    )
    console.print(Panel(markup(text, keep_newlines=True), title=markup(title), expand=False))
    table = Table(title="answer words, as scored after the prompt")
    for col in ("label", "answer word", "tokens"):
        table.add_column(col)
    for name, word, toks in zip(fmt.label_names, fmt.verbalizers, answer_tokens):
        table.add_row(markup(name), markup(word), markup(" | ".join(toks)))
    console.print(table)
    n_tokens = len(
        lm.tokenizer(text, add_special_tokens=builder.parts.add_special_tokens)["input_ids"]
    )
    console.print(
        f"prompt length: {n_tokens} tokens (max_length {settings.max_length}"
        + (", cut from the left to fit" if cut else "")
        + f"); chat template: {'yes' if builder.chat else 'no'}; gold label: "
        f"{markup(data.task.label_names[query.label])}",
        highlight=False,
    )
    for warning in checks.answer_words(fmt.verbalizers, answer_tokens):
        console.print(f"[yellow]warning[/] {markup(warning)}", highlight=False)
    _label_canon(data)


def _label_canon(data: Any) -> None:
    """The label canon's mapping, where the data's spellings differ from the labels they became
    (``1.0`` and ``+1`` read as ``1``): the user sees which raw values were taken as one label."""
    rows = [
        (label, spellings)
        for label, spellings in data.label_spellings.items()
        if set(spellings) != {repr(label)}
    ]
    if not rows:
        return
    table = Table(title="labels as read from the data (the label canon)")
    table.add_column("label")
    table.add_column("spellings in the data (rows)")
    for label, spellings in rows:
        shown = ", ".join(f"{s} ({n})" for s, n in sorted(spellings.items(), key=lambda x: -x[1]))
        table.add_row(markup(label), markup(shown))
    console.print(table)
    for note in data.notes:
        console.print(f"[yellow]warning[/] {markup(note)}", highlight=False)
