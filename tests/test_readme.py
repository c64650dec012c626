"""The README is tested: every ``bakeoff`` command it shows parses with the real CLI.

Each command line in the README's shell blocks is split like a shell would and handed to the
typer/click parser of the subcommand it names; an unknown subcommand, flag or choice fails here,
so the README can never advertise a flag that the CLI does not accept.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
import typer

from bakeoff.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_commands() -> list[str]:
    """``bakeoff ...`` lines from the README's ```bash blocks (comments and continuations joined)."""
    text = README.read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```(?:bash|sh|console)\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].split(" | ", 1)[0].strip()
            if line.startswith("bakeoff "):
                commands.append(line)
    return commands


def test_readme_shows_bakeoff_commands() -> None:
    assert len(readme_commands()) >= 8


@pytest.mark.parametrize("line", readme_commands())
def test_every_readme_command_parses(line: str) -> None:
    group = typer.main.get_command(app)
    args = shlex.split(line)[1:]
    ctx = group.make_context("bakeoff", list(args), resilient_parsing=True)
    name = args[0]
    sub = group.get_command(ctx, name)  # type: ignore[attr-defined]
    assert sub is not None, f"README shows an unknown subcommand: {line}"
    try:
        sub.make_context(name, list(args[1:]))
    except click.exceptions.Exit:
        pass  # --help and friends
    except click.UsageError as exc:
        pytest.fail(f"README command does not parse: {line}: {exc.format_message()}")
