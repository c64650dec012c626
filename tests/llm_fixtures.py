"""Shared helpers for the prompted-LLM tests: a real tokenizer and tiny random-weight causal LMs.

Plain cached functions rather than pytest fixtures, so test modules import them explicitly.
The tiny models have real architectures (Llama; Gemma-3 with a short sliding window) and the real
SmolLM2 tokenizer, so prompt rendering, tokenisation seams, caching and batching are exercised
exactly as with a real model, in milliseconds.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from bakeoff.data import Example, TaskData
from bakeoff.tasks import get_task

_TMP = Path(tempfile.mkdtemp(prefix="bakeoff-llm-tests-"))
atexit.register(shutil.rmtree, _TMP, True)

POSITIVE = [
    "a delight from start to finish",
    "warm, funny and wise",
    "i loved every minute of it",
    "a triumph of acting",
    "beautifully shot and moving",
    "smart and charming",
]
NEGATIVE = [
    "a tedious mess",
    "dull and lifeless",
    "i hated every minute of it",
    "a waste of talent",
    "clumsy and boring",
    "painfully slow",
]
EVAL_TEXTS = [
    ("an absolute joy", 1),
    ("the plot makes no sense at all", 0),
    ("one of the finest films of the decade", 1),
    ("so bad it hurts", 0),
    ("gorgeous, tender, unforgettable", 1),
    ("i wanted my money back", 0),
    ("a clever little thriller", 1),
    ("nothing works here", 0),
    ("sweet and funny", 1),
    ("a long, joyless slog through clichés", 0),
]


#: larger than the usual 0.02, so random models give peaked outputs and any error in positions,
#: masks or caching shows as a large change in log-likelihood, not a rounding-sized one
INIT_RANGE = 0.3


@lru_cache(maxsize=1)
def smollm2_tokenizer() -> Any:
    """SmolLM2's real tokenizer (with its chat template): from bakeoff's GGUF cache when there,
    otherwise read from the GGUF file (a few seconds) and saved for the next session."""
    from transformers import AutoTokenizer

    from bakeoff.backends.causal_lm import gguf_cache_dir
    from bakeoff.errors import BakeoffError
    from bakeoff.models import resolve_model

    try:
        resolved = resolve_model("smollm2-135m")
    except BakeoffError as exc:
        pytest.skip(f"smollm2-135m not installed: {exc}")
    cached = gguf_cache_dir(resolved)
    if (cached / "tokenizer.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(cached)
    else:
        tokenizer = AutoTokenizer.from_pretrained(
            resolved.name_or_path, gguf_file=resolved.gguf_file
        )
    tokenizer.padding_side = "left"
    return tokenizer


def _save_tiny(name: str, config: Any, model_class: Any) -> Path:
    from transformers import set_seed

    set_seed(0)
    folder = _TMP / name
    model = model_class(config)
    model.save_pretrained(folder)
    smollm2_tokenizer().save_pretrained(folder)
    return folder


@lru_cache(maxsize=1)
def tiny_llama_path() -> Path:
    """A 2-layer, 64-wide random Llama with SmolLM2's tokenizer, saved as a local folder."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = smollm2_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        initializer_range=INIT_RANGE,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    return _save_tiny("tiny-llama", config, LlamaForCausalLM)


@lru_cache(maxsize=1)
def tiny_gemma3_path() -> Path:
    """A 2-layer random Gemma-3 whose first layer uses an 8-token sliding window, so padding
    that shifted the window would change results on prompts of a few dozen tokens."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    tok = smollm2_tokenizer()
    config = Gemma3TextConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        sliding_window=8,
        layer_types=["sliding_attention", "full_attention"],
        max_position_embeddings=4096,
        initializer_range=INIT_RANGE,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    return _save_tiny("tiny-gemma3", config, Gemma3ForCausalLM)


def load_tiny(path: Path) -> Any:
    """A tiny model in fp32 eval mode."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, dtype="float32").eval()


def toy_sst2() -> TaskData:
    """SST-2-shaped data: 12 labelled train sentences, 10 eval sentences none of which is in
    train (so a prompt showing an eval sentence among its examples is detectable)."""
    train = [Example(t, 1) for t in POSITIVE] + [Example(t, 0) for t in NEGATIVE]
    eval_ = [Example(t, label) for t, label in EVAL_TEXTS]
    return TaskData(
        task=get_task("sst2"),
        train=train,
        eval=eval_,
        train_split="train",
        eval_split="validation",
        source="tests",
        fingerprint="toy",
    )


def naive_logliks(
    model: Any, context: tuple[int, ...], continuations: tuple[tuple[int, ...], ...]
) -> list[float]:
    """Reference log-likelihoods: plain forward passes over context + continuation, batch 1,
    no cache, no padding (one pass serves every single-token continuation)."""
    import torch

    def logprobs(ids: list[int]) -> Any:
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([ids])).logits[0].float()
        return torch.log_softmax(logits, dim=-1)

    start = len(context) - 1
    if all(len(c) == 1 for c in continuations):
        row = logprobs(list(context))[start]
        return [row[c[0]].item() for c in continuations]
    out = []
    for cont in continuations:
        lp = logprobs(list(context) + list(cont))
        out.append(sum(lp[start + j, tok].item() for j, tok in enumerate(cont)))
    return out
