"""The one timing protocol, used for every method (encoders and LLMs alike).

- Model loading and warm-up are excluded: one untimed warm-up batch runs first.
- Building inputs, tokenising, the forward pass and the label decision are included: the clock
  wraps ``Classifier.predict``, which starts from raw :class:`Example` objects.
- The device is synchronised before any clock is read (CUDA kernels run asynchronously).
- Throughput = examples per second over the whole evaluated split at the run's batch size.
- Latency = per-example time at batch size 1, median and p95 over a seeded sample
  (``latency_samples``, 64 by default) of the evaluated examples.
- Peak memory: GPU memory allocated on CUDA; on the CPU the process's peak resident memory
  during the evaluation (the high-water mark is reset first, so a model loaded earlier in the
  same process does not count; where it cannot be reset the lifetime peak is stored, marked so).
"""

from __future__ import annotations

import os
import random
import resource
import sys
import time
from collections.abc import Sequence

import numpy as np

from bakeoff.classifier import Advance, Classifier, Predictions, Progress
from bakeoff.data import Example
from bakeoff.records import Timing


def synchronize(device: str) -> None:
    """Wait for queued device work so that a clock read means 'finished'."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)
    elif device == "mps":
        import torch

        torch.mps.synchronize()


def _reset_peak(device: str) -> bool:
    """Start a fresh peak-memory window; False where the platform cannot (then the CPU figure is
    the process's lifetime peak, which includes every model loaded before in this process)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats(device)
        return True
    try:  # Linux: writing 5 to clear_refs resets the resident-set high-water mark (VmHWM)
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _vm_hwm_mb() -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def _peak_memory_mb(device: str, window: bool) -> tuple[float, str]:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.max_memory_allocated(device) / 2**20, "gpu_max_allocated"
    hwm = _vm_hwm_mb() if window else None
    if hwm is not None:
        return hwm, "process_peak_rss"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes
    mb = peak / 2**20 if sys.platform == "darwin" else peak / 1024
    return mb, "process_lifetime_peak_rss"


def machine_load() -> float | None:
    """The 1-minute load average (runnable processes, this one included); None where the
    platform has none (Windows)."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def timed_evaluation(
    classifier: Classifier,
    examples: Sequence[Example],
    batch_size: int | None = None,
    latency_samples: int = 64,
    seed: int = 99,
    advance: Advance | None = None,
    latency_advance: Advance | None = None,
    progress: Progress | None = None,
    what: str = "examples",
) -> tuple[Predictions, Timing]:
    """Predict every example under the protocol above; return predictions and their timing.

    With ``progress``, each phase (warm-up, the timed split, the latency samples) is a stage of
    its own, opened when it starts.
    """
    device = classifier.device
    bs = batch_size or classifier.batch_size
    n_latency = min(latency_samples, len(examples))
    if progress is not None:
        progress.stage("warm-up batch (untimed)", None)
    # warm-up (untimed): one batch, so lazy initialisation and kernel selection are not billed
    classifier.predict(list(examples[: min(bs, len(examples))]), batch_size=bs)
    if progress is not None:
        advance = progress.stage(f"evaluating on {len(examples)} {what}", len(examples))
    window = _reset_peak(device)

    synchronize(device)
    start = time.perf_counter()
    predictions = classifier.predict(examples, batch_size=bs, advance=advance)
    synchronize(device)
    total = time.perf_counter() - start
    load = machine_load()

    rng = random.Random(seed)
    sample = rng.sample(range(len(examples)), n_latency)
    if progress is not None:
        latency_advance = progress.stage("latency at batch size 1", n_latency)
    latencies = []
    for i in sample:
        synchronize(device)
        t0 = time.perf_counter()
        classifier.predict([examples[i]], batch_size=1)
        synchronize(device)
        latencies.append(time.perf_counter() - t0)
        if latency_advance:
            latency_advance(1)
    peak, kind = _peak_memory_mb(device, window)
    lat_ms = np.asarray(latencies) * 1000.0
    return predictions, Timing(
        n_examples=len(examples),
        batch_size=bs,
        total_s=total,
        throughput_per_s=len(examples) / total if total > 0 else float("inf"),
        latency_median_ms=float(np.median(lat_ms)) if lat_ms.size else 0.0,
        latency_p95_ms=float(np.percentile(lat_ms, 95)) if lat_ms.size else 0.0,
        latency_n=len(latencies),
        peak_memory_mb=peak,
        memory_kind=kind,
        device=device,
        load_avg=load,
        cpus=os.cpu_count(),
    )
