"""Is an MLflow tracking URI usable? Checked before MLflow touches it.

MLflow itself answers late and loudly: a server that refuses connections is retried with
back-off for about four minutes before anything is printed; a SQLite target that is not a
database, is read-only or cannot be created ends in a SQLAlchemy traceback; and a SQLite file of
something else (the results store itself, say) gets MLflow's tables written into it before
MLflow gives up. So :func:`check_target` looks first, in a second or two and without writing:
a server must accept a connection, and a SQLite file must be absent (in a folder that exists and
can be written) or an MLflow database that can be written.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from bakeoff.errors import BakeoffError

#: seconds to wait for a tracking server to accept a connection
CONNECT_TIMEOUT_S = 5.0
#: the first 16 bytes of every SQLite 3 database
_SQLITE_HEADER = b"SQLite format 3\x00"
#: a table every MLflow database has (its schema migrations)
_MLFLOW_TABLE = "alembic_version"


def check_target(uri: str, store_path: Path | None = None) -> None:
    """One :class:`BakeoffError` line if MLflow could not use ``uri``; nothing otherwise.

    ``store_path`` is the results store being exported: naming it as the target is refused.
    Other kinds of URI (databricks, a folder store, other databases) are left to MLflow.
    """
    scheme = uri.split(":", 1)[0].lower() if ":" in uri else ""
    if scheme in ("http", "https"):
        _check_server(uri)
    elif scheme == "sqlite":
        path = sqlite_path(uri)
        if path is not None:
            _check_sqlite(uri, path, store_path)


def sqlite_path(uri: str) -> Path | None:
    """The file of a ``sqlite:///relative.db`` or ``sqlite:////absolute.db`` URI; None for an
    in-memory database (``sqlite://``)."""
    rest = uri.split(":", 1)[1]
    if not rest.startswith("//"):
        raise BakeoffError(
            f"--tracking-uri {uri}: a SQLite URI is sqlite:///relative.db or "
            "sqlite:////absolute/path.db"
        )
    database = rest[2:].split("?", 1)[0]
    if database in ("", "/", "/:memory:") or not database.startswith("/"):
        return None  # in memory, or a form MLflow's own error will name
    # sqlite:///x.db -> "/x.db" relative; sqlite:////abs -> "//abs" absolute (SQLAlchemy's rule)
    return Path(database[1:]).expanduser()


def _check_sqlite(uri: str, path: Path, store_path: Path | None) -> None:
    where = f"--tracking-uri {uri}"
    fix = "give another file, e.g. --tracking-uri sqlite:///mlflow.db"
    if path.is_dir():
        raise BakeoffError(f"{where}: {path} is a folder; {fix}")
    if not path.exists():
        # MLflow creates the missing folders: the nearest one that exists must take them
        folder = path.parent.absolute()
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            raise BakeoffError(f"{where}: {folder} is a file, not a folder; {fix}")
        why = _cannot_write(folder)
        if why:
            raise BakeoffError(f"{where}: cannot create files in {folder} ({why}); {fix}")
        return
    if store_path is not None and store_path.exists() and _same(path, store_path):
        raise BakeoffError(f"{where}: that is the results store being exported; {fix}")
    try:
        with path.open("rb") as fh:
            header = fh.read(len(_SQLITE_HEADER))
    except OSError as exc:
        raise BakeoffError(f"{where}: cannot read {path} ({exc.strerror}); {fix}") from None
    if header and header != _SQLITE_HEADER:
        raise BakeoffError(f"{where}: {path} is not a SQLite database; {fix}")
    tables = _tables(uri, path, fix)
    if tables and _MLFLOW_TABLE not in tables:
        shown = ", ".join(sorted(tables)[:4]) + (", ..." if len(tables) > 4 else "")
        raise BakeoffError(
            f"{where}: {path} is a SQLite database of something else (tables {shown}), not "
            f"MLflow's; MLflow would add its tables to it; {fix}"
        )
    why = _cannot_write(path.parent.absolute(), path)
    if why:
        raise BakeoffError(
            f"{where}: {path} cannot be written ({why}; MLflow writes to it and to its folder); "
            f"make it writable or {fix}"
        )


def _cannot_write(folder: Path, file: Path | None = None) -> str | None:
    """Why ``file`` (opened for update, not changed) or a new file in ``folder`` (deleted at
    once) cannot be written, or None. Tried rather than asked of ``os.access``, which says yes to
    root on a read-only file system."""
    try:
        if file is not None:
            with file.open("r+b"):
                pass
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None


def _same(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def _tables(uri: str, path: Path, fix: str) -> set[str]:
    """The file's table names, read without writing (a read-only connection)."""
    try:
        # immutable: no -wal/-shm files are made beside it (a WAL store would get them)
        uri_ro = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
        con = sqlite3.connect(uri_ro, uri=True, timeout=5)
        try:
            rows = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise BakeoffError(
            f"--tracking-uri {uri}: {path} is not a usable SQLite database ({exc}); {fix}"
        ) from None
    return {str(name) for (name,) in rows}


def _check_server(uri: str) -> None:
    """The server's host must resolve and accept a TCP connection within a few seconds.

    Skipped where a proxy would carry the request (the proxy, not this machine, reaches the
    server), so a check never refuses a server MLflow could reach.
    """
    parts = urlsplit(uri)
    host = parts.hostname
    if not host:
        raise BakeoffError(f"--tracking-uri {uri}: no host name; e.g. http://localhost:5000")
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        raise BakeoffError(f"--tracking-uri {uri}: the port is not a number 0-65535") from None
    proxies = urllib.request.getproxies()
    if parts.scheme.lower() in proxies and not urllib.request.proxy_bypass(host):
        return
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except socket.gaierror:
        raise BakeoffError(
            f"cannot reach the MLflow tracking server at {uri}: no host named {host}; check "
            "--tracking-uri"
        ) from None
    except OSError as exc:
        why = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise BakeoffError(
            f"cannot reach the MLflow tracking server at {uri} ({why}); start it (mlflow "
            "server), or check --tracking-uri"
        ) from None


#: MLflow's HTTP settings for the first request, which only asks whether the server answers:
#: MLflow's own (7 retries with doubling back-off, 120 s each) would wait minutes on a port that
#: accepts connections but never answers. A value the user set is kept.
FIRST_REQUEST_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "8",
}


@contextmanager
def first_request() -> Iterator[None]:
    """MLflow's HTTP retries and timeout cut short while inside (see ``FIRST_REQUEST_ENV``);
    the environment is as it was afterwards, so the export itself keeps MLflow's patience."""
    added = [k for k in FIRST_REQUEST_ENV if k not in os.environ]
    for key in added:
        os.environ[key] = FIRST_REQUEST_ENV[key]
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


__all__ = ["CONNECT_TIMEOUT_S", "FIRST_REQUEST_ENV", "check_target", "first_request", "sqlite_path"]
