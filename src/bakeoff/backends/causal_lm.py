"""Loading a causal LM and its tokenizer: hub id, local folder, or GGUF file.

transformers reads GGUF files by dequantising every tensor, which takes 15-35 s per load. The
dequantised model and tokenizer are therefore saved once as an ordinary folder under
``$BAKEOFF_CACHE`` (default ``~/.cache/bakeoff``, outside any virtual environment), keyed by the
SHA-256 of the GGUF file's bytes: the same model installed in two environments (two paths, same
bytes) shares one ~0.5 GB entry, and a changed file is never served stale. Hashing a file costs
about a second, so each file's hash is remembered in a small index keyed by its path, size and
modification time. ``bakeoff cache list|clear`` shows and removes entries.

The last loaded model is kept in memory: a grid that runs several tasks or methods on one model
loads it once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bakeoff.errors import BakeoffError
from bakeoff.models import ResolvedModel, resolve_model

CACHE_ENV = "BAKEOFF_CACHE"
#: written last into a cache folder, so a folder without it (an interrupted save) is never used;
#: its modification time is the entry's last use
_COMPLETE = "bakeoff-complete"
#: what an entry holds (the GGUF file it came from), for ``bakeoff cache list``
_ENTRY = "bakeoff-entry.json"
#: GGUF content hashes by (path, size, mtime), so each file is read in full only once
_INDEX = "gguf-index.json"
#: characters of the SHA-256 hex digest that name an entry (128 bits)
_KEY_CHARS = 32


@dataclass
class LoadedLM:
    """A causal LM ready for inference, with where it came from and what loading cost."""

    model: Any
    tokenizer: Any
    source: str
    load_time_s: float
    #: "gguf" (dequantised now), "gguf-cache" (our cached copy), "folder-or-hub", or "memory"
    origin: str


def cache_root() -> Path:
    """``$BAKEOFF_CACHE`` or ``~/.cache/bakeoff``."""
    chosen = os.environ.get(CACHE_ENV)
    return Path(chosen).expanduser() if chosen else Path.home() / ".cache" / "bakeoff"


def _read_index(index: Path) -> dict[str, Any]:
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temp file and a rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, remembered by (path, size, mtime) in the cache's index.

    The index only saves time: a file whose size or modification time changed is hashed again,
    and an unreadable or unwritable index just means hashing again next time.
    """
    path = path.resolve()
    stat = path.stat()
    index_path = cache_root() / _INDEX
    index = _read_index(index_path)
    known = index.get(str(path))
    if (
        isinstance(known, dict)
        and known.get("size") == stat.st_size
        and known.get("mtime_ns") == stat.st_mtime_ns
        and isinstance(known.get("sha256"), str)
    ):
        return known["sha256"]
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 23), b""):
            digest.update(block)
    sha = digest.hexdigest()
    # forget files that are gone, so the index stays small
    index = {k: v for k, v in index.items() if k != str(path) and Path(k).exists()}
    index[str(path)] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha}
    try:
        _write_atomic(index_path, json.dumps(index, indent=1, sort_keys=True))
    except OSError:
        pass
    return sha


def gguf_cache_dir(resolved: ResolvedModel) -> Path:
    """Cache folder of a GGUF file's dequantised copy, named by the hash of the file's bytes:
    two copies of one file (two environments) share it; a changed file gets a new one."""
    assert resolved.gguf_file is not None
    path = (Path(resolved.name_or_path) / resolved.gguf_file).resolve()
    return cache_root() / "gguf" / file_sha256(path)[:_KEY_CHARS]


def _torch_dtype(precision: str) -> Any:
    import torch

    return torch.bfloat16 if precision == "bf16" else torch.float32


def _load_error(name: str, exc: Exception) -> BakeoffError:
    text = str(exc).strip()
    first = text.splitlines()[0][:200] if text else type(exc).__name__
    return BakeoffError(
        f"cannot load causal LM '{name}' ({first}); check the id or path, connect to the "
        "Hugging Face hub, or use an offline alias (smollm2-135m, gemma3-270m)"
    )


def _from_pretrained(location: str, gguf_file: str | None, dtype: Any) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    extra = {"gguf_file": gguf_file} if gguf_file else {}
    tokenizer = AutoTokenizer.from_pretrained(location, **extra)
    model = AutoModelForCausalLM.from_pretrained(location, dtype=dtype, **extra)
    return model, tokenizer


def _save_gguf_copy(model: Any, tokenizer: Any, target: Path, source: Path | None = None) -> None:
    """Save a GGUF-loaded model as a plain folder; written to a temp folder, then renamed, so a
    concurrent or interrupted save never leaves a half-written cache entry."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        # save_pretrained refuses a model that still looks quantised; the weights are already
        # dequantised, so dropping the quantizer markers is exact.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if source is not None:
            (tmp / _ENTRY).write_text(
                json.dumps(
                    {
                        "source": source.name,
                        "source_path": str(source),
                        "source_bytes": source.stat().st_size,
                        "created_at": time.time(),
                    },
                    indent=1,
                ),
                encoding="utf-8",
            )
        (tmp / _COMPLETE).write_text("ok\n", encoding="utf-8")
        try:
            tmp.rename(target)
        except OSError:  # another process finished first; its copy is as good as ours
            shutil.rmtree(tmp, ignore_errors=True)
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _load_gguf(resolved: ResolvedModel, dtype: Any) -> tuple[Any, Any, str]:
    cached = gguf_cache_dir(resolved)
    if (cached / _COMPLETE).is_file():
        model, tokenizer = _from_pretrained(str(cached), None, dtype)
        try:
            os.utime(cached / _COMPLETE)  # last use, for `bakeoff cache clear --older-than`
        except OSError:
            pass
        return model, tokenizer, "gguf-cache"
    import torch

    # Dequantise in fp32 so the cached copy serves every precision exactly.
    model, tokenizer = _from_pretrained(resolved.name_or_path, resolved.gguf_file, torch.float32)
    try:
        source = (Path(resolved.name_or_path) / str(resolved.gguf_file)).resolve()
        _save_gguf_copy(model, tokenizer, cached, source)
    except OSError:
        pass  # an unwritable cache only costs speed next time
    return model.to(dtype), tokenizer, "gguf"


def _prepare_tokenizer(tokenizer: Any) -> Any:
    """Left padding (prompts end where scoring starts) and a pad token where the model has none."""
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


_LAST: dict[tuple[str, str, str], LoadedLM] = {}


def load_causal_lm(name: str, device: str, precision: str) -> LoadedLM:
    """Load ``name`` (alias, hub id, folder or ``.gguf`` path) in eval mode on ``device``.

    ``precision`` is 'bf16' or 'fp32'. Problems (no hub, bad id, not a causal LM) raise a one-line
    :class:`BakeoffError`.
    """
    key = (name, device, precision)
    if key in _LAST:
        hit = _LAST[key]
        return LoadedLM(hit.model, hit.tokenizer, hit.source, 0.0, "memory")
    resolved = resolve_model(name)
    dtype = _torch_dtype(precision)
    from transformers.utils import logging as hf_logging

    start = time.perf_counter()
    hf_logging.disable_progress_bar()
    try:
        if resolved.gguf_file:
            model, tokenizer, origin = _load_gguf(resolved, dtype)
        else:
            model, tokenizer = _from_pretrained(resolved.name_or_path, None, dtype)
            origin = "folder-or-hub"
    except BakeoffError:
        raise
    except (
        Exception
    ) as exc:  # from_pretrained raises OSError, ValueError, KeyError... for bad input
        raise _load_error(name, exc) from None
    finally:
        hf_logging.enable_progress_bar()
    model = model.to(device).eval()
    loaded = LoadedLM(
        model, _prepare_tokenizer(tokenizer), resolved.display, time.perf_counter() - start, origin
    )
    _LAST.clear()  # keep one model: a grid reuses it, and memory stays bounded
    _LAST[key] = loaded
    return loaded


def release_cached(keep: str | None = None) -> bool:
    """Forget the model kept in memory unless it is ``keep`` (a name as given to
    :func:`load_causal_lm`); returns whether one was dropped."""
    dropped = [key for key in _LAST if key[0] != keep]
    for key in dropped:
        del _LAST[key]
    return bool(dropped)


# -- what the cache holds (``bakeoff cache list|clear``) ----------------------------------------

#: an entry without its completion marker younger than this may still be being written
_SAVE_GRACE_S = 3600.0


@dataclass
class CacheEntry:
    """One folder of the GGUF cache and what it holds."""

    path: Path
    #: "ready" (used by loads), "stale" (written by an older bakeoff under another key, never
    #: used again) or "incomplete" (an interrupted or ongoing save)
    state: str
    #: the GGUF file's name it was made from, where known
    source: str | None
    size_bytes: int
    #: last load from it (or when it was written), seconds since the epoch
    last_used: float


def _folder_bytes(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += (Path(root) / name).lstat().st_size
            except OSError:
                pass
    return total


def cache_entries() -> list[CacheEntry]:
    """Every folder in the GGUF cache, newest use first."""
    folder = cache_root() / "gguf"
    if not folder.is_dir():
        return []
    entries = []
    for path in folder.iterdir():
        if not path.is_dir():
            continue
        marker = path / _COMPLETE
        source = None
        try:
            meta = json.loads((path / _ENTRY).read_text(encoding="utf-8"))
            source = str(meta.get("source")) if isinstance(meta, dict) else None
        except (OSError, ValueError):
            pass
        if not marker.is_file():
            state = "incomplete"
        elif len(path.name) == _KEY_CHARS and all(c in "0123456789abcdef" for c in path.name):
            state = "ready"
        else:
            state = "stale"
            source = source or path.name.rsplit("-", 1)[0] + ".gguf"
        try:
            used = (marker if marker.is_file() else path).stat().st_mtime
        except OSError:
            used = 0.0
        entries.append(CacheEntry(path, state, source, _folder_bytes(path), used))
    return sorted(entries, key=lambda e: -e.last_used)


def clear_cache(older_than_s: float | None = None, now: float | None = None) -> list[CacheEntry]:
    """Remove cache entries (all, or those unused for ``older_than_s`` seconds); returns them.

    An incomplete entry is left alone for an hour, as another process may be writing it.
    Entries are regenerated on the next load of their model, so nothing is lost but time.
    """
    now = time.time() if now is None else now
    removed = []
    for entry in cache_entries():
        age = now - entry.last_used
        if older_than_s is not None and age < older_than_s:
            continue
        if entry.state == "incomplete" and age < _SAVE_GRACE_S:
            continue
        try:
            shutil.rmtree(entry.path)
        except OSError as exc:
            raise BakeoffError(
                f"cannot remove cache entry {entry.path} ({exc.strerror}); check its "
                f"permissions or remove it by hand"
            ) from None
        removed.append(entry)
    return removed
