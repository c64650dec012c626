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
