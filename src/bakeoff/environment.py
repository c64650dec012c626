"""What an experiment ran on: package versions and hardware, stored beside every result."""

from __future__ import annotations

import os
import platform
from functools import lru_cache
from importlib import metadata
from typing import Any

PACKAGES = ("bakeoff", "torch", "transformers", "datasets", "accelerate", "numpy", "gguf")


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def best_device(preference: str = "auto") -> str:
    """The torch device to run on: ``auto`` picks CUDA, then Apple's ``mps``, then the CPU; an
    explicit choice that this machine does not have is a one-line error."""
    import torch

    from bakeoff.errors import BakeoffError

    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps and mps.is_available())
    if preference == "auto":
        if torch.cuda.is_available():
            return "cuda:0"
        return "mps" if has_mps else "cpu"
    if preference.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BakeoffError(f"--device {preference}: no CUDA GPU here; use --device cpu or auto")
        index = int(preference.split(":")[1]) if ":" in preference else 0
        if index >= torch.cuda.device_count():
            raise BakeoffError(
                f"--device {preference}: this machine has {torch.cuda.device_count()} GPU(s); "
                "use cuda:0 or auto"
            )
        return f"cuda:{index}"
    if preference == "mps" and not has_mps:
        raise BakeoffError("--device mps: Apple's Metal backend is not available here; use auto")
    return preference


def bf16_supported(device: str) -> bool:
    """bf16 only where the hardware does it natively (CUDA Ampere+, CPUs with AMX/AVX512-BF16)."""
    import torch

    if device.startswith("cuda"):
        return bool(torch.cuda.is_bf16_supported())
    flags = cpu_flags()
    return bool({"amx_bf16", "avx512_bf16"} & flags)


def resolve_precision(precision: str, device: str) -> str:
    """'auto' -> 'bf16' where supported, else 'fp32'. An explicit choice is kept."""
    if precision == "auto":
        return "bf16" if bf16_supported(device) else "fp32"
    return precision


@lru_cache(maxsize=1)
def environment() -> dict[str, Any]:
    """Versions, device and processor names, for the store."""
    import torch

    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    device = best_device()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "device": device,
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else None,
        "bf16": bf16_supported(device),
    }
