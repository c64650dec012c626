"""The typer application and what every subcommand shares: consoles and the one-line error."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from bakeoff.errors import BakeoffError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Fine-tune an encoder or prompt a small LLM? Run both on the same data and measure.",
)
console = Console()
err_console = Console(stderr=True)


def fail(exc: BakeoffError) -> NoReturn:
    """Print the error's one line and exit with its code (2: the user's input)."""
    err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def split_values(values: list[str] | None) -> list[str]:
    """``--task a,b --task c`` -> ``[a, b, c]``."""
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]
