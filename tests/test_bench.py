"""The study's architectures rebuilt from configs, and the roof arithmetic used by benchmarks."""

from __future__ import annotations

import pytest

from bakeoff.bench import STUDY_ARCHITECTURES, non_embedding_params, roof, stretch
from bakeoff.data import Example


@pytest.mark.parametrize(
    ("arch", "total_millions"),
    # published sizes: BERT-base 110M, DeBERTa-v3-base 184M, Qwen2-0.5B 494M, Qwen2.5-1.5B 1.54B,
    # Gemma-2-2B 2.61B
    [
        ("bert-base", 110),
        ("deberta-v3-base", 184),
        ("qwen2-0.5b", 494),
        ("qwen2.5-1.5b", 1544),
        ("gemma-2-2b", 2614),
    ],
)
def test_architectures_match_published_sizes(arch: str, total_millions: int) -> None:
    import torch
    from transformers import AutoModel, AutoModelForCausalLM

    kind, make_config = STUDY_ARCHITECTURES[arch]
    with torch.device("meta"):  # count parameters without allocating them
        model = (AutoModel if kind == "encoder" else AutoModelForCausalLM).from_config(
            make_config()
        )
    total = sum(p.numel() for p in model.parameters())
    assert total / 1e6 == pytest.approx(total_millions, rel=0.02)
    assert 0 < non_embedding_params(model) < total


def test_roof_arithmetic() -> None:
    # 600 GFLOP/s, 10M params, 30 tokens: 600e9 / (2 * 10e6 * 30) = 1000 examples/s
    assert roof(600e9, 10_000_000, 30) == pytest.approx(1000.0)


def test_stretch_reaches_length() -> None:
    out = stretch([Example("a short one", 1)], 50)
    assert len(out[0].text.split()) >= 50 and out[0].label == 1


@pytest.mark.integration
def test_bench_cli_measures_both_kinds_with_a_length_sweep(tmp_path, data_dir) -> None:
    import json

    from typer.testing import CliRunner

    from bakeoff.cli import app

    out = tmp_path / "bench.json"
    args = ["bench", "--models", "bert-base,qwen2-0.5b", "--data-dir", str(data_dir)]
    args += ["--limit", "4", "--batch-size", "2", "--latency-samples", "2"]
    args += ["--max-length", "64", "--precision", "fp32", "--json", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "matmul rate" in result.output
    report = json.loads(out.read_text())
    rows = report["rows"]
    assert [(r["model"], r["max_length"]) for r in rows][0::2] == [
        ("bert-base", 128),
        ("qwen2-0.5b", 2048),
    ]
    assert all(r["throughput_per_s"] > 0 and r["precision"] == "fp32" for r in rows)
    for r in rows:
        assert r["roof_fraction"] == pytest.approx(r["throughput_per_s"] / r["roof_per_s"])
        assert r["mean_tokens"] <= r["max_length"]
    encoder_sweep, llm_sweep = rows[1], rows[3]
    assert encoder_sweep["max_length"] == 64 and encoder_sweep["mean_tokens"] == 64
    # the LLM's stretched prompts are longer than the plain ones (minus the cached prefix)
    assert llm_sweep["mean_tokens"] > rows[2]["mean_tokens"]
    assert report["rates"]["fp32"] > 0


def test_bench_cli_unknown_architecture_is_a_one_line_error() -> None:
    from typer.testing import CliRunner

    from bakeoff.cli import app

    result = CliRunner().invoke(app, ["bench", "--models", "gpt-9", "--limit", "2"])
    assert result.exit_code != 0
    assert "unknown architecture 'gpt-9'" in result.output
    assert len(result.output.strip().splitlines()) == 1
