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
import warnings
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


#: DeBERTa-v3's own config keys, which DebertaV2Config reads from **kwargs (not in its signature)
DEBERTA_V3_KEYS: dict[str, Any] = {
    "position_buckets": 256,
    "norm_rel_ebd": "layer_norm",
    "share_att_key": True,
}
#: Qwen2's RoPE base, a **kwargs key of Qwen2Config in recent transformers
QWEN2_ROPE: dict[str, Any] = {"rope_theta": 1e6}


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
        pos_att_type=["p2c", "c2p"],
        position_biased_input=False,
        max_relative_positions=-1,
        type_vocab_size=0,
        layer_norm_eps=1e-7,
        **DEBERTA_V3_KEYS,
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
        **QWEN2_ROPE,
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
        **QWEN2_ROPE,
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
    import torch

    embedding_ids = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
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


def _texts(
    data_dir: str | None, task_name: str, limit: int, seed: int
) -> tuple[Any, list[Example]]:
    """Real evaluation texts where a data folder (or the hub) is available."""
    from bakeoff.data import load_builtin, stratified_sample
    from bakeoff.tasks import get_task

    task = get_task(task_name)
    data = load_builtin(task, data_dir)
    return task, stratified_sample(data.eval, limit, seed)


def random_model(arch: str, precision: str, device: str, num_labels: int = 2) -> tuple[str, Any]:
    """The architecture of one of the study's models, with random weights, ready for inference."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, set_seed

    kind, make_config = STUDY_ARCHITECTURES[arch]
    config = make_config()
    set_seed(0)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    if kind == "encoder":
        config.num_labels = num_labels
        model = AutoModelForSequenceClassification.from_config(config, dtype=dtype)
    else:
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    return kind, model.to(device).eval()


def _stand_in_tokenizers() -> dict[str, Any]:
    from transformers import AutoTokenizer

    from bakeoff.backends.causal_lm import load_causal_lm
    from bakeoff.models import resolve_model

    encoder_tok = AutoTokenizer.from_pretrained(resolve_model("minilm").name_or_path)
    llm_tok = load_causal_lm("smollm2-135m", "cpu", "fp32").tokenizer
    return {"encoder": encoder_tok, "causal": llm_tok}


def run_bench(
    archs: list[str],
    task_name: str = "sst2",
    data_dir: str | None = None,
    limit: int = 64,
    batch_size: int = 32,
    max_lengths: list[int] | None = None,
    precision: str = "auto",
    latency_samples: int = 16,
    seed: int = 99,
    on_row: Callable[[BenchRow], None] | None = None,
) -> tuple[list[BenchRow], dict[str, float]]:
    """Measure each architecture on real texts (and, with ``max_lengths``, on inputs stretched to
    each length) under the timing protocol; returns the rows and the measured matmul rates."""
    from bakeoff.environment import best_device, bf16_supported, resolve_precision
    from bakeoff.methods.finetune import EncoderClassifier
    from bakeoff.methods.prompted import PREFIX_PROBES
    from bakeoff.timing import timed_evaluation

    unknown = [a for a in archs if a not in STUDY_ARCHITECTURES]
    if unknown:
        from bakeoff.errors import BakeoffError

        raise BakeoffError(
            f"unknown architecture '{unknown[0]}'; choose from {', '.join(STUDY_ARCHITECTURES)}"
        )
    device = best_device()
    prec = resolve_precision(precision, device)
    # bf16 only where the hardware does it: emulated bf16 (e.g. an AVX2-only CPU) takes minutes
    # to measure and would be a roof nothing runs at
    wanted = ["fp32"] + (["bf16"] if bf16_supported(device) or prec == "bf16" else [])
    rates = {p: matmul_rate(p, device=device) for p in wanted}
    task, examples = _texts(data_dir, task_name, limit, seed)
    tokenizers = _stand_in_tokenizers()
    rows: list[BenchRow] = []
    for arch in archs:
        kind, model = random_model(arch, prec, device, task.num_labels)
        params = non_embedding_params(model)
        tok = tokenizers[kind]
        lengths: list[int | None] = [None, *(max_lengths or [])]
        for length in lengths:
            inputs = examples if length is None else stretch(examples, length)
            if kind == "encoder":
                max_len = length or 128
                clf: Any = EncoderClassifier(
                    model, tok, task.label_names, max_len, batch_size, device, prec
                )
                what = "inference"
                tokens = mean_tokens(tok, inputs, max_len)
            else:
                clf = _llm_classifier(
                    model, tok, task, batch_size, device, length, inputs[:PREFIX_PROBES]
                )
                max_len = clf.settings.max_length
                # work actually done per example: the prompt minus the cached shared prefix
                tokens = prompt_mean_tokens(clf, inputs)
                what = "zero-shot label scoring"
            with warnings.catch_warnings():
                # the sweep cuts prompts to each length on purpose
                warnings.filterwarnings("ignore", message=".*cut from the left")
                _, timing = timed_evaluation(
                    clf, inputs, latency_samples=min(latency_samples, len(inputs)), seed=seed
                )
            top = roof(rates[prec], params, tokens)
            row = BenchRow(
                model=arch,
                kind=kind,
                what=what,
                precision=prec,
                batch_size=timing.batch_size,
                max_length=max_len,
                mean_tokens=tokens,
                throughput_per_s=timing.throughput_per_s,
                latency_median_ms=timing.latency_median_ms,
                roof_per_s=top,
                roof_fraction=timing.throughput_per_s / top,
            )
            rows.append(row)
            if on_row:
                on_row(row)
        del model
    return rows, rates


def _llm_classifier(
    model: Any,
    tokenizer: Any,
    task: Any,
    batch_size: int,
    device: str,
    length: int | None,
    probes: list[Example],
) -> Any:
    """A zero-shot label-scoring classifier around a random-weight LM."""
    from bakeoff.backends.causal_lm import LoadedLM
    from bakeoff.config import PromptSettings
    from bakeoff.methods.prompted import PromptedClassifier
    from bakeoff.prompts import PromptBuilder, build_format

    settings = PromptSettings(k=0, max_length=length or 2048)
    lm = LoadedLM(model, tokenizer, "random weights", 0.0, "memory")
    builder = PromptBuilder(build_format(task, settings), [], tokenizer, True)
    clf = PromptedClassifier(lm, builder, settings, device, batch_size, False)
    clf.encode_prefix(probes)
    return clf


def prompt_mean_tokens(clf: Any, examples: list[Example]) -> float:
    """Mean tokens the model computes per example: each prompt as scored (cut to max_length)
    minus the cached shared prefix where the prompt still starts with it."""
    requests, _ = clf.requests([clf.builder.prompt(ex) for ex in examples])
    prefix = clf.prefix
    computed = [
        len(r.context) - (len(prefix.tokens) if prefix and prefix.covers(r.context) else 0)
        for r in requests
    ]
    return sum(computed) / len(computed)
