"""The real shipped encoder (minilm) fine-tuned on real data, with small limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from bakeoff.config import make_grid
from bakeoff.runner import LocalExecutor, plan
from bakeoff.store import ResultsStore

pytestmark = pytest.mark.integration


def test_minilm_finetunes_on_sst2_and_beats_chance(
    tmp_path: Path, data_dir: Path, minilm_path: Path
) -> None:
    grid = make_grid(
        dict(
            tasks=["sst2"],
            models=["minilm"],
            methods=["finetune"],
            data_dir=str(data_dir),
            train_limit=512,
            eval_limit=128,
            latency_samples=8,
            finetune={"epochs": 2, "learning_rate": 1e-4},
        )
    )
    store = ResultsStore(tmp_path / "b.db")
    [outcome] = LocalExecutor().run(plan(grid), store)
    assert outcome.status == "done", outcome.error
    rec = store.experiments()[0]
    assert rec.training.model_path == str(minilm_path)
    # 128 balanced examples: chance is 50%; a trained sentiment head is far above it
    assert rec.metrics.accuracy_ci_low > 0.5, rec.metrics
    assert rec.metrics.n == 128 and sum(map(sum, rec.metrics.confusion_matrix)) == 128
