"""Helpers for ``benchmarks/gpu_check.sh``: one prepared check of bakeoff on a lent GPU machine.

Why this exists: the GPU machine is bare, offline, and takes at most 64 MiB of files with the repo.
The shipped models do not fit as they are (MiniLM's fp32 safetensors are 87 MiB, SmolLM2-135M's
GGUF 94 MiB), so ``pack`` (run here) prepares what does fit:

- the SST-2 and RTE files (train + validation) in the ``<dir>/<task>/<split>.jsonl[.gz]`` layout;
- MiniLM's real weights stored as fp16 (45 MiB; largest rounding error 1e-3 on weights up to 7.9),
  with ``dtype: float32`` in its config so transformers loads them back as fp32 for fine-tuning;
- SmolLM2-135M's real tokenizer (chat template included) and config, without weights: on the GPU
  ``make-llm`` builds the same architecture with random weights. Its speed, memory use and the
  batch-size back-off are those of the real model; its accuracy is chance and says nothing.

On the GPU machine: ``env`` prints versions and a bf16 matmul rate, ``cli`` runs the bakeoff
command line (optionally under a GPU memory cap, to make the out-of-memory back-off happen, and with
the packed tokenizers standing in for the bench's), ``summary`` prints a compact digest.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

TASK_FILES = {"sst2": ("train", "validation"), "rte": ("train", "validation")}
ENCODER_DIR = "minilm-fp16"
LLM_DIR = "smollm2-135m-arch"
BENCH_ROW = "gpu_check bench row:"


# -- here: packing what travels ------------------------------------------------------------------


def pack(data_src: Path, out: Path) -> None:
    """Fill ``out`` with the task files, MiniLM in fp16, and SmolLM2's tokenizer + config."""
    if out.exists():
        shutil.rmtree(out)
    for task, splits in TASK_FILES.items():
        (out / "data" / task).mkdir(parents=True)
        for split in splits:
            found = [p for p in (data_src / task).glob(f"{split}.jsonl*") if p.is_file()]
            if len(found) != 1:
                sys.exit(f"pack: expected one {task}/{split}.jsonl[.gz] in {data_src}, got {found}")
            shutil.copy(found[0], out / "data" / task / found[0].name)
    _pack_minilm(out / ENCODER_DIR)
    _pack_smollm2(out / LLM_DIR)
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        print(f"{path.stat().st_size / 2**20:8.2f} MiB  {path}")


def _pack_minilm(dst: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    from bakeoff.models import resolve_model

    src = Path(resolve_model("minilm").name_or_path)
    dst.mkdir(parents=True)
    state = load_file(src / "model.safetensors")
    half = {
        k: (v.to(torch.float16) if v.is_floating_point() else v).contiguous()
        for k, v in state.items()
    }
    save_file(half, dst / "model.safetensors", metadata={"format": "pt"})
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (src / name).is_file():
            shutil.copy(src / name, dst / name)
    config = json.loads((src / "config.json").read_text(encoding="utf-8"))
    # transformers 5 loads a checkpoint in its stored dtype unless the config names one; fine-tuning
    # must start from fp32 weights, as with the shipped package.
    config["dtype"] = "float32"
    (dst / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")


def _pack_smollm2(dst: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer

    from bakeoff.models import resolve_model

    resolved = resolve_model("smollm2-135m")
    config = AutoConfig.from_pretrained(resolved.name_or_path, gguf_file=resolved.gguf_file)
    tokenizer = AutoTokenizer.from_pretrained(resolved.name_or_path, gguf_file=resolved.gguf_file)
    dst.mkdir(parents=True)
    config.save_pretrained(dst)
    tokenizer.save_pretrained(dst)


# -- there: environment, random-weight LLM, the CLI, the summary --------------------------------


def env(n: int, repeats: int) -> None:
    """torch / CUDA versions, the GPU, and an n^3 bf16 matmul rate (the machine's practical peak)."""
    import torch

    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
    }
    device = "cuda:0" if torch.cuda.is_available() else "cpu"
    if device != "cpu":
        props = torch.cuda.get_device_properties(0)
        info.update(
            gpu=props.name,
            capability=f"{props.major}.{props.minor}",
            memory_gib=round(props.total_memory / 2**30, 1),
            sms=props.multi_processor_count,
            bf16=torch.cuda.is_bf16_supported(),
        )
    for name in ("transformers", "accelerate", "tokenizers", "datasets", "pydantic", "typer"):
        try:
            info[name] = __import__(name).__version__
        except Exception as exc:  # report what is missing rather than stop the check
            info[name] = f"missing ({type(exc).__name__})"
    a = torch.randn(n, n, dtype=torch.bfloat16, device=device)
    b = torch.randn(n, n, dtype=torch.bfloat16, device=device)
    for _ in range(3):
        a @ b
    if device != "cpu":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if device != "cpu":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    info[f"bf16_matmul_{n}_tflops"] = float(f"{2 * n**3 * repeats / seconds / 1e12:.3g}")
    print(json.dumps(info))


def make_llm(arch_dir: Path, dst: Path) -> None:
    """SmolLM2-135M's architecture with seeded random weights, saved where bakeoff can load it."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, set_seed

    config = AutoConfig.from_pretrained(arch_dir)
    set_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    dst.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(dst)
    AutoTokenizer.from_pretrained(arch_dir).save_pretrained(dst)
    params = sum(p.numel() for p in model.parameters())
    print(f"random-weight {config.model_type} with {params / 1e6:.1f}M parameters saved to {dst}")


def _stand_in_tokenizers(encoder_dir: str, llm_dir: str) -> None:
    """The bench tokenises with MiniLM's and SmolLM2's tokenizers, found through the shipped
    packages; here those packages are not installed, so the packed copies stand in."""
    import bakeoff.bench as bench

    if not hasattr(bench, "_stand_in_tokenizers"):
        sys.exit("gpu_check: bakeoff.bench._stand_in_tokenizers is gone; update gpu_check.py")

    def tokenizers() -> dict[str, Any]:
        from transformers import AutoTokenizer

        llm = AutoTokenizer.from_pretrained(llm_dir)
        llm.padding_side = "left"  # as bakeoff's causal-LM loader prepares it
        if llm.pad_token_id is None:
            llm.pad_token = llm.eos_token
        return {"encoder": AutoTokenizer.from_pretrained(encoder_dir), "causal": llm}

    bench._stand_in_tokenizers = tokenizers

    # the CLI prints its table and writes --json only at the end; print each row as it is
    # measured too, so a bench stopped by its time limit still leaves its rows in the log
    run_bench = bench.run_bench

    def run_bench_printing(*args: Any, **kwargs: Any) -> Any:
        on_row = kwargs.get("on_row")

        def show(row: Any) -> None:
            print(f"{BENCH_ROW} {json.dumps(row.to_dict())}", flush=True)
            if on_row:
                on_row(row)

        kwargs["on_row"] = show
        return run_bench(*args, **kwargs)

    bench.run_bench = run_bench_printing


def cli(args: list[str], mem_cap_gib: float | None, stand_in: list[str] | None) -> int:
    """Run ``bakeoff ARGS`` in this process (so a memory cap and the tokenizer stand-ins apply)."""
    if mem_cap_gib is not None:
        import torch

        if torch.cuda.is_available():
            total = torch.cuda.get_device_properties(0).total_memory
            fraction = min(1.0, mem_cap_gib * 2**30 / total)
            torch.cuda.set_per_process_memory_fraction(fraction, 0)
            print(f"gpu_check: GPU memory capped at {mem_cap_gib} GiB ({fraction:.4f} of the card)")
        else:
            print("gpu_check: no GPU, memory cap not applied")
    if stand_in:
        _stand_in_tokenizers(*stand_in)
    from bakeoff.cli import main

    sys.argv = ["bakeoff", *args]
    try:
        main()
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def _find(obj: Any, key: str) -> Any:
    """First value of ``key`` anywhere in nested dicts (the store's JSON layout may move)."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        for value in obj.values():
            found = _find(value, key)
            if found is not None:
                return found
    return None


def _db_rows(path: Path) -> list[str]:
    if not path.is_file():
        return [f"  (no store at {path})"]
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    out = []
    for r in conn.execute("SELECT * FROM experiments ORDER BY task, model, method"):
        row = dict(r)
        metrics = json.loads(row.get("metrics") or "null") or {}
        timing = json.loads(row.get("timing") or "null") or {}
        training = json.loads(row.get("training") or "null") or {}
        acc = metrics.get("accuracy")
        model = Path(row["model"]).name
        text = f"  {row['status']:6} {row['task']:5} {model:28} {row['method']:10}"
        if acc is not None:
            text += f" acc {100 * acc:5.1f}% n={metrics.get('n')}"
        if timing:
            text += (
                f" | {timing.get('throughput_per_s', 0):8.1f}/s bs={timing.get('batch_size')}"
                f" p50 {timing.get('latency_median_ms', 0):.1f} ms"
                f" peak {timing.get('peak_memory_mb', 0):.0f} MB"
            )
        train_s = _find(training, "train_time_s")
        if train_s:
            text += f" train {train_s:.1f} s"
        if row.get("error"):
            text += f" | error: {row['error'].strip().splitlines()[-1][:160]}"
        out.append(text)
    conn.close()
    return out or ["  (no experiments)"]


def export(db: Path, folder: Path) -> None:
    """Copy a store into ``folder`` as one consistent file (SQLite's backup), so a store left with
    a write-ahead log by a killed step still comes back whole, and as a single file."""
    src = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    dst = sqlite3.connect(folder / db.name)
    with dst:
        src.backup(dst)
    dst.execute("PRAGMA journal_mode=DELETE")
    src.close()
    dst.close()


def _bench_rows(bench_json: Path, log: Path | None) -> tuple[dict[str, float], list[dict]]:
    """The bench's rates and rows from its JSON, else the rows it printed before being stopped."""
    if bench_json.is_file():
        data = json.loads(bench_json.read_text(encoding="utf-8"))
        return data.get("rates", {}), data.get("rows", [])
    rows = []
    if log is not None and log.is_file():
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(BENCH_ROW):
                rows.append(json.loads(line[len(BENCH_ROW) :]))
    return {}, rows


def summary(
    steps: Path, bench_json: Path, log: Path | None, dbs: list[Path], export_to: Path | None
) -> None:
    """Step outcomes, the bench rows, and one line per experiment of each store."""
    print("== steps (name rc seconds)")
    print(steps.read_text(encoding="utf-8").rstrip() if steps.is_file() else "  (none)")
    print("== bench")
    rates, rows = _bench_rows(bench_json, log)
    if rates:
        print("  matmul " + ", ".join(f"{k} {v / 1e12:.1f} TFLOP/s" for k, v in rates.items()))
    for r in rows:
        try:
            print(
                f"  {r['model']:16} {r['precision']:4} len {r['max_length']:5} bs {r['batch_size']:3}"
                f" tok {r['mean_tokens']:6.0f} {r['throughput_per_s']:9.1f}/s"
                f" p50 {r['latency_median_ms']:7.2f} ms roof {r['roof_fraction']:.0%}"
            )
        except (KeyError, TypeError, ValueError):  # the row's layout changed: print it whole
            print(f"  {r}")
    if not rows:
        print(f"  (no rows: no {bench_json} and none in the log)")
    for db in dbs:
        print(f"== {db.name}")
        try:
            print("\n".join(_db_rows(db)))
            if export_to is not None and db.is_file():
                export(db, export_to)
        except (sqlite3.Error, KeyError, ValueError) as exc:
            print(f"  cannot read {db}: {exc}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack", help="here: build the folder that travels with the repo")
    p.add_argument("--data", type=Path, default=Path(os.environ.get("BAKEOFF_TEST_DATA", "")))
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("env", help="versions and a bf16 matmul rate")
    p.add_argument("--n", type=int, default=8192)
    p.add_argument("--repeats", type=int, default=10)
    p = sub.add_parser("make-llm", help="random-weight SmolLM2-135M from the packed config")
    p.add_argument("arch_dir", type=Path)
    p.add_argument("dst", type=Path)
    p = sub.add_parser("cli", help="bakeoff ARGS (after --)")
    p.add_argument("--mem-cap-gib", type=float)
    p.add_argument("--stand-in-tokenizers", nargs=2, metavar=("ENCODER_DIR", "LLM_DIR"))
    p.add_argument("args", nargs=argparse.REMAINDER)
    p = sub.add_parser("summary", help="compact digest of the run")
    p.add_argument("--steps", type=Path, required=True)
    p.add_argument("--bench", type=Path, required=True)
    p.add_argument("--export", type=Path, help="copy each store into this folder")
    p.add_argument("--log", type=Path, help="log holding bench rows if the JSON is missing")
    p.add_argument("dbs", type=Path, nargs="*")
    a = parser.parse_args()
    if a.cmd == "pack":
        pack(a.data, a.out)
    elif a.cmd == "env":
        env(a.n, a.repeats)
    elif a.cmd == "make-llm":
        make_llm(a.arch_dir, a.dst)
    elif a.cmd == "cli":
        args = a.args[1:] if a.args[:1] == ["--"] else a.args
        sys.exit(cli(args, a.mem_cap_gib, a.stand_in_tokenizers))
    else:
        summary(a.steps, a.bench, a.log, a.dbs, a.export)


if __name__ == "__main__":
    main()
