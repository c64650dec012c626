"""The README and the documentation site are tested: every ``bakeoff`` command they show parses
with the real CLI, and the site builds with ``mkdocs build --strict``.

Each command line in the shell blocks of README.md and docs/*.md is split like a shell would and handed to the
typer/click parser of the subcommand it names; an unknown subcommand, flag or choice fails here,
so the README can never advertise a flag that the CLI does not accept.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import click
import pytest
import typer

from bakeoff.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))


def readme_commands() -> list[str]:
    """``bakeoff ...`` lines from the ```bash blocks of the README and every docs page (comments
    and continuations joined)."""
    commands = []
    for page in [README, *DOCS]:
        commands.extend(_commands(page.read_text(encoding="utf-8")))
    return commands


def _commands(text: str) -> list[str]:
    commands = []
    for block in re.findall(r"```(?:bash|sh|console)\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].split(" | ", 1)[0].strip()
            if line.startswith("bakeoff "):
                commands.append(line)
    return commands


def test_readme_shows_bakeoff_commands() -> None:
    assert len(_commands(README.read_text(encoding="utf-8"))) >= 5
    assert len(readme_commands()) >= 30


def test_docs_site_builds_strict(tmp_path: Path) -> None:
    """Every page is in the nav, every link resolves: ``mkdocs build --strict`` turns warnings
    into errors, so a broken link or an orphan page fails here (and in ``make lint``)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "site" / "index.html").is_file()


def test_readme_links_every_docs_page() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [p.name for p in DOCS if p.name != "index.md" and f"(docs/{p.name})" not in text]
    assert not missing, f"README does not link {missing}"


@pytest.mark.parametrize("line", readme_commands())
def test_every_readme_command_parses(line: str) -> None:
    group = typer.main.get_command(app)
    args = shlex.split(line)[1:]
    if args[0] in ("--help", "-h", "--version"):
        from typer.testing import CliRunner

        assert CliRunner().invoke(app, args).exit_code == 0
        return
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
