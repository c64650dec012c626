"""The typer application and what every subcommand shares: consoles, the one-line error, and
the habits users bring from other CLIs (``--version``, ``-h``, shell completion).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional

import typer
from rich.console import Console
from typer.core import TyperGroup

from bakeoff.errors import BakeoffError
from bakeoff.printable import markup


def _plain_flags(command: Any, ctx: Any) -> None:
    """A flag takes no value, so its help shows no type: typer would print ``<bool>`` beside
    ``--help``, ``--force`` and every on/off switch, which reads like a value to type."""
    for param in getattr(command, "params", []):
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    get_help = getattr(command, "get_help_option", None)
    option = get_help(ctx) if get_help is not None else None
    if option is not None and option.metavar is None:
        option.metavar = ""


class BakeoffGroup(TyperGroup):
    """typer's group, with flags shown without a type in every command's help."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _plain_flags(command, ctx)
        return command

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None and option.metavar is None:
            option.metavar = ""
        return option

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _plain_flags(self, ctx)
        super().format_help(ctx, formatter)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Click's own usage errors (an unknown option, ``--seed abc``, a missing argument) as one
        line like every other bad input, not typer's framed box: ``error: <what>; see <cmd> -h``,
        exit code 2."""
        if not kwargs.get("standalone_mode", True):
            return super().main(*args, **kwargs)
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except typer.Abort:
            err_console.print("aborted", highlight=False)
            sys.exit(1)
        except typer.TyperException as exc:
            # typer's own click: usage errors (exit 2) and other click errors carry a message
            format_message = getattr(exc, "format_message", None)
            if format_message is None:
                raise
            status = int(getattr(exc, "exit_code", 1))
            ctx = getattr(exc, "ctx", None)
            where = ctx.command_path if ctx is not None else "bakeoff"
            message = " ".join(str(format_message()).split()).rstrip(".")
            err_console.print(
                f"[bold red]error:[/] {markup(message)}"
                + (f"; see `{where} -h`" if status == 2 else ""),
                highlight=False,
                soft_wrap=True,
            )
            sys.exit(status)
        sys.exit(code if isinstance(code, int) else 0)


#: ``-h`` as well as ``--help``, in every subcommand (their contexts inherit it)
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    cls=BakeoffGroup,
    add_completion=True,
    no_args_is_help=True,
    context_settings=CONTEXT_SETTINGS,
    help="Fine-tune an encoder or prompt a small LLM? Run both on the same data and measure.",
)
#: emoji codes off: a label such as ``:smile:`` is printed as written, never as a picture
console = Console(emoji=False)
err_console = Console(stderr=True, emoji=False)


def version_line() -> str:
    """'bakeoff 0.1.0 (Python 3.11.9, torch 2.13.0, transformers 5.24.0)', read from package
    metadata without importing torch, so ``--version`` answers at once."""
    import platform
    from importlib import metadata

    from bakeoff import __version__

    try:
        version = metadata.version("bakeoff")
    except metadata.PackageNotFoundError:  # running from a source tree
        version = __version__
    parts = [f"Python {platform.python_version()}"]
    for name in ("torch", "transformers"):
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name} not installed")
    return f"bakeoff {version} ({', '.join(parts)})"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(version_line())
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=_show_version,
            is_eager=True,
            help="Show bakeoff's version (and Python's, torch's, transformers') and exit.",
        ),
    ] = False,
) -> None:
    """Fine-tune an encoder or prompt a small LLM? Run both on the same data and measure."""


def fail(exc: BakeoffError) -> NoReturn:
    """Print the error's one line and exit with its code (2: the user's input)."""
    err_console.print(f"[bold red]error:[/] {markup(exc)}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def split_values(values: list[str] | None) -> list[str]:
    """``--task a,b --task c`` -> ``[a, b, c]``."""
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def split_chosen(values: list[str] | None, flag: str, hint: str) -> list[str] | None:
    """:func:`split_values` for a flag that narrows a selection (``--experiment``, ``--task``):
    None when it was not given, and a blank value refused rather than dropped, since an empty
    selection would silently mean everything (``samples -e ''`` exported every experiment)."""
    if values is None:
        return None
    for item in values:
        if any(not v.strip() for v in item.split(",")):
            raise BakeoffError(f"{flag} {item!r}: an empty value; {hint}")
    return split_values(values)


def custom_task_from_flags(o: dict[str, Any], name: str) -> dict[str, Any]:
    """``--train-file``/``--eval-file`` and the column flags as a custom task's settings, the same
    for ``run`` and ``prompt`` (paths resolved here, since a grid may be read from elsewhere)."""
    return {
        "name": name,
        **{k: o[k] and str(Path(o[k]).expanduser().resolve()) for k in ("train_file", "eval_file")},
        "text_column": o["text_column"],
        "text_pair_column": o["text_pair_column"],
        "label_column": o["label_column"],
        "holdout_fraction": o["holdout"],
    }


#: the one refusal for an eval file given alone (``run`` and ``prompt``)
EVAL_FILE_ALONE = (
    "--eval-file needs --train-file too; give both, or only --train-file for a hold-out"
)


def db_option_default() -> str:
    """How every ``--db`` help shows its default, in typer's ``[default: ...]`` style."""
    return "$BAKEOFF_DB or ./bakeoff.db"


#: ``--db`` of the commands that read a store
DbOption = Annotated[
    Optional[Path],
    typer.Option("--db", help="Results store.", show_default=db_option_default()),
]
