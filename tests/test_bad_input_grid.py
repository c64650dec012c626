"""Every bad grid file, flag and store path through the real CLI: exit code 2, one ``error:`` line,
no traceback, and nothing written.

Each row runs ``bakeoff run ... --db DB`` twice: once with no store (none may be created, nor its
``-wal``/``-shm`` files) and once with an existing store (it must stay byte-for-byte the same).
That is the promise of planning (``bakeoff.runner.plan_grid``): every input is checked before the
store is opened, so a bad setting never leaves a ``failed`` row, an empty store or a silently
wrong result.

Rows marked ``lead`` are known gaps, kept as strict xfails so each turns into a failure the day
it is fixed and the mark must go: an input not yet refused in planning (it fails only when the
method loads the model, after the store has a ``failed`` row), or a refusal whose line shows a
library's internals. Click's own errors (a flag that is not a number, an unknown flag) print
click's usage box instead of one line: those rows (``usage=True``) check the exit code, the
absent traceback and the untouched store.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from bakeoff.cli import app
from bakeoff.store import ResultsStore

#: the settings every row starts from: a one-experiment grid that would train for seconds
SMALL = (
    "--train-limit", "32", "--eval-limit", "16", "--epochs", "1", "--latency-samples", "2",
    "--set", "finetune.min_steps=0",
)  # fmt: skip
#: the same grid as a file (rows given as YAML add or replace keys of it)
GOOD_GRID: dict[str, Any] = {
    "tasks": ["rte"],
    "models": ["{bert}"],
    "methods": ["finetune"],
    "train_limit": 32,
    "eval_limit": 16,
    "latency_samples": 2,
    "finetune": {"epochs": 1, "min_steps": 0},
}
#: a prompted grid on a tiny random Llama (the prompt checks need a causal LM)
LLM = ("--task", "rte", "--model", "{llama}", "--eval-limit", "16", "--latency-samples", "2")

LEAD_PLANNING = "lead: check in planning"
#: runner.plan calls resolve_model only where model_kind() is None, which a .gguf path no longer
#: is (687028b): its existence and GGUF checks now run only when the method loads it
#: config.GridConfig._sections re-raises a section's error with pydantic's own prefix


@dataclass
class Case:
    id: str
    #: the flags after ``run``; ``{bert}``, ``{llama}`` and ``{dir}`` (the row's own folder) are
    #: filled in. They follow ``--task rte --model {bert}`` (each where the row gives none) and
    #: SMALL, so they win; a row with ``--config`` gets nothing else
    args: tuple[str, ...] = ()
    #: the grid file: a mapping merged over GOOD_GRID (None as a value drops the key), or the
    #: file's raw text or bytes; passed as ``--config {grid}``
    grid: dict[str, Any] | str | bytes | None = None
    #: fragments the error line must contain
    expect: tuple[str, ...] = ()
    #: click's usage error (its own box) rather than bakeoff's one line
    usage: bool = False
    #: why the row is expected to fail today (strict xfail); None: it must pass
    lead: str | None = None
    #: prepares files in the row's folder
    setup: Callable[[Path], None] | None = None
    #: ``--db`` path relative to the row's folder (rows about the store path itself)
    db: str | None = None
    marks: list[Any] = field(default_factory=list)


def _toy_data(folder: Path) -> None:
    """Ten labelled rows: a hold-out of two leaves eight to draw few-shot examples from."""
    rows = [
        '{"text": "a delight from start to finish", "label": "pos"}',
        '{"text": "warm, funny and wise", "label": "pos"}',
        '{"text": "i loved every minute", "label": "pos"}',
        '{"text": "a triumph of acting", "label": "pos"}',
        '{"text": "smart and charming", "label": "pos"}',
        '{"text": "a tedious mess", "label": "neg"}',
        '{"text": "dull and lifeless", "label": "neg"}',
        '{"text": "i hated every minute", "label": "neg"}',
        '{"text": "a waste of talent", "label": "neg"}',
        '{"text": "painfully slow", "label": "neg"}',
    ]
    (folder / "toy.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")


def _fake_gguf(folder: Path) -> None:
    (folder / "model.gguf").write_text("this is a text file, not a GGUF model\n")


def _empty_model_folder(folder: Path) -> None:
    (folder / "model").mkdir()


def _a_folder(folder: Path) -> None:
    (folder / "grids").mkdir()


def _unreadable(folder: Path) -> None:
    grid = folder / "grid.yaml"
    grid.chmod(0)


def _y(**keys: Any) -> dict[str, Any]:
    return keys


def _labels_file(name: str, text: str) -> Callable[[Path], None]:
    """Writes the toy rows with one more row whose label is ``text`` (the raw JSON value)."""

    def setup(folder: Path) -> None:
        _toy_data(folder)
        with (folder / "toy.jsonl").open("a", encoding="utf-8") as fh:
            fh.write('{"text": "an odd one", "label": ' + text + "}\n")
        (folder / "toy.jsonl").rename(folder / name)

    return setup


def _na_csv(folder: Path) -> None:
    rows = ["a delight,pos", "a mess,neg"] * 5 + ["no idea,N/A"]
    (folder / "toy.csv").write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")


#: a GPU here makes ``--device cuda`` a valid choice, not a bad input
try:
    import torch

    HAS_CUDA = torch.cuda.is_available()
except ImportError:  # pragma: no cover - torch is a dependency
    HAS_CUDA = False


ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False

CASES = [
    # ---- grid files: types, empty lists, numeric ranges, NaN/inf, unknown keys --------------
    Case("grid-tasks-empty", grid=_y(tasks=[]), expect=("'tasks'", "empty")),
    Case("grid-tasks-number", grid=_y(tasks=5), expect=("'tasks'",)),
    Case("grid-tasks-null-item", grid=_y(tasks=["rte", None]), expect=("'tasks'",)),
    Case("grid-tasks-unknown", grid=_y(tasks=["rte2"]), expect=("unknown task 'rte2'",)),
    Case("grid-models-empty", grid=_y(models=[]), expect=("'models'", "empty")),
    Case("grid-methods-empty", grid=_y(methods=[]), expect=("'methods'", "empty")),
    Case("grid-method-unknown", grid=_y(methods=["zeroshot"]), expect=("unknown method",)),
    Case("grid-finetune-number", grid=_y(finetune=5), expect=("'finetune'", "mapping")),
    Case("grid-prompt-word", grid=_y(prompt="hello"), expect=("'prompt'", "mapping")),
    Case("grid-task-files-number", grid=_y(task_files=5), expect=("task_files",)),
    Case("grid-task-files-missing", grid=_y(task_files=["nope.yaml"]), expect=("nope.yaml",)),
    Case("grid-seed-1e23-text", grid="{base}seed: 1e23\n", expect=("'seed'",)),
    Case("grid-seed-1e23-float", grid=_y(seed=1e23), expect=("'seed'",)),
    Case("grid-seed-fraction", grid=_y(seed=1.5), expect=("'seed'", "whole number")),
    Case("grid-seed-negative", grid=_y(seed=-1), expect=("'seed'",)),
    Case("grid-seed-too-large", grid=_y(seed=2**32), expect=("'seed'",)),
    Case("grid-seed-word", grid=_y(seed="ninety"), expect=("'seed'",)),
    Case("grid-seeds-empty", grid=_y(seeds=[]), expect=("'seeds'", "empty")),
    Case("grid-seeds-negative", grid=_y(seeds=[1, -2]), expect=("'seeds'",)),
    Case("grid-lr-inf", grid=_y(finetune={"learning_rate": math.inf}), expect=("learning_rate",)),
    Case("grid-lr-nan", grid=_y(finetune={"learning_rate": math.nan}), expect=("learning_rate",)),
    Case("grid-lr-zero", grid=_y(finetune={"learning_rate": 0}), expect=("learning_rate",)),
    Case("grid-epochs-nan", grid=_y(finetune={"epochs": math.nan}), expect=("epochs",)),
    Case("grid-epochs-negative", grid=_y(finetune={"epochs": -1}), expect=("epochs",)),
    Case("grid-warmup-one", grid=_y(finetune={"warmup_ratio": 1}), expect=("warmup_ratio",)),
    Case(
        "grid-preset-unknown",
        grid=_y(finetune={"preset": "fast"}),
        expect=("preset",),
    ),
    Case("grid-finetune-unknown-key", grid=_y(finetune={"epoch": 2}), expect=("epoch",)),
    Case("grid-prompt-unknown-key", grid=_y(prompt={"shots": 3}), expect=("shots",)),
    Case("grid-prompt-k-huge", grid=_y(prompt={"k": 100000}), expect=("'prompt.k'",)),
    Case("grid-num-fewshot-negative", grid=_y(num_fewshot=-1), expect=("'prompt.k'",)),
    Case("grid-chat-template-maybe", grid=_y(apply_chat_template="maybe"), expect=("chat",)),
    Case("grid-seed-nan", grid=_y(seed=math.nan), expect=("'seed'",)),
    Case("grid-seeds-fraction", grid=_y(seeds=[1.5]), expect=("'seeds'",)),
    Case("grid-latency-inf", grid=_y(latency_samples=math.inf), expect=("'latency_samples'",)),
    Case(
        "grid-prompt-one-answer-word",
        grid=_y(models=["{llama}"], methods=["zero-shot"], prompt={"verbalizers": ["yes"]}),
        expect=("1 verbalizers",),
    ),
    Case(
        "grid-prompt-template-no-field",
        grid=_y(models=["{llama}"], methods=["few-shot"], prompt={"template": "same text"}),
        expect=("no input field",),
    ),
    Case(
        "grid-prompt-max-length-tiny",
        grid=_y(models=["{llama}"], methods=["zero-shot"], prompt={"max_length": 4}),
        expect=("max_length",),
    ),
    Case("grid-unknown-key", grid=_y(modles=["minilm"]), expect=("unknown setting 'modles'",)),
    # YAML reads yes/no/on/off as booleans: never a number (limit: yes evaluated one example)
    Case("grid-limit-yes", grid="{base}limit: yes\n", expect=("'eval_limit'", "yes/no")),
    Case("grid-eval-limit-true", grid=_y(eval_limit=True), expect=("'eval_limit'",)),
    Case("grid-seed-on", grid="{base}seed: on\n", expect=("'seed'", "expected a number")),
    Case("grid-num-fewshot-yes", grid="{base}num_fewshot: yes\n", expect=("'prompt.k'",)),
    Case("grid-epochs-true", grid=_y(finetune={"epochs": True}), expect=("'finetune.epochs'",)),
    Case("grid-batch-size-true", grid=_y(batch_size=True), expect=("'batch_size'",)),
    Case("grid-seeds-with-yes", grid="{base}seeds: [1, yes]\n", expect=("'seeds'",)),
    Case("grid-seeds-duplicated", grid=_y(seeds=[1, 2, 1]), expect=("seed 1 is given 2 times",)),
    Case(
        "grid-max-length-above-positions",
        grid=_y(finetune={"epochs": 1, "min_steps": 0, "max_length": 4096}),
        expect=("max_length 4096", "position embeddings for 512 tokens"),
    ),
    Case("grid-train-limit-[0]", grid=_y(train_limit=[0]), expect=("'train_limit'",)),
    Case("grid-train-limit-[]", grid=_y(train_limit=[]), expect=("'train_limit'", "empty")),
    Case("grid-train-limit-negative", grid=_y(train_limit=[-5]), expect=("'train_limit'",)),
    Case("grid-train-limit-nan", grid=_y(train_limit=math.nan), expect=("'train_limit'",)),
    Case("grid-train-limit-true", grid=_y(train_limit=[True]), expect=("'train_limit'",)),
    Case("grid-eval-limit-nan", grid=_y(eval_limit=math.nan), expect=("'eval_limit'",)),
    Case("grid-eval-limit-zero", grid=_y(eval_limit=0), expect=("'eval_limit'",)),
    Case("grid-limit-alias-zero", grid=_y(eval_limit=None, limit=0), expect=("'eval_limit'",)),
    Case("grid-latency-zero", grid=_y(latency_samples=0), expect=("'latency_samples'",)),
    Case("grid-batch-size-zero", grid=_y(batch_size=0), expect=("'batch_size'",)),
    Case("grid-batch-size-word", grid=_y(batch_size="big"), expect=("'batch_size'",)),
    Case("grid-precision-fp8", grid=_y(precision="fp8"), expect=("'precision'",)),
    Case("grid-device-tpu", grid=_y(device="tpu"), expect=("'device'",)),
    Case("grid-executor-slurm", grid=_y(executor="slurm"), expect=("executor",)),
    Case("grid-a-list", grid="- rte\n- minilm\n", expect=("expected a mapping",)),
    Case("grid-a-word", grid="hello\n", expect=("expected a mapping",)),
    Case("grid-empty-file", grid="", expect=("'tasks'",)),
    Case("grid-yaml-syntax", grid="tasks: [rte\n", expect=("not valid YAML",)),
    Case("grid-not-utf8", grid=b"tasks: [caf\xe9]\nmodels: [minilm]\n", expect=("grid.yaml",)),
    Case(
        "grid-unreadable",
        grid=_y(),
        setup=_unreadable,
        expect=("cannot read",),
        marks=[pytest.mark.skipif(ROOT, reason="root reads a file whatever its mode")],
    ),
    Case(
        "config-directory",
        args=("--config", "{dir}/grids"),
        setup=_a_folder,
        expect=("is a directory",),
    ),
    Case("config-missing", args=("--config", "{dir}/nope.yaml"), expect=("not found",)),
    # ---- flags -------------------------------------------------------------------------
    Case("seed-negative", ("--seed", "-1"), expect=("'seed'",)),
    Case("seed-too-large", ("--seed", str(2**32)), expect=("'seed'",)),
    Case("seed-word", ("--seed", "abc"), expect=("--seed",), usage=True),
    Case("seed-fraction", ("--seed", "1.5"), expect=("--seed",), usage=True),
    Case("seeds-negative", ("--seeds", "1,-2"), expect=("'seeds'",)),
    Case("seeds-empty", ("--seeds", ","), expect=("'seeds'",)),
    Case("seeds-duplicated", ("--seeds", "3,3,3"), expect=("'seeds'", "seed 3 is given 3 times")),
    Case("batch-size-zero", ("--batch-size", "0"), expect=("batch_size",)),
    Case("batch-size-negative", ("--batch-size", "-4"), expect=("batch_size",)),
    Case("batch-size-big", ("--batch-size", "big"), expect=("--batch-size",)),
    Case("batch-size-fraction", ("--batch-size", "1.5"), expect=("--batch-size",)),
    Case("method-zeroshot", ("--method", "zeroshot"), expect=("unknown method 'zeroshot'",)),
    Case("methods-empty", ("--method", ","), expect=("'methods'", "empty")),
    Case("task-unknown", ("--task", "rte2"), expect=("unknown task 'rte2'",)),
    Case("tasks-empty", ("--task", ","), expect=("no tasks",)),
    Case("lr-inf", ("--lr", "inf"), expect=("learning_rate",)),
    Case("lr-nan", ("--lr", "nan"), expect=("learning_rate",)),
    Case("lr-zero", ("--lr", "0"), expect=("learning_rate",)),
    Case("lr-word", ("--lr", "fast"), expect=("--lr",), usage=True),
    Case("epochs-zero", ("--epochs", "0"), expect=("epochs",)),
    Case("epochs-nan", ("--epochs", "nan"), expect=("epochs",)),
    Case("epochs-inf", ("--epochs", "inf"), expect=("epochs",)),
    Case("train-batch-size-zero", ("--train-batch-size", "0"), expect=("batch_size",)),
    Case("max-length-tiny", ("--max-length", "2"), expect=("max_length",)),
    Case(
        "max-length-above-positions",
        ("--max-length", "100000"),
        expect=("max_length 100000 (--max-length", "position embeddings for 512 tokens"),
    ),
    Case(
        "train-limit-above-rows",
        ("--train-file", "{dir}/toy.jsonl", "--train-limit", "100,200"),
        setup=_toy_data,
        expect=("--train-limit 100", "only 8 training examples", "or all"),
    ),
    Case("train-limit-zero", ("--train-limit", "0"), expect=("'train_limit'",)),
    Case("train-limit-word", ("--train-limit", "lots"), expect=("'train_limit'",)),
    Case("train-limit-fraction", ("--train-limit", "0.5"), expect=("'train_limit'",)),
    Case("train-limit-empty", ("--train-limit", ""), expect=("'train_limit'",)),
    Case("eval-limit-zero", ("--eval-limit", "0"), expect=("'eval_limit'",)),
    Case("eval-limit-negative", ("--eval-limit", "-5"), expect=("'eval_limit'",)),
    Case("latency-samples-zero", ("--latency-samples", "0"), expect=("'latency_samples'",)),
    Case("precision-fp8", ("--precision", "fp8"), expect=("'precision'",)),
    Case("device-tpu", ("--device", "tpu"), expect=("'device'",)),
    Case(
        "device-cuda-without-gpu",
        ("--device", "cuda"),
        expect=("--device cuda", "no CUDA GPU"),
        marks=[pytest.mark.skipif(HAS_CUDA, reason="this machine has a CUDA GPU")],
    ),
    Case(
        "device-cuda-index-without-gpu",
        ("--device", "cuda:3"),
        expect=("--device cuda:3",),
        marks=[pytest.mark.skipif(HAS_CUDA, reason="this machine has a CUDA GPU")],
    ),
    Case("executor-slurm", ("--executor", "slurm"), expect=("executor",)),
    Case("data-dir-missing", ("--data-dir", "/no/such/folder"), expect=("/no/such/folder",)),
    Case("preset-fast", ("--preset", "fast"), expect=("preset",)),
    Case("set-no-equals", ("--set", "finetune.epochs"), expect=("--set",)),
    Case("set-no-section", ("--set", "epochs=3"), expect=("--set",)),
    Case("set-unknown-section", ("--set", "distill.alpha=1"), expect=("distill",)),
    Case("set-unknown-key", ("--set", "finetune.epoch=2"), expect=("epoch",)),
    Case("set-wrong-type", ("--set", "finetune.warmup_ratio=many"), expect=("warmup_ratio",)),
    Case("scoring-sample", ("--scoring", "sample"), expect=("scoring",)),
    Case("k-negative", ("-k", "-1"), expect=("'prompt.k'",)),
    Case(
        "max-new-tokens-zero",
        (
            *LLM,
            "--method",
            "zero-shot",
            "--scoring",
            "generate",
            "--set",
            "prompt.max_new_tokens=0",
        ),
        expect=("max_new_tokens",),
    ),
    Case("k-huge", ("-k", "100000"), expect=("'prompt.k'",)),
    Case(
        "few-shot-k-zero",
        (*LLM, "--method", "few-shot", "-k", "0"),
        expect=("k=0", "--method zero-shot"),
    ),
    Case(
        "grid-few-shot-num-fewshot-zero",
        grid=_y(models=["{llama}"], methods=["zero-shot", "few-shot"], num_fewshot=0),
        expect=("k=0", "zero-shot"),
    ),
    Case("unknown-flag", ("--bogus",), expect=("--bogus",), usage=True),
    Case("eval-file-alone", ("--eval-file", "{dir}/eval.csv"), expect=("--train-file",)),
    Case(
        "holdout-above-one",
        ("--train-file", "{dir}/toy.jsonl", "--holdout", "1.5"),
        setup=_toy_data,
        expect=("holdout",),
    ),
    # ---- models ------------------------------------------------------------------------
    Case("model-unknown-alias", ("--model", "bert-huge"), expect=("unknown model 'bert-huge'",)),
    Case("model-path-missing", ("--model", "./no-such-model"), expect=("does not exist",)),
    Case(
        "model-folder-no-config",
        ("--model", "{dir}/model"),
        setup=_empty_model_folder,
        expect=("no config.json",),
    ),
    Case(
        "gguf-missing",
        ("--model", "{dir}/missing.gguf", "--method", "zero-shot"),
        expect=("missing.gguf", "not found"),
    ),
    Case("model-kind-mismatch", ("--model", "smollm2-135m"), expect=("causal LM",)),
    Case(
        "hub-id-missing",
        ("--model", "no-such-org/no-such-model"),
        expect=("no-such-org/no-such-model",),
    ),
    Case(
        "gguf-not-gguf",
        ("--model", "{dir}/model.gguf", "--method", "zero-shot"),
        setup=_fake_gguf,
        expect=("model.gguf", "not a GGUF file"),
    ),
    # ---- prompts: templates, answer words, instruction, k against the pool --------------
    Case(
        "template-without-text",
        (*LLM, "--method", "zero-shot", "--template", "Review: nothing to see"),
        expect=("no input field",),
    ),
    Case(
        "template-unknown-field",
        (*LLM, "--method", "zero-shot", "--template", "Review: {review}"),
        expect=("unknown field {review}",),
    ),
    Case(
        "template-broken-brace",
        (*LLM, "--method", "zero-shot", "--template", "Review: {text"),
        expect=("not a valid format string",),
    ),
    Case(
        "template-positional",
        (*LLM, "--method", "zero-shot", "--template", "Review: {0}"),
        expect=("template",),
    ),
    Case(
        "template-format-spec",
        (*LLM, "--method", "zero-shot", "--template", "{sentence1:>99999999} {sentence2}"),
        expect=("{sentence1:>99999999}", "not a plain field", "{sentence1}"),
    ),
    Case(
        "template-conversion",
        (*LLM, "--method", "zero-shot", "--template", "{sentence1!r} {sentence2}"),
        expect=("{sentence1!r}", "not a plain field"),
    ),
    Case(
        "template-attribute",
        (*LLM, "--method", "zero-shot", "--template", "{sentence1.__class__} {sentence2}"),
        expect=("{sentence1.__class__}", "not a plain field"),
    ),
    Case(
        "template-index",
        (*LLM, "--method", "few-shot", "--template", "{text[0]} {text_pair}"),
        expect=("{text[0]}", "not a plain field", "{text}"),
    ),
    Case(
        "template-nested-spec",
        (*LLM, "--method", "zero-shot", "--template", "{sentence1:{sentence2}}"),
        expect=("not a plain field",),
    ),
    Case(
        "grid-template-format-spec",
        grid=_y(models=["{llama}"], methods=["zero-shot"], prompt={"template": "{text:^9999}"}),
        expect=("{text:^9999}", "not a plain field"),
    ),
    Case(
        "verbalizers-too-few",
        (*LLM, "--method", "zero-shot", "--verbalizers", "yes"),
        expect=("1 verbalizers", "2 labels"),
    ),
    Case(
        "verbalizers-too-many",
        (*LLM, "--method", "few-shot", "--verbalizers", "yes,no,maybe"),
        expect=("3 verbalizers", "2 labels"),
    ),
    Case(
        "verbalizers-duplicated",
        (*LLM, "--method", "zero-shot", "--verbalizers", "Yes,yes!"),
        expect=("not distinct",),
    ),
    Case(
        "verbalizers-empty-word",
        (*LLM, "--method", "zero-shot", "--verbalizers", "yes,"),
        expect=("verbalizer is empty",),
    ),
    Case(
        "instruction-empty",
        (*LLM, "--method", "zero-shot", "--instruction", ""),
        expect=("instruction", "empty"),
    ),
    Case(
        "instruction-blank",
        (*LLM, "--method", "zero-shot", "--instruction", "   "),
        expect=("instruction", "empty"),
    ),
    Case(
        "k-larger-than-pool",
        (
            "--train-file",
            "{dir}/toy.jsonl",
            "--model",
            "{llama}",
            "--method",
            "few-shot",
            "-k",
            "30",
            "--latency-samples",
            "2",
        ),
        setup=_toy_data,
        expect=("k=30", "8 training examples"),
    ),
    # ---- labels: the label canon refuses missing markers and mixed booleans -------------
    Case(
        "label-na-marker",
        ("--train-file", "{dir}/toy.csv"),
        setup=_na_csv,
        expect=("row 11 (line 12) has no 'label' value ('N/A')", "labels"),
    ),
    Case(
        "label-json-null-word",
        ("--train-file", "{dir}/odd.jsonl"),
        setup=_labels_file("odd.jsonl", '"NULL"'),
        expect=("row 11 has no 'label' value ('NULL')",),
    ),
    Case(
        "label-boolean-among-strings",
        ("--train-file", "{dir}/odd.jsonl"),
        setup=_labels_file("odd.jsonl", "true"),
        expect=("mixes booleans", "row 11 is true", "row 1 is 'pos'"),
    ),
    # ---- the store path ----------------------------------------------------------------
    Case(
        "db-a-folder",
        db="stores",
        setup=lambda d: (d / "stores").mkdir(),
        expect=("is a directory",),
    ),
    Case("db-folder-missing", db="no/such/b.db", expect=("does not exist",)),
]


def _needs_llama(case: Case) -> bool:
    return "{llama}" in repr(case.args) + repr(case.grid)


def _files(folder: Path) -> dict[Path, str]:
    """Every file under the row's folder with its checksum: a refused run changes none of them
    and adds none (no store, no ``-wal``/``-shm``)."""
    return {
        p: hashlib.sha256(p.read_bytes()).hexdigest() if p.stat().st_mode & 0o444 else "unreadable"
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _grid_text(grid: dict[str, Any] | str | bytes, values: dict[str, str]) -> str | bytes:
    if isinstance(grid, bytes):
        return grid
    base = {k: v for k, v in GOOD_GRID.items()}
    if isinstance(grid, str):
        body = yaml.safe_dump(base, sort_keys=False) if "{base}" in grid else ""
        return _fill(grid.replace("{base}", body), values)
    for key, value in grid.items():
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    return _fill(yaml.safe_dump(base, sort_keys=False), values)


def _args(case: Case, folder: Path, db: Path, values: dict[str, str]) -> list[str]:
    args = ["run"]
    if case.grid is not None:
        text = _grid_text(case.grid, values)
        grid = folder / "grid.yaml"
        if isinstance(text, bytes):
            grid.write_bytes(text)
        else:
            grid.write_text(text, encoding="utf-8")
        args += ["--config", str(grid)]
    elif "--config" not in case.args:
        if "--task" not in case.args and "--train-file" not in case.args:
            args += ["--task", "rte"]
        if "--model" not in case.args:
            args += ["--model", "{bert}"]
        args += SMALL
    args += list(case.args)
    args += ["--db", str(db)]
    return [_fill(a, values) for a in args]


def _check(result: Any, case: Case) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    if case.usage:
        # click's own parse errors: one line naming the problem and where help is
        assert len(lines) == 1 and lines[0].startswith("error:"), result.output
        assert "-h`" in lines[0], result.output
        text = " ".join(result.output.split())
        for fragment in case.expect:
            assert fragment in text, result.output
        return
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: "), lines[0]
    for internal in ("Value error", "validation error", "pydantic", "errors.pydantic.dev"):
        assert internal not in lines[0], f"the error line shows a library's internals: {lines[0]}"
    for fragment in case.expect:
        assert fragment in lines[0], lines[0]


def _params() -> list[Any]:
    params = []
    for case in CASES:
        marks = list(case.marks)
        if case.lead:
            marks.append(pytest.mark.xfail(strict=True, reason=case.lead))
        params.append(pytest.param(case, id=case.id, marks=marks))
    return params


@pytest.mark.parametrize("store_before", [False, True], ids=["no-store", "existing-store"])
@pytest.mark.parametrize("case", _params())
def test_bad_input_is_one_error_line_and_writes_nothing(
    case: Case, store_before: bool, tmp_path: Path, data_dir: Path, tiny_bert: Path
) -> None:
    folder = tmp_path / "case"
    folder.mkdir()
    values = {"bert": str(tiny_bert), "dir": str(folder)}
    if _needs_llama(case):
        from tests.llm_fixtures import tiny_llama_path

        values["llama"] = str(tiny_llama_path())
    db = folder / (case.db or "results.db")
    if store_before and case.db is not None:
        pytest.skip("the row is about the store path itself")
    if case.setup is not None and case.grid is None:
        case.setup(folder)
    args = _args(case, folder, db, values)
    if case.setup is not None and case.grid is not None:
        case.setup(folder)
    if store_before:
        ResultsStore(db).close()
    before = _files(folder)
    result = CliRunner().invoke(app, args, env={"BAKEOFF_DATA_DIR": str(data_dir)})
    try:
        _check(result, case)
        after = _files(folder)
        if store_before:
            assert after[db] == before[db], "an existing results store was changed"
        else:
            assert db not in after, "a refused run created the results store"
        assert after == before, f"a refused run wrote {sorted(set(after) ^ set(before))}"
    finally:
        grid = folder / "grid.yaml"
        if grid.exists():
            grid.chmod(0o644)


def test_the_rows_start_from_a_grid_that_runs(
    tmp_path: Path, data_dir: Path, tiny_bert: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control row: the flags and the grid file every row alters pass every check, so each
    row's error comes from its one bad value. (run_grid is replaced: nothing trains.)"""
    import bakeoff.runner

    planned: list[Any] = []

    def record(plan: Any, db: Any, **kw: Any) -> Any:
        planned.append(plan)
        return bakeoff.runner.GridRun(plan, [], [])

    monkeypatch.setattr(bakeoff.runner, "run_grid", record)
    values = {"bert": str(tiny_bert), "dir": str(tmp_path)}
    for case in (Case("flags"), Case("grid", grid=_y())):
        result = CliRunner().invoke(
            app,
            _args(case, tmp_path, tmp_path / "b.db", values),
            env={"BAKEOFF_DATA_DIR": str(data_dir)},
        )
        assert result.exit_code == 0, result.output
    assert [len(p.experiments) for p in planned] == [1, 1]
    assert all(p.experiments[0].config.eval_limit == 16 for p in planned)


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
