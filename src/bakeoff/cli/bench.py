"""``bakeoff bench``: speed only, the study's architectures with random weights."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from bakeoff.cli.app import app, console, fail, split_values
from bakeoff.errors import BakeoffError


class Precision(str, Enum):
    """Fixed choices, so ``--help`` lists them and a typo is refused by name."""

    auto = "auto"
    bf16 = "bf16"
    fp32 = "fp32"


def _int_option(value: str, flag: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise BakeoffError(f"{flag} takes whole numbers, got '{value}'") from None


@app.command()
def bench(
    models: Annotated[
        str, typer.Option("--models", "-m", help="Architectures, comma-separated.")
    ] = "bert-base,deberta-v3-base,qwen2-0.5b,qwen2.5-1.5b,gemma-2-2b",
    task: Annotated[str, typer.Option("--task", "-t", help="Task whose texts are used.")] = "sst2",
    data_dir: Annotated[
        Optional[str],
        typer.Option(
            "--data-dir",
            envvar="BAKEOFF_DATA_DIR",
            help="Folder with <task>/<split>.jsonl files.",
            show_default="the Hugging Face hub",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="Examples per measurement.")] = 64,
    batch_size: Annotated[
        int, typer.Option("--batch-size", "--batch_size", help="Batch size for throughput.")
    ] = 32,
    max_length: Annotated[
        Optional[str],
        typer.Option("--max-length", help="Sweep of input lengths, e.g. 128,256,512,2048."),
    ] = None,
    precision: Annotated[
        Precision,
        typer.Option(
            help="Number format; auto is bf16 where the hardware has it.", case_sensitive=False
        ),
    ] = Precision.auto,
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
            [_int_option(x, "--max-length") for x in split_values([max_length])]
            if max_length
            else None
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
                split_values([models]),
                task,
                data_dir,
                limit,
                batch_size,
                lengths,
                precision.value,
                latency_samples,
                on_row=show,
            )
    except BakeoffError as exc:
        fail(exc)
    console.print(table)
    console.print(
        "matmul rate: " + ", ".join(f"{p} {r / 1e9:.0f} GFLOP/s" for p, r in rates.items()) + "; "
        "roof = rate / (2 x non-embedding params x tokens computed per example)"
    )
    if json_out:
        json_out.write_text(
            json.dumps({"rates": rates, "rows": [r.to_dict() for r in rows]}, indent=2)
        )
