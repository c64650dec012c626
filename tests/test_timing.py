"""The timing protocol's bookkeeping, with a stand-in classifier (no wall-clock assertions)."""

from __future__ import annotations

import mmap
import os
import resource
from collections.abc import Sequence

import numpy as np
import pytest

from bakeoff.classifier import Advance, Predictions
from bakeoff.data import Example
from bakeoff.timing import timed_evaluation


class Recording:
    """Predicts label 0 and records the batch of every call; optionally holds memory meanwhile."""

    device = "cpu"
    label_names = ("a", "b")

    def __init__(self, batch_size: int = 4, hold_mb: int = 0) -> None:
        self.batch_size = batch_size
        self.hold_mb = hold_mb
        self.calls: list[tuple[int, int | None]] = []

    def predict(
        self,
        examples: Sequence[Example],
        batch_size: int | None = None,
        advance: Advance | None = None,
    ) -> Predictions:
        self.calls.append((len(examples), batch_size))
        if self.hold_mb and len(examples) > 1:
            # fresh pages straight from the kernel, touched so they are resident: a heap allocation
            # may reuse memory an earlier test freed but the allocator kept, which RSS never sees
            with mmap.mmap(-1, self.hold_mb * 2**20) as block:
                block.write(b"\x01" * len(block))
        return Predictions([0] * len(examples), [[1.0, 0.0]] * len(examples))


EXAMPLES = [Example(f"text {i}", i % 2) for i in range(20)]


def test_warm_up_then_the_split_then_batch_one_latency_samples() -> None:
    clf = Recording(batch_size=4)
    preds, timing = timed_evaluation(clf, EXAMPLES, latency_samples=6)
    assert clf.calls[0] == (4, 4)  # one untimed warm-up batch
    assert clf.calls[1] == (20, 4)  # the whole split, at the run's batch size
    assert clf.calls[2:] == [(1, 1)] * 6  # latency: single examples at batch size 1
    assert timing.n_examples == 20 and timing.batch_size == 4 and timing.latency_n == 6
    assert timing.throughput_per_s == pytest.approx(20 / timing.total_s)
    assert timing.latency_median_ms <= timing.latency_p95_ms
    assert len(preds.labels) == 20


def test_latency_sample_is_capped_by_the_split() -> None:
    clf = Recording(batch_size=8)
    _, timing = timed_evaluation(clf, EXAMPLES[:3], latency_samples=64)
    assert timing.latency_n == 3


@pytest.mark.skipif(
    not os.access("/proc/self/clear_refs", os.W_OK), reason="needs Linux /proc/self/clear_refs"
)
def test_cpu_peak_memory_is_this_evaluation_not_the_process_lifetime() -> None:
    # raise the process's lifetime peak well above anything the evaluation will use, then free it
    spike = np.ones(800 * 2**20, dtype=np.uint8)
    assert spike.sum() > 0
    del spike
    lifetime_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    _, timing = timed_evaluation(Recording(batch_size=4, hold_mb=100), EXAMPLES)
    assert timing.memory_kind == "process_peak_rss"
    assert timing.peak_memory_mb < lifetime_mb - 500
    _, idle = timed_evaluation(Recording(batch_size=4), EXAMPLES)
    assert timing.peak_memory_mb > idle.peak_memory_mb + 50  # the 100 MB held shows
