"""Metrics against hand-computed values; experiment ids; grid YAML."""

from __future__ import annotations

from pathlib import Path

import pytest

from bakeoff.classifier import INVALID
from bakeoff.config import ExperimentConfig, FinetuneSettings, load_grid_yaml
from bakeoff.errors import BakeoffError
from bakeoff.metrics import accuracy_interval, compute_metrics


def test_metrics_hand_computed() -> None:
    gold = [0, 0, 0, 1, 1, 1, 1, 1]
    pred = [0, 0, 1, 1, 1, 1, 0, INVALID]
    m = compute_metrics(gold, pred, ["neg", "pos"])
    assert m["n"] == 8 and m["accuracy"] == pytest.approx(5 / 8)
    assert m["n_invalid"] == 1 and m["invalid_rate"] == pytest.approx(1 / 8)
    assert m["confusion_matrix"] == [[2, 1], [1, 3]]  # the invalid answer is in no column
    assert m["per_class"]["pos"]["recall"] == pytest.approx(3 / 5)
    assert m["per_class"]["pos"]["precision"] == pytest.approx(3 / 4)
    assert m["per_class"]["neg"]["precision"] == pytest.approx(2 / 3)
    f1_neg = 2 * (2 / 3) * (2 / 3) / (4 / 3)
    f1_pos = 2 * 0.75 * 0.6 / 1.35
    assert m["macro_f1"] == pytest.approx((f1_neg + f1_pos) / 2)
    assert m["accuracy_ci_low"] < 5 / 8 < m["accuracy_ci_high"]


def test_wilson_interval_known_value() -> None:
    # RTE-sized: 277 rows at 80% -> about +-4.7 points (Wilson)
    low, high = accuracy_interval(222, 277)
    assert low == pytest.approx(0.7503, abs=1e-3) and high == pytest.approx(0.8432, abs=1e-3)
    assert accuracy_interval(10, 10)[1] == pytest.approx(1.0)


def _cfg(**kw) -> ExperimentConfig:
    base = dict(
        task="rte",
        data_fingerprint="abc",
        eval_split="validation",
        model="minilm",
        method="finetune",
        finetune=FinetuneSettings(),
    )
    base.update(kw)
    return ExperimentConfig(**base)


def test_experiment_id_is_stable_and_covers_every_setting() -> None:
    assert _cfg().experiment_id() == _cfg().experiment_id()
    assert _cfg().experiment_id() != _cfg(seed=1).experiment_id()
    assert _cfg().experiment_id() != _cfg(finetune=FinetuneSettings(epochs=1)).experiment_id()
    assert _cfg().experiment_id() != _cfg(data_fingerprint="abd").experiment_id()


def test_grid_yaml_with_harness_style_keys(tmp_path: Path) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text(
        "tasks: sst2,rte\nmodels: [minilm]\nmethods: [finetune, few-shot]\n"
        "num_fewshot: 3\nlimit: 50\nfinetune: {epochs: 1}\n"
    )
    grid = load_grid_yaml(path, {"seed": 7})
    assert grid.tasks == ("sst2", "rte") and grid.prompt.k == 3 and grid.eval_limit == 50
    assert grid.finetune.epochs == 1 and grid.finetune.learning_rate == 2e-5 and grid.seed == 7


def test_grid_yaml_errors_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text("tasks: sst2\nmodels: minilm\nmethods: [finetuning]\n")
    with pytest.raises(BakeoffError, match="methods") as e:
        load_grid_yaml(path)
    assert "\n" not in str(e.value)
    path.write_text("tasks: [sst2\n")
    with pytest.raises(BakeoffError, match="not valid YAML"):
        load_grid_yaml(path)


def test_method_label_separates_variants() -> None:
    from bakeoff.config import PromptSettings, method_label

    loglik = _cfg(method="zero-shot", finetune=None, prompt=PromptSettings(k=0)).model_dump(
        mode="json"
    )
    gen = _cfg(
        method="zero-shot", finetune=None, prompt=PromptSettings(k=0, scoring="generate")
    ).model_dump(mode="json")
    assert method_label(loglik) == "zero-shot" and method_label(gen) == "zero-shot, generate"
    assert method_label(_cfg(precision="fp32").model_dump(mode="json")) == "finetune, fp32"
