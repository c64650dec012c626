"""LLM classification speed: the study's per-example generation against bakeoff's label scoring.

One run, one model (smollm2-135m), the same SST-2 validation examples, one timing protocol
(bakeoff.timing: loading and warm-up excluded; prompt building, tokenising, the model and the
label decision included):

  (a) the study's method, fairly: batch size 1, greedy generation of up to 20 tokens (stopping at
      the end-of-turn token), then parsing; the whole prompt is encoded every time, as the study
      did (no prefix cache);
  (b) bakeoff zero-shot label scoring (log-likelihood, batched);
  (c) bakeoff few-shot (k = 5) label scoring with the shared prefix encoded once;

and the machine's bf16 and fp32 matmul rates, measured in the same run.

    python benchmarks/llm_speed.py --data-dir ../shared/data --limit 128
"""

from __future__ import annotations

import argparse

from bakeoff.backends.causal_lm import load_causal_lm
from bakeoff.bench import matmul_rate, non_embedding_params, prompt_mean_tokens, roof
from bakeoff.config import PromptSettings
from bakeoff.data import load_builtin, stratified_sample
from bakeoff.environment import best_device, cpu_name, resolve_precision
from bakeoff.methods.prompted import PREFIX_PROBES, PromptedClassifier
from bakeoff.prompts import PromptBuilder, build_format, sample_shots
from bakeoff.tasks import get_task
from bakeoff.timing import timed_evaluation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--limit", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--latency-samples", type=int, default=16)
    args = parser.parse_args()

    device = best_device()
    precision = resolve_precision("auto", device)
    data = load_builtin(get_task("sst2"), args.data_dir)
    examples = stratified_sample(data.eval, args.limit, seed=99)
    lm = load_causal_lm("smollm2-135m", device, precision)

    def classifier(k: int, scoring: str, batch: int, new_tokens: int = 5) -> PromptedClassifier:
        settings = PromptSettings(k=k, scoring=scoring, max_new_tokens=new_tokens)
        shots = [data.train[i] for i in sample_shots(data.train, k, 99)]
        builder = PromptBuilder(build_format(data.task, settings), shots, lm.tokenizer, True)
        clf = PromptedClassifier(lm, builder, settings, device, batch, False)
        if scoring == "loglik":  # the study's method had no prefix cache; ours does
            clf.encode_prefix(data.train[:PREFIX_PROBES])
        return clf

    runs = [
        ("(a) study: generate <=20 tokens, batch 1, parse", classifier(0, "generate", 1, 20), 1),
        (
            f"(b) zero-shot loglik, batch {args.batch_size}",
            classifier(0, "loglik", args.batch_size),
            None,
        ),
        (
            f"(c) few-shot k=5 loglik, batch {args.batch_size}",
            classifier(5, "loglik", args.batch_size),
            None,
        ),
    ]
    rows = []
    for label, clf, bs in runs:
        preds, timing = timed_evaluation(
            clf, examples, batch_size=bs, latency_samples=args.latency_samples
        )
        acc = sum(p == ex.label for p, ex in zip(preds.labels, examples)) / len(examples)
        invalid = sum(p < 0 for p in preds.labels) / len(examples)
        rows.append((label, clf, timing, acc, invalid))

    rate_bf16 = matmul_rate("bf16", device=device)
    rate_fp32 = matmul_rate("fp32", device=device)
    params = non_embedding_params(lm.model)
    zs_clf, zs_timing = rows[1][1], rows[1][2]
    tokens = prompt_mean_tokens(zs_clf, examples)
    top = roof(rate_bf16 if precision == "bf16" else rate_fp32, params, tokens)

    print(
        f"device: {device} ({cpu_name()}); smollm2-135m ({params / 1e6:.0f}M non-embedding params, "
        f"{precision}); SST-2 validation, {len(examples)} examples"
    )
    print(f"matmul rate: bf16 {rate_bf16 / 1e9:.0f} GFLOP/s, fp32 {rate_fp32 / 1e9:.0f} GFLOP/s")
    print(f"{'method':50s} {'examples/s':>10s} {'p50 ms':>8s} {'accuracy':>9s} {'invalid':>8s}")
    for label, _, t, acc, invalid in rows:
        print(
            f"{label:50s} {t.throughput_per_s:10.1f} {t.latency_median_ms:8.1f} {acc:9.1%} {invalid:8.1%}"
        )
    print(f"zero-shot roof at {tokens:.0f} computed tokens/example: {top:.1f} examples/s")
    speedup = zs_timing.throughput_per_s / rows[0][2].throughput_per_s
    ratio = rows[2][2].throughput_per_s / zs_timing.throughput_per_s
    print(
        f"zero-shot speedup vs per-example generation: {speedup:.1f}x; "
        f"few-shot/zero-shot throughput: {ratio:.2f}; roof fraction: {zs_timing.throughput_per_s / top:.2f}"
    )


if __name__ == "__main__":
    main()
