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
    assert m.n == 8 and m.accuracy == pytest.approx(5 / 8)
    assert m.n_invalid == 1 and m.invalid_rate == pytest.approx(1 / 8)
    assert m.confusion_matrix == [[2, 1], [1, 3]]  # the invalid answer is in no column
    assert m.per_class["pos"].recall == pytest.approx(3 / 5)
    assert m.per_class["pos"].precision == pytest.approx(3 / 4)
    assert m.per_class["neg"].precision == pytest.approx(2 / 3)
    f1_neg = 2 * (2 / 3) * (2 / 3) / (4 / 3)
    f1_pos = 2 * 0.75 * 0.6 / 1.35
    assert m.macro_f1 == pytest.approx((f1_neg + f1_pos) / 2)
    assert m.accuracy_ci_low < 5 / 8 < m.accuracy_ci_high


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
        settings=FinetuneSettings(),
    )
    base.update(kw)
    return ExperimentConfig(**base)


def test_experiment_id_is_stable_and_covers_every_setting() -> None:
    assert _cfg().experiment_id() == _cfg().experiment_id()
    assert _cfg().experiment_id() != _cfg(seed=1).experiment_id()
    assert _cfg().experiment_id() != _cfg(settings=FinetuneSettings(epochs=1)).experiment_id()
    assert _cfg().experiment_id() != _cfg(data_fingerprint="abd").experiment_id()
    assert _cfg().experiment_id() != _cfg(batch_size=8).experiment_id()


def test_timing_only_settings_are_not_part_of_the_identity() -> None:
    """Re-timing (more latency samples) is not re-running: the id stays the same."""
    assert _cfg().experiment_id() == _cfg(latency_samples=5).experiment_id()
    assert _cfg(latency_samples=5).latency_samples == 5


def test_stored_config_round_trips_with_typed_settings() -> None:
    cfg = _cfg(settings=FinetuneSettings(epochs=2))
    back = ExperimentConfig.model_validate(cfg.model_dump(mode="json"))
    assert back == cfg and isinstance(back.settings, FinetuneSettings)
    assert back.experiment_id() == cfg.experiment_id()


def test_study_preset_and_explicit_settings() -> None:
    from bakeoff.config import make_grid

    grid = make_grid({"tasks": "sst2", "models": "minilm", "finetune": {"preset": "study"}})
    ft = grid.section("finetune")
    assert (ft.learning_rate, ft.batch_size, ft.epochs, ft.warmup_ratio) == (2e-5, 32, 3.0, 0.0)
    grid = make_grid(
        {"tasks": "sst2", "models": "minilm", "finetune": {"preset": "study", "epochs": 1}}
    )
    assert grid.section("finetune").epochs == 1 and grid.section("finetune").learning_rate == 2e-5


def test_grid_yaml_with_harness_style_keys(tmp_path: Path) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text(
        "tasks: sst2,rte\nmodels: [minilm]\nmethods: [finetune, few-shot]\n"
        "num_fewshot: 3\nlimit: 50\nfinetune: {epochs: 1}\n"
    )
    grid = load_grid_yaml(path, {"seed": 7})
    assert grid.tasks == ("sst2", "rte") and grid.section("prompt").k == 3 and grid.eval_limit == 50
    assert (
        grid.section("finetune").epochs == 1
        and grid.section("finetune").learning_rate == FinetuneSettings().learning_rate
        and grid.seed == 7
    )


def test_grid_yaml_errors_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text("tasks: sst2\nmodels: minilm\nmethods: [finetuning]\n")
    with pytest.raises(BakeoffError, match="unknown method 'finetuning'") as e:
        load_grid_yaml(path)
    assert "\n" not in str(e.value)
    path.write_text("tasks: [sst2\n")
    with pytest.raises(BakeoffError, match="not valid YAML"):
        load_grid_yaml(path)


def test_names_say_what_sets_experiments_apart() -> None:
    from bakeoff.config import PromptSettings
    from bakeoff.naming import experiment_names

    loglik = _cfg(method="zero-shot", settings=PromptSettings(k=0))
    gen = _cfg(method="zero-shot", settings=PromptSettings(k=0, scoring="generate"))
    words = _cfg(method="zero-shot", settings=PromptSettings(k=0, verbalizers=("bad", "good")))
    fp32 = _cfg(precision="fp32")
    names = experiment_names([("a", loglik), ("b", gen), ("c", words), ("d", _cfg()), ("e", fp32)])
    assert names["b"].startswith("minilm · zero-shot") and "generate" in names["b"]
    assert "answer words bad/good" in names["c"] and "answer words default" in names["a"]
    assert names["d"] == "minilm · finetune · auto" and names["e"] == "minilm · finetune · fp32"
    assert len(set(names.values())) == 5  # never two configurations under one name
    # a setting shared by every experiment shown is not repeated
    assert experiment_names([("x", fp32)]) == {"x": "minilm · finetune"}
