"""Loading a causal LM and its tokenizer: hub id, local folder, or GGUF file.

transformers reads GGUF files by dequantising every tensor, which takes 15-35 s per load. The
dequantised model and tokenizer are therefore saved once as an ordinary folder under
``$BAKEOFF_CACHE`` (default ``~/.cache/bakeoff``), keyed by the GGUF file's path, size and
modification time, so a changed file is never served stale and later loads take seconds.

The last loaded model is kept in memory: a grid that runs several tasks or methods on one model
loads it once.
"""

from __future__ import annotations

import hashlib
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
#: written last into a cache folder, so a folder without it (an interrupted save) is never used
_COMPLETE = "bakeoff-complete"


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


def gguf_cache_dir(resolved: ResolvedModel) -> Path:
    """Cache folder of a GGUF file's dequantised copy; the key changes when the file changes."""
    assert resolved.gguf_file is not None
    path = (Path(resolved.name_or_path) / resolved.gguf_file).resolve()
    stat = path.stat()
    key = hashlib.sha256(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return cache_root() / "gguf" / f"{path.stem}-{key}"


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


def _save_gguf_copy(model: Any, tokenizer: Any, target: Path) -> None:
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
        return model, tokenizer, "gguf-cache"
    import torch

    # Dequantise in fp32 so the cached copy serves every precision exactly.
    model, tokenizer = _from_pretrained(resolved.name_or_path, resolved.gguf_file, torch.float32)
    try:
        _save_gguf_copy(model, tokenizer, cached)
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
