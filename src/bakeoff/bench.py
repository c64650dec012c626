"""Speed-only measurements on the study's architectures, built from configs with random weights.

Speed does not depend on the weights, so nothing needs downloading: the five architectures are
rebuilt from their published hyperparameters. Inputs are real task texts when a data folder is
available (else synthetic sentences), tokenised with a stand-in tokenizer where the real one is not
on the machine (the MiniLM tokenizer is BERT-base-uncased's vocabulary; the SmolLM2 tokenizer stands
in for the LLMs). Every figure uses the one timing protocol of ``timing.py``.

The roof is the speed the machine's measured matrix-multiply rate allows:
``rate / (2 x non-embedding parameters x tokens per example)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from bakeoff.data import Example


def _bert() -> Any:
    from transformers import BertConfig

    return BertConfig(
        vocab_size=30522,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=512,
    )


def _deberta() -> Any:
    from transformers import DebertaV2Config

    return DebertaV2Config(
        vocab_size=128100,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=512,
        relative_attention=True,
        position_buckets=256,
        norm_rel_ebd="layer_norm",
        share_att_key=True,
        pos_att_type=["p2c", "c2p"],
        position_biased_input=False,
        max_relative_positions=-1,
        type_vocab_size=0,
        layer_norm_eps=1e-7,
    )


def _qwen2_05b() -> Any:
    from transformers import Qwen2Config

    return Qwen2Config(
        vocab_size=151936,
        hidden_size=896,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        intermediate_size=4864,
        max_position_embeddings=32768,
        tie_word_embeddings=True,
        rope_theta=1e6,
    )


def _qwen25_15b() -> Any:
    from transformers import Qwen2Config

    return Qwen2Config(
        vocab_size=151936,
        hidden_size=1536,
        num_hidden_layers=28,
        num_attention_heads=12,
        num_key_value_heads=2,
        intermediate_size=8960,
        max_position_embeddings=32768,
        tie_word_embeddings=True,
        rope_theta=1e6,
    )


def _gemma2_2b() -> Any:
    from transformers import Gemma2Config

    return Gemma2Config(
        vocab_size=256000,
        hidden_size=2304,
        num_hidden_layers=26,
        num_attention_heads=8,
        num_key_value_heads=4,
        head_dim=256,
        intermediate_size=9216,
        max_position_embeddings=8192,
        sliding_window=4096,
    )


Kind = Literal["encoder", "causal"]

#: the study's five models: alias -> (kind, config factory)
STUDY_ARCHITECTURES: dict[str, tuple[Kind, Callable[[], Any]]] = {
    "bert-base": ("encoder", _bert),
    "deberta-v3-base": ("encoder", _deberta),
    "qwen2-0.5b": ("causal", _qwen2_05b),
    "qwen2.5-1.5b": ("causal", _qwen25_15b),
    "gemma-2-2b": ("causal", _gemma2_2b),
}


def matmul_rate(dtype: str = "bf16", n: int = 2048, repeats: int = 8, device: str = "cpu") -> float:
    """Measured FLOP/s of an n x n x n matrix product in ``dtype`` (the machine's practical peak)."""
    import torch

    from bakeoff.timing import synchronize

    tdtype = torch.bfloat16 if dtype == "bf16" else torch.float32
    a = torch.randn(n, n, dtype=tdtype, device=device)
    b = torch.randn(n, n, dtype=tdtype, device=device)
    for _ in range(2):
        a @ b
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return 2 * n**3 * repeats / (time.perf_counter() - start)


def non_embedding_params(model: Any) -> int:
    """Parameters doing matmul work per token: everything but input embeddings (and a tied head)."""
    total = sum(p.numel() for p in model.parameters())
    embedding_ids = {
        id(m.weight) for m in model.modules() if m.__class__.__name__.endswith("Embedding")
    }
    embedded = sum(p.numel() for p in model.parameters() if id(p) in embedding_ids)
    return total - embedded


def roof(flops_per_s: float, params: int, tokens_per_example: float) -> float:
    """Examples per second allowed by the matmul rate: rate / (2 x params x tokens)."""
    return flops_per_s / (2.0 * params * tokens_per_example)


@dataclass
class BenchRow:
    model: str
    kind: str
    what: str
    precision: str
    batch_size: int
    max_length: int
    mean_tokens: float
    throughput_per_s: float
    latency_median_ms: float
    roof_per_s: float
    roof_fraction: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mean_tokens(tokenizer: Any, examples: list[Example], max_length: int) -> float:
    lengths = [
        len(tokenizer(ex.text, ex.text_pair, truncation=True, max_length=max_length)["input_ids"])
        for ex in examples
    ]
    return sum(lengths) / len(lengths)


def stretch(examples: list[Example], tokens: int) -> list[Example]:
    """Examples long enough to fill ``tokens`` after truncation (for the max-length sweep)."""
    out = []
    for ex in examples:
        text = ex.text
        while len(text.split()) < tokens:
            text = f"{text} {ex.text}"
        out.append(Example(text=text, label=ex.label, text_pair=ex.text_pair))
    return out
