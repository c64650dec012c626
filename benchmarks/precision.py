"""bf16 against fp32: how many predictions change, and why.

Runs one prompted LLM on a task's whole validation split twice, in fp32 and in bf16 (same prompts,
same label scoring), and prints accuracy and throughput for each, the number of predictions that
differ, and how large bf16's error in the decision margin is compared with the margins
themselves. The margin is the log-probability gap between the top two labels: a prediction can
only flip where the fp32 margin is smaller than bf16's error, so a model that is unsure of many
examples flips more of them, whatever the arithmetic.

    python benchmarks/precision.py --data-dir ../shared/data --model smollm2-135m
    python benchmarks/precision.py --data-dir ../shared/data --model gemma3-270m --k 5
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bakeoff.backends.causal_lm import load_causal_lm
from bakeoff.config import PromptSettings
from bakeoff.data import load_builtin
from bakeoff.environment import best_device, cpu_name
from bakeoff.methods.prompted import PREFIX_PROBES, PromptedClassifier
from bakeoff.prompts import PromptBuilder, build_format, sample_shots
from bakeoff.tasks import get_task


def margins(scores: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Log-probability gap between the reference's best and second-best label, per example
    (positive where ``scores`` agree with the reference's choice)."""
    order = np.argsort(-reference, axis=1)
    rows = np.arange(len(scores))
    logs = np.log(np.clip(scores, 1e-300, None))
    return logs[rows, order[:, 0]] - logs[rows, order[:, 1]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--task", default="sst2")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--k", type=int, default=0, help="few-shot examples (0: zero-shot)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--limit", type=int, default=None, help="default: the whole split")
    parser.add_argument("--seed", type=int, default=99)
    args = parser.parse_args()

    device = best_device()
    data = load_builtin(get_task(args.task), args.data_dir)
    examples = data.eval[: args.limit] if args.limit else data.eval
    settings = PromptSettings(k=args.k)
    shots = [data.train[i] for i in sample_shots(data.train, args.k, args.seed)]

    results = {}
    for precision in ("fp32", "bf16"):
        lm = load_causal_lm(args.model, device, precision)
        builder = PromptBuilder(build_format(data.task, settings), shots, lm.tokenizer, True)
        clf = PromptedClassifier(lm, builder, settings, device, args.batch_size, False)
        clf.encode_prefix(data.train[:PREFIX_PROBES])
        clf.predict(examples[: args.batch_size])  # warm-up
        start = time.perf_counter()
        preds = clf.predict(examples)
        seconds = time.perf_counter() - start
        labels = np.asarray(preds.labels)
        gold = np.asarray([ex.label for ex in examples])
        results[precision] = (labels, np.asarray(preds.scores), float((labels == gold).mean()))
        print(
            f"{precision}: accuracy {results[precision][2]:.1%}, "
            f"{len(examples) / seconds:.1f} examples/s",
            flush=True,
        )

    (l32, s32, _), (l16, s16, _) = results["fp32"], results["bf16"]
    changed = int((l32 != l16).sum())
    m32 = margins(s32, s32)
    error = np.abs(margins(s16, s32) - m32)
    p50, p99, worst = np.percentile(error, [50, 99, 100])
    close = float((m32 < p99).mean())
    print(
        f"device: {device} ({cpu_name()}); {args.model}, k={args.k}, {args.task} "
        f"{data.eval_split}, {len(examples)} examples"
    )
    print(
        f"bf16 error in the decision margin (nats): median {p50:.3f}, p99 {p99:.3f}, max {worst:.3f}"
    )
    print(f"examples whose fp32 margin is below that p99 error: {close:.1%}")
    print(
        f"bf16 vs fp32: {changed} of {len(examples)} predictions changed "
        f"({changed / len(examples):.2%})"
    )


if __name__ == "__main__":
    main()
