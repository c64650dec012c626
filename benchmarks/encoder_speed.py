"""Encoder inference: the study's method against bakeoff's, on the same model and data, in one run.

The study ran encoders in fp32, batch 32, every batch padded to 128 tokens. bakeoff sorts by length,
pads each batch only to its longest example, runs in bf16 where the CPU/GPU supports it, and uses a
larger batch. Both are timed by the same protocol (bakeoff.timing: warm-up excluded, tokenisation
included). The roof is the bf16 matmul rate measured in this run divided by
2 x non-embedding parameters x mean tokens per example.

    python benchmarks/encoder_speed.py --data-dir ../shared/data --limit 872
"""

from __future__ import annotations

import argparse
import copy

from transformers import AutoModelForSequenceClassification, AutoTokenizer

from bakeoff.bench import matmul_rate, mean_tokens, non_embedding_params, roof
from bakeoff.data import load_builtin, stratified_sample
from bakeoff.environment import best_device, bf16_supported, cpu_name
from bakeoff.methods.finetune import EncoderClassifier
from bakeoff.models import resolve_model
from bakeoff.tasks import get_task
from bakeoff.timing import timed_evaluation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", default=None, help="JSON Lines data folder (else $BAKEOFF_DATA_DIR / hub)"
    )
    parser.add_argument(
        "--limit", type=int, default=872, help="SST-2 validation examples to classify"
    )
    parser.add_argument("--batch-size", type=int, default=128, help="bakeoff's batch size")
    parser.add_argument("--latency-samples", type=int, default=32)
    args = parser.parse_args()

    device = best_device()
    data = load_builtin(get_task("sst2"), args.data_dir)
    examples = stratified_sample(data.eval, args.limit, seed=99)
    path = resolve_model("minilm").name_or_path
    tokenizer = AutoTokenizer.from_pretrained(path)
    names = data.task.label_names

    # one model (same random head) for both, so their predictions are comparable
    base = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(names))

    def classifier(precision: str, batch: int, study: bool) -> EncoderClassifier:
        return EncoderClassifier(
            copy.deepcopy(base),
            tokenizer,
            names,
            128,
            batch,
            device,
            precision,
            pad_to_max_length=study,
            sort_by_length=not study,
        )

    ours_precision = "bf16" if bf16_supported(device) else "fp32"
    runs = [
        ("study: fp32, batch 32, padded to 128", classifier("fp32", 32, True)),
        (
            f"bakeoff: {ours_precision}, batch {args.batch_size}, sorted, dynamic padding",
            classifier(ours_precision, args.batch_size, False),
        ),
    ]
    results = []
    for label, clf in runs:
        preds, timing = timed_evaluation(clf, examples, latency_samples=args.latency_samples)
        results.append((label, clf, preds, timing))

    # bf16 matmuls on a CPU without bf16 instructions are emulated (minutes, and meaningless)
    rate_bf16 = matmul_rate("bf16", device=device) if ours_precision == "bf16" else float("nan")
    rate_fp32 = matmul_rate("fp32", device=device)
    params = non_embedding_params(runs[0][1].model)
    tokens = mean_tokens(tokenizer, examples, 128)
    roof_ours = roof(rate_bf16 if ours_precision == "bf16" else rate_fp32, params, tokens)

    print(
        f"device: {device} ({cpu_name()}); minilm, {params / 1e6:.1f}M non-embedding params; "
        f"SST-2 validation, {len(examples)} examples, mean {tokens:.1f} tokens"
    )
    bf16_text = (
        f"{rate_bf16 / 1e9:.0f} GFLOP/s" if ours_precision == "bf16" else "not on this device"
    )
    print(f"matmul rate: bf16 {bf16_text}, fp32 {rate_fp32 / 1e9:.0f} GFLOP/s")
    print(f"{'method':60s} {'examples/s':>11s} {'p50 ms':>8s} {'p95 ms':>8s}")
    for label, _, _, t in results:
        print(
            f"{label:60s} {t.throughput_per_s:11.1f} {t.latency_median_ms:8.2f} {t.latency_p95_ms:8.2f}"
        )
    agree = sum(a == b for a, b in zip(results[0][2].labels, results[1][2].labels)) / len(examples)
    print(
        f"prediction agreement between the two: {agree:.1%} (random head; differences are precision noise)"
    )
    print(f"roof at {tokens:.1f} tokens ({ours_precision}): {roof_ours:.0f} examples/s")
    speedup = results[1][3].throughput_per_s / results[0][3].throughput_per_s
    print(
        f"encoder speedup: {speedup:.1f}x; roof fraction: {results[1][3].throughput_per_s / roof_ours:.2f}"
    )


if __name__ == "__main__":
    main()
