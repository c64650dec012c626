"""``bakeoff cache list|clear``: the dequantised GGUF models kept under ``$BAKEOFF_CACHE``.

Entries are keyed by the GGUF file's content (see ``bakeoff.backends.causal_lm``), so every
virtual environment with the same model file shares one; clearing costs only the time to
dequantise again on the next load.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from bakeoff.cli.app import CONTEXT_SETTINGS, BakeoffGroup, app, console, fail
from bakeoff.errors import BakeoffError
from bakeoff.printable import markup

cache_app = typer.Typer(
    cls=BakeoffGroup,
    no_args_is_help=True,
    context_settings=CONTEXT_SETTINGS,
    help="List or clear the cache of dequantised GGUF models ($BAKEOFF_CACHE or ~/.cache/bakeoff).",
)
app.add_typer(cache_app, name="cache")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """'30d', '12h', '90m', '2w' or a plain number of days -> seconds."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([smhdw]?)\s*", text.lower())
    if not match:
        raise BakeoffError(
            f"--older-than {text}: expected an age like 30d, 12h, 90m or 2w (a plain number is "
            "days)"
        )
    return float(match.group(1)) * _UNITS[match.group(2) or "d"]


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def _ago(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 86400:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def checked_root() -> Path:
    """The cache folder, or one line saying why it cannot be one: ``$BAKEOFF_CACHE`` blank, a
    file where the cache or its ``gguf`` folder should be, or under a file. A cache that does
    not exist yet is fine (it is made on the first GGUF load)."""
    from bakeoff.backends.causal_lm import CACHE_ENV, cache_root

    chosen = os.environ.get(CACHE_ENV)
    if chosen and not chosen.strip():
        raise BakeoffError(
            f"${CACHE_ENV} is blank; set it to a folder, or unset it for ~/.cache/bakeoff"
        )
    root = cache_root()
    fix = f"point ${CACHE_ENV} at a folder (or unset it for ~/.cache/bakeoff)"
    try:
        for path in (root, root / "gguf"):
            if path.exists() and not path.is_dir():
                also = "" if path == root else "remove that file or "
                raise BakeoffError(f"the cache path {path} is a file, not a folder; {also}{fix}")
        parent = root.absolute()
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
    except OSError as exc:
        raise _unreadable(root, exc) from None
    if not parent.is_dir():
        raise BakeoffError(f"the cache path {root} is under {parent}, a file; {fix}")
    return root


def _unreadable(root: Path, exc: OSError) -> BakeoffError:
    return BakeoffError(
        f"cannot read the cache at {root} ({exc.strerror or exc}); check its permissions"
    )


@cache_app.command("list")
def list_cache() -> None:
    """Show each cached model: the GGUF file it came from, its size and when it was last used."""
    from bakeoff.backends.causal_lm import cache_entries

    try:
        root = checked_root()
        try:
            entries = cache_entries()
        except OSError as exc:
            raise _unreadable(root, exc) from None
    except BakeoffError as exc:
        fail(exc)
    if not entries:
        state = "is empty" if root.is_dir() else "does not exist yet (nothing cached)"
        console.print(f"The cache at {markup(root)} {state}.", highlight=False)
        return
    now = time.time()
    table = Table(title=f"bakeoff cache — {markup(root)}")
    for col in ("entry", "from", "size", "last used", "state"):
        table.add_column(col, justify="right" if col == "size" else "left")
    for e in entries:
        table.add_row(
            markup(e.path.name),
            markup(e.source or "?"),
            human_bytes(e.size_bytes),
            _ago(now - e.last_used),
            e.state,
        )
    console.print(table)
    total = sum(e.size_bytes for e in entries)
    line = f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, {human_bytes(total)}."
    if any(e.state == "stale" for e in entries):
        line += (
            " stale: written under an older key, never used again; `bakeoff cache clear` frees it."
        )
    console.print(line, highlight=False)


@cache_app.command("clear")
def clear(
    older_than: Annotated[
        Optional[str],
        typer.Option(
            "--older-than",
            help="Only entries unused for this long: 30d, 12h, 90m, 2w (a number is days).",
            show_default="every entry",
        ),
    ] = None,
) -> None:
    """Remove cached models (they are rebuilt from the GGUF file on the next load)."""
    from bakeoff.backends.causal_lm import clear_cache

    try:
        age = parse_age(older_than) if older_than is not None else None
        root = checked_root()
        try:
            removed = clear_cache(age)
        except OSError as exc:
            raise _unreadable(root, exc) from None
    except BakeoffError as exc:
        fail(exc)
    for e in removed:
        console.print(
            f"removed {markup(e.path.name)} ({markup(e.source or '?')}, "
            f"{human_bytes(e.size_bytes)})",
            highlight=False,
        )
    freed = sum(e.size_bytes for e in removed)
    console.print(
        f"Removed {len(removed)} entr{'y' if len(removed) == 1 else 'ies'} from "
        f"{markup(root)}, {human_bytes(freed)} freed.",
        highlight=False,
    )
