"""Output folders and files that bakeoff may replace, and how it replaces them without losing any.

``bakeoff export`` and ``bakeoff report`` write where the user points them. The rule that keeps
a user's files safe is simple: a command writes into a path that does not exist yet (or an empty
folder), or replaces an output it wrote itself, and then deletes only what it wrote.

- **Marker.** Every folder a command writes carries ``bakeoff-output.json`` naming the command
  and listing every file it wrote. A folder without it, a marked folder holding files the marker
  does not list, the current folder, a folder above it, the results store's folder (or one above
  it) and anything inside the store's artifacts folder are refused with one line, even with
  ``--overwrite``. A single output file (a recipe, an ONNX graph) is replaced only when it is
  provably bakeoff's (the caller checks its content).
- **Staging and swap.** The new output is written whole into a hidden sibling
  ``.NAME.PID.tmp``; only then is the old folder renamed aside (``.NAME.PID.old``), the new one
  renamed into place, and the listed files of the old one deleted. A failure or kill before the
  swap leaves the old output whole; a kill in the middle leaves it aside, restored by the next run.
- **Leftovers.** Names carry the writer's process id, so the next run removes a leftover only
  when it matches the pattern for this very path *and* its writer is dead (:func:`sweep`).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from bakeoff import __version__
from bakeoff.errors import BakeoffError

#: the file that says a folder was written by bakeoff, by which command, and what it holds
MARKER = "bakeoff-output.json"


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (a leftover of a live writer must stay;
    a reused id only keeps a leftover longer, never deletes something in use)."""
    if pid <= 0:
        return True
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:  # it exists, owned by another user
        return True
    return True


def write_error(path: Path, exc: OSError, flag: str, what: str = "") -> BakeoffError:
    """One line for an OS refusal (read-only folder, full disk) while writing ``what`` (e.g.
    ``"report to "``) to ``path``."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    full = exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
    fix = f"free space or pass a different {flag}" if full else f"pass a writable {flag}"
    return BakeoffError(f"cannot write {what}{path} ({reason}); {fix}")


def _is_within(path: Path, other: Path) -> bool:
    return path == other or other in path.parents


def check_not_protected(path: Path, flag: str, protect: Iterable[Path | None] = ()) -> None:
    """Refuse the current folder, any folder above it, and each of ``protect`` (the results
    store, its artifacts folder, the artifact being exported): neither it, anything inside it,
    nor any folder above it may be an output that gets replaced."""
    resolved = path.resolve()
    cwd = Path.cwd().resolve()
    if cwd == resolved or _is_within(cwd, resolved):
        raise BakeoffError(
            f"{flag} {path} is the current folder or one above it; bakeoff writes its output "
            f"into a folder of its own: give a new one, e.g. {flag} {path / 'bakeoff-output'}"
        )
    for item in protect:
        if item is None:
            continue
        guarded = Path(item).resolve()
        if _is_within(resolved, guarded) or _is_within(guarded, resolved):
            raise BakeoffError(
                f"{flag} {path} would replace or hold {item}, which bakeoff needs; give a "
                "new folder outside it"
            )


def _listing(folder: Path) -> set[str]:
    """Every file under ``folder`` (relative, POSIX), the marker included."""
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir()}


class Marker(NamedTuple):
    """What a marker says: the command that wrote the folder and the files it wrote."""

    command: str
    files: list[str]


def read_marker(folder: Path) -> Marker | None:
    """The marker of a folder bakeoff wrote, or None when it has none (or a damaged one)."""
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        return None
    return Marker(str(data.get("command")), [str(f) for f in data["files"]])


def write_marker(folder: Path, command: str, files: Iterable[str]) -> None:
    """Write the marker listing ``files`` (written last, so a complete marker means a complete
    output)."""
    data = {
        "written_by": f"bakeoff {command}",
        "command": command,
        "bakeoff_version": __version__,
        "files": sorted(set(files) - {MARKER}),
    }
    (folder / MARKER).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def check_folder(
    path: Path,
    command: str,
    flag: str,
    *,
    overwrite: bool = True,
    protect: Iterable[Path | None] = (),
    legacy: Callable[[Path], list[str] | None] | None = None,
) -> bool:
    """Whether ``path`` may receive the output of ``command``; raises a one-line
    :class:`BakeoffError` when it may not. True when there is an older output to replace.

    ``legacy`` recognises an unmarked folder written by an older bakeoff (returns the files it
    holds, or None): such a folder is adopted by writing a marker for it, and then replaced.
    """
    check_not_protected(path, flag, protect)
    sweep(path)
    if path.is_symlink():
        raise BakeoffError(f"{flag} {path} is a symbolic link; give the real folder or a new path")
    if not path.exists():
        return False
    if not path.is_dir():
        raise BakeoffError(f"{flag} {path} is a file; give a folder (a new one, or one {command} "
                           "wrote)")  # fmt: skip
    try:
        if not any(path.iterdir()):
            return False
    except OSError as exc:
        raise write_error(path, exc, flag) from None
    marker = read_marker(path)
    if marker is None and legacy is not None:
        files = legacy(path)
        if files is not None:
            try:
                write_marker(path, command, files)
            except OSError as exc:
                raise write_error(path, exc, flag) from None
            marker = read_marker(path)
    if marker is None or marker.command != command:
        raise BakeoffError(
            f"{flag} {path} already exists and was not written by bakeoff {command} (it has no "
            f"{MARKER}); bakeoff never deletes files it did not write: give a new {flag}"
        )
    listed = set(marker.files)
    try:
        present = _listing(path)
    except OSError as exc:
        raise write_error(path, exc, flag) from None
    extra = sorted(present - listed - {MARKER})
    if extra:
        shown = ", ".join(extra[:3]) + (f" and {len(extra) - 3} more" if len(extra) > 3 else "")
        raise BakeoffError(
            f"{flag} {path} holds files bakeoff did not write ({shown}); move them out or give "
            f"a new {flag}"
        )
    if not overwrite:
        raise BakeoffError(f"{path} already exists; pass --overwrite or choose another path")
    return True


def staging_path(path: Path, kind: str = "tmp") -> Path:
    """The hidden sibling a run of this process stages ``path`` in (``.NAME.PID.tmp``), or sets
    an old output aside in (``kind="old"``); :func:`sweep` knows the pattern."""
    return path.with_name(f".{path.name}.{os.getpid()}.{kind}")


def remove_owned(folder: Path, files: Iterable[str]) -> None:
    """Delete ``files`` (relative to ``folder``) and the marker, then the folders left empty;
    anything else stays where it is."""
    for rel in [*files, MARKER]:
        target = folder / rel
        if _is_within(target.resolve(), folder.resolve()) and not target.is_dir():
            target.unlink(missing_ok=True)
    for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        try:
            sub.rmdir()
        except OSError:
            pass  # holds something bakeoff did not write: it stays
    try:
        folder.rmdir()
    except OSError:
        pass


def write_folder(
    path: Path,
    command: str,
    flag: str,
    build: Callable[[Path], object],
    *,
    replace: bool,
    what: str = "",
) -> None:
    """Build the output in a hidden sibling, mark it, then swap it in place of ``path`` (an old
    output is replaced only when ``replace``, i.e. :func:`check_folder` said it is ours)."""
    staging = staging_path(path, "tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
        write_marker(staging, command, [])  # marks the staging folder as ours from the start
        build(staging)
        write_marker(staging, command, _listing(staging))
        _swap(staging, path, replace)
    except OSError as exc:
        raise write_error(path, exc, flag, what) from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _swap(staging: Path, path: Path, replace: bool) -> None:
    aside = None
    if replace and path.exists():
        marker = read_marker(path)
        old_files = marker.files if marker else []
        aside = staging_path(path, "old")
        os.rename(path, aside)
    else:
        old_files = []
        if path.is_dir():  # an empty folder, checked by check_folder: nothing is lost
            path.rmdir()
    try:
        os.rename(staging, path)
    except OSError:
        if aside is not None:
            os.rename(aside, path)
        raise
    if aside is not None:
        remove_owned(aside, old_files)


def write_file(path: Path, flag: str, write: Callable[[Path], object]) -> None:
    """Write one output file through a hidden sibling and an atomic rename: the old file (which
    the caller has checked is bakeoff's) stays whole until the new one is complete."""
    tmp = staging_path(path, "tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise write_error(path, exc, flag) from None
    finally:
        tmp.unlink(missing_ok=True)


def check_file(
    path: Path,
    flag: str,
    ours: Callable[[Path], bool],
    what: str,
    *,
    overwrite: bool,
    protect: Iterable[Path | None] = (),
) -> None:
    """Whether one output file may be (re)written at ``path``: a new path, or a file ``ours``
    recognises as bakeoff's ``what``, with ``overwrite``."""
    check_not_protected(path, flag, protect)
    sweep(path)
    if path.is_dir():
        raise BakeoffError(f"{flag} {path} is a folder; give a file path for {what}")
    if not path.exists():
        return
    if path.is_symlink() or not ours(path):
        raise BakeoffError(
            f"{flag} {path} already exists and is not {what} written by bakeoff; bakeoff never "
            f"replaces files it did not write: give a new {flag}"
        )
    if not overwrite:
        raise BakeoffError(f"{path} already exists; pass --overwrite or choose another path")


_LEFTOVER = r"^\.{name}\.(?P<pid>\d+)\.(?P<kind>tmp|old)$"


def sweep(path: Path) -> list[Path]:
    """Clean what killed runs left beside ``path``: a staging copy (``.NAME.PID.tmp``) of a dead
    writer is deleted if it carries the marker (or is empty); an old output set aside
    (``.NAME.PID.old``) is put back when ``path`` is missing, else its listed files are deleted.
    Nothing else is touched; errors are ignored (the run goes on). Returns what it cleaned."""
    pattern = re.compile(_LEFTOVER.format(name=re.escape(path.name)))
    cleaned = []
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return []
    for entry in entries:
        match = pattern.match(entry.name)
        if not match or pid_alive(int(match["pid"])):
            continue
        try:
            if match["kind"] == "tmp":
                if entry.is_dir() and (entry / MARKER).is_file():
                    shutil.rmtree(entry)
                elif entry.is_dir():
                    entry.rmdir()  # only if empty: killed before the marker was written
                else:
                    entry.unlink()  # a one-file output's staging copy
            elif not path.exists() and not path.is_symlink():
                os.rename(entry, path)
            else:
                marker = read_marker(entry)
                if marker is not None:
                    remove_owned(entry, marker.files)
        except OSError:
            continue
        cleaned.append(entry)
    return cleaned


def only_files(folder: Path, allowed: Sequence[str]) -> list[str] | None:
    """The files of ``folder`` when each matches one of the ``allowed`` glob patterns (relative
    POSIX paths), else None: how an unmarked output of an older bakeoff is recognised."""
    files = sorted(_listing(folder))
    if all(any(Path(f).match(p) and f.count("/") == p.count("/") for p in allowed) for f in files):
        return files
    return None


__all__ = [
    "MARKER",
    "Marker",
    "check_file",
    "check_folder",
    "check_not_protected",
    "only_files",
    "pid_alive",
    "read_marker",
    "staging_path",
    "remove_owned",
    "sweep",
    "write_error",
    "write_file",
    "write_folder",
    "write_marker",
]
