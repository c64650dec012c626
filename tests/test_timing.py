"""The timing protocol's bookkeeping, with a stand-in classifier (no wall-clock assertions)."""

from __future__ import annotations

import json
import mmap
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

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


#: run in a fresh interpreter: late in a full suite this process holds the models and heap of
#: every earlier test, and the test once failed there (the freed 800 MB spike still counted in
#: the resident set when the evaluation's window opened), so what it measured was the suite
PEAK_SCRIPT = """
import json, mmap, resource, sys
sys.path[:0] = [sys.argv[1]]
from test_timing import EXAMPLES, Recording
from bakeoff.timing import timed_evaluation

# raise the process's lifetime peak well above anything the evaluation will use, then free it
# (fresh kernel pages, unmapped on close, so the resident set surely drops again)
with mmap.mmap(-1, 800 * 2**20) as spike:
    page = b"\\x01" * 2**20
    for offset in range(0, len(spike), len(page)):
        spike[offset : offset + len(page)] = page
lifetime_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
_, timing = timed_evaluation(Recording(batch_size=4, hold_mb=100), EXAMPLES)
_, idle = timed_evaluation(Recording(batch_size=4), EXAMPLES)
print(json.dumps([lifetime_mb, timing.memory_kind, timing.peak_memory_mb, idle.peak_memory_mb]))
"""


@pytest.mark.skipif(
    not os.access("/proc/self/clear_refs", os.W_OK), reason="needs Linux /proc/self/clear_refs"
)
def test_cpu_peak_memory_is_this_evaluation_not_the_process_lifetime() -> None:
    here = str(Path(__file__).parent)
    out = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, here], capture_output=True, text=True, check=True
    )
    lifetime_mb, kind, peak_mb, idle_mb = json.loads(out.stdout.strip().splitlines()[-1])
    assert kind == "process_peak_rss"
    assert peak_mb < lifetime_mb - 500  # the 800 MB spike before the evaluation is not counted
    assert peak_mb > idle_mb + 50  # the 100 MB held during it is
