"""predict at scale: rows/s and peak memory of ``bakeoff.predict.predict_file`` by file size.

Fine-tunes ``minilm`` briefly on SST-2 (or takes ``--artifact``), writes CSV files of 10k, 100k
and 1M SST-2 sentences drawn with replacement from validation+train (seeded), and classifies
each in a fresh subprocess, so the peak resident memory printed is that size's alone. Rows/s is
end to end over ``predict_file`` (reading, tokenising, the model, writing, fsync per chunk);
model loading and one warm-up batch are excluded, as in bakeoff's timing protocol. Neither
figure should grow with the file: throughput at 1M within 10% of 10k, and the same for memory.
Like ``bakeoff predict``, each child turns on PyTorch's transparent huge pages before torch loads
(``bakeoff.predict.use_huge_pages_for_tensors``); ``THP_MEM_ALLOC_ENABLE=0 python
benchmarks/predict_scale.py ...`` measures without them.

    python benchmarks/predict_scale.py --data-dir ../shared/data              # 10k,100k,1M
    python benchmarks/predict_scale.py --data-dir ../shared/data --sizes 2000,5000   # smoke

On a machine with more cores, pin it to two to compare with the 2-core target:
``taskset -c 0,1 python benchmarks/predict_scale.py ...``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _size(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def _name(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def _sentences(data_dir: str | None) -> list[str]:
    from bakeoff.data import load_builtin
    from bakeoff.tasks import get_task

    data = load_builtin(get_task("sst2"), data_dir)
    return [ex.text for ex in data.eval] + [ex.text for ex in data.train]


def _make_file(path: Path, sentences: list[str], n: int, seed: int) -> None:
    """A CSV of ``n`` sentences drawn with replacement, written in blocks (memory stays flat)."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text"])
        left = n
        while left:
            block = min(left, 50_000)
            writer.writerows([s] for s in rng.choices(sentences, k=block))
            left -= block


def _fine_tune(data_dir: str | None, folder: Path, train_limit: int, epochs: float) -> None:
    from bakeoff.artifacts import save_encoder_classifier
    from bakeoff.classifier import NullProgress
    from bakeoff.config import ExperimentConfig, FinetuneSettings
    from bakeoff.data import load_builtin
    from bakeoff.methods.finetune import FinetuneMethod
    from bakeoff.tasks import get_task

    data = load_builtin(get_task("sst2"), data_dir)
    # a quick fine-tune: speed does not depend on how well the weights are trained
    wanted = {"epochs": epochs, "min_steps": 0}
    settings = FinetuneSettings(
        **{k: v for k, v in wanted.items() if k in FinetuneSettings.model_fields}
    )
    config = ExperimentConfig(
        task="sst2",
        data_fingerprint=data.fingerprint,
        eval_split=data.eval_split,
        model="minilm",
        method="finetune",
        train_limit=train_limit,
        settings=settings,
    )
    start = time.perf_counter()
    prepared = FinetuneMethod().prepare(config, data, NullProgress())
    save_encoder_classifier(folder, prepared.classifier, settings.model_dump())
    print(
        f"fine-tuned minilm on {train_limit} SST-2 examples in {time.perf_counter() - start:.0f} s"
    )


def _rss_mb() -> float:
    """Resident memory now (not the peak), from /proc on Linux."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def _child(artifact: str, source: str, output: str, chunk_rows: int, batch_size: int) -> None:
    """One size, in its own process: load, warm up, predict, report JSON on the last line."""
    from bakeoff.predict import predict_file, use_huge_pages_for_tensors

    huge_pages = use_huge_pages_for_tensors()  # as `bakeoff predict` does, before torch loads
    from bakeoff.artifacts import load_classifier
    from bakeoff.data import Example

    t0 = time.perf_counter()
    clf = load_classifier(artifact)
    load_s = time.perf_counter() - t0
    with open(source, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        warm = [Example(row[0], 0) for _, row in zip(range(clf.batch_size), reader)]
    clf.predict(warm, batch_size=batch_size or None)
    # at each chunk's end: resident memory now, and the peak so far. Both flat from chunk to
    # chunk means nothing grows with the file.
    trace: dict[int, tuple[float, float]] = {}

    def progress(done: int, total: int | None) -> None:
        if done and (done % chunk_rows == 0 or done == total):
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            trace[done] = (_rss_mb(), peak)

    summary = predict_file(
        clf,
        source,
        output,
        chunk_rows=chunk_rows,
        batch_size=batch_size or None,
        progress=progress,
    )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(
        json.dumps(
            {
                "rows": summary.rows_total,
                "seconds": summary.seconds,
                "rows_per_s": summary.rows_total / summary.seconds,
                "peak_rss_mb": peak_mb,
                "load_s": load_s,
                "precision": clf.precision,
                "batch_size": batch_size or clf.batch_size,
                "threads": __import__("torch").get_num_threads(),
                "huge_pages": huge_pages,
                "rss_trace": [[d, now, peak] for d, (now, peak) in trace.items()],
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="JSON Lines data folder (SST-2)")
    parser.add_argument("--artifact", default=None, help="encoder artifact folder to use")
    parser.add_argument("--sizes", default="10k,100k,1M", help="comma-separated row counts")
    parser.add_argument("--train-limit", type=int, default=500)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--chunk-rows", type=int, default=None, help="default: predict's own")
    parser.add_argument("--batch-size", type=int, default=0, help="0: the artifact's")
    parser.add_argument("--work-dir", default=None, help="where files go (default: a temp dir)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()

    from bakeoff.predict import DEFAULT_CHUNK_ROWS

    chunk_rows = args.chunk_rows or DEFAULT_CHUNK_ROWS
    if args.child:
        _child(*args.child, chunk_rows, args.batch_size)
        return

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="bakeoff-predict-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    artifact = Path(args.artifact) if args.artifact else work / "minilm-sst2"
    if not args.artifact and not artifact.is_dir():
        _fine_tune(args.data_dir, artifact, args.train_limit, args.epochs)
    sentences = _sentences(args.data_dir)
    sizes = [_size(s) for s in args.sizes.split(",") if s.strip()]

    results = {}
    for n in sizes:
        source, output = work / f"input-{_name(n)}.csv", work / f"output-{_name(n)}.csv"
        if not source.is_file():
            _make_file(source, sentences, n, seed=n)
        for leftover in work.glob(f"output-{_name(n)}.csv*"):
            leftover.unlink()
        cmd = [sys.executable, __file__, "--child", str(artifact), str(source), str(output)]
        cmd += ["--chunk-rows", str(chunk_rows), "--batch-size", str(args.batch_size)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
        if proc.returncode != 0:
            sys.exit(f"size {n} failed:\n{proc.stderr[-3000:]}")
        results[n] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = results[n]
        print(
            f"{_name(n):>6} rows: {r['rows_per_s']:8,.0f} rows/s  peak RSS {r['peak_rss_mb']:6,.0f} MB"
            f"  ({r['seconds']:.1f} s; {r['precision']}, batch {r['batch_size']}, "
            f"{r['threads']} threads, huge pages {'on' if r['huge_pages'] else 'off'}, "
            f"load {r['load_s']:.1f} s)",
            flush=True,
        )
        trace = r["rss_trace"]
        if trace:
            step = max(1, len(trace) // 8)
            shown = trace[::step] + ([trace[-1]] if (len(trace) - 1) % step else [])
            samples = ", ".join(f"{d:,}: {now:,.0f}/{peak:,.0f}" for d, now, peak in shown)
            print(f"        at chunk ends, rows: resident MB now/peak so far: {samples}")
        output.unlink(missing_ok=True)

    big, small = max(results), min(results)
    rb, rs = results[big], results[small]
    print(
        f"predict {_name(big)} rows: {rb['rows_per_s']:.0f} rows/s, peak RSS {rb['peak_rss_mb']:.0f} MB; "
        f"{_name(small)} rows: {rs['rows_per_s']:.0f} rows/s, peak RSS {rs['peak_rss_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
