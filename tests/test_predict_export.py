"""Keeping, predicting with and exporting a finished classifier (artifacts, predict, export).

A tiny random BERT (``tiny_bert``) stands in for a fine-tuned encoder: these tests check
plumbing and exactness (same predictions as ``classifier.predict``, every row exactly once after
a crash, exported models agreeing), not accuracy.
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from bakeoff.artifacts import (
    ARTIFACT_FILE,
    artifact_size,
    load_classifier,
    read_artifact,
    recipe_from_classifier,
    save_encoder,
    save_encoder_classifier,
    save_prompted_recipe,
)
from bakeoff.data import Example
from bakeoff.errors import BakeoffError
from bakeoff.export import export_encoder, export_onnx, export_recipe
from bakeoff.predict import _Output, predict_file

LABELS = ("neg", "pos")
WORDS = (
    "a film of rare warmth and wit , the cast is superb but the script wanders ; dull "
    "beautifully shot yet hollow at its core i loved it hated every minute of this mess"
).split()


def _texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(1, 40))) for _ in range(n)]


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write rows as CSV, JSON Lines or Parquet by suffix (None stays missing)."""
    if path.suffix == ".csv":
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=64)
    return path


def _read(path: Path) -> list[dict[str, Any]]:
    """Output rows with probabilities as floats and ids as the writer wrote them."""
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        for row in rows:
            for key in row:
                if key.startswith("p_"):
                    row[key] = float(row[key])
        return rows
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Any:
    """Tiny models gain nothing from threads, and on a busy 2-core machine OpenMP threads that
    wait for each other make every forward pass many times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def artifact(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert)
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    folder = tmp_path_factory.mktemp("artifacts") / "exp-encoder"
    return save_encoder(
        folder,
        model,
        tokenizer,
        LABELS,
        {"max_length": 32, "learning_rate": 5e-5},
        "fp32",
        batch_size=8,
        extra={"experiment_id": "exp-encoder"},
    )


@pytest.fixture(scope="module")
def clf(artifact: Path) -> Any:
    return load_classifier(artifact, device="cpu")


def _expected(clf: Any, examples: list[Example]) -> tuple[list[str], list[list[float]]]:
    pred = clf.predict(examples)
    return [LABELS[i] for i in pred.labels], pred.scores


def _assert_rows(rows: list[dict[str, Any]], labels: list[str], scores: list[list[float]]) -> None:
    assert [r["label"] for r in rows] == labels
    assert [[r["p_neg"], r["p_pos"]] for r in rows] == scores  # exact: same batches, same floats


# ---------------------------------------------------------------------------------------------
# artifacts


def test_encoder_artifact_round_trip(artifact: Path, clf: Any, tiny_bert: Path) -> None:
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    from bakeoff.methods.finetune import EncoderClassifier

    meta = read_artifact(artifact)
    assert meta["kind"] == "encoder" and meta["label_names"] == list(LABELS)
    assert (meta["max_length"], meta["batch_size"], meta["precision"]) == (32, 8, "fp32")
    assert meta["extra"] == {"experiment_id": "exp-encoder"}
    assert AutoConfig.from_pretrained(artifact).id2label == {0: "neg", 1: "pos"}
    assert artifact_size(artifact) == sum(p.stat().st_size for p in artifact.iterdir())
    assert artifact_size(artifact) > 100_000 and artifact_size(artifact / "nope") == 0

    original = EncoderClassifier(
        AutoModelForSequenceClassification.from_pretrained(tiny_bert),
        AutoTokenizer.from_pretrained(tiny_bert),
        LABELS,
        32,
        8,
        "cpu",
        "fp32",
    )
    examples = [Example(t, 0) for t in _texts(50)]
    want, got = original.predict(examples), clf.predict(examples)
    assert (got.labels, got.scores) == (want.labels, want.scores)
    assert (clf.batch_size, clf.max_length, clf.precision) == (8, 32, "fp32")


def test_bf16_experiments_keep_bf16_weights_and_the_same_predictions(
    tiny_bert: Path, tmp_path: Path, artifact: Path
) -> None:
    """bf16 storage is exact for a bf16 experiment (its model ran cast to bf16 anyway) and half
    the size; the classifier saved is the live one, as the runner would save it."""
    from safetensors import safe_open
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from bakeoff.methods.finetune import EncoderClassifier

    live = EncoderClassifier(
        AutoModelForSequenceClassification.from_pretrained(tiny_bert),
        AutoTokenizer.from_pretrained(tiny_bert),
        LABELS,
        32,
        16,
        "cpu",
        "bf16",
    )
    folder = save_encoder_classifier(tmp_path / "bf16", live, {"max_length": 32})
    with safe_open(str(folder / "model.safetensors"), "pt") as fh:
        assert {str(fh.get_tensor(k).dtype) for k in fh.keys()} == {"torch.bfloat16"}
    assert artifact_size(folder / "model.safetensors") < 0.6 * artifact_size(
        artifact / "model.safetensors"
    )
    again = load_classifier(folder, device="cpu", precision="bf16")
    examples = [Example(t, 0) for t in _texts(40, seed=3)]
    want, got = live.predict(examples), again.predict(examples)
    assert (got.labels, got.scores) == (want.labels, want.scores)
    assert read_artifact(folder)["batch_size"] == 16


def test_unreadable_artifacts_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(BakeoffError, match="not found"):
        load_classifier(tmp_path / "missing")
    with pytest.raises(BakeoffError, match=ARTIFACT_FILE):
        load_classifier(tmp_path)
    (tmp_path / "r.json").write_text('{"kind": "prompted", "format_version": 99}')
    with pytest.raises(BakeoffError, match="newer"):
        load_classifier(tmp_path / "r.json")
    (tmp_path / "r.json").write_text('{"kind": "prompted"}')
    with pytest.raises(BakeoffError, match="lacks model"):
        load_classifier(tmp_path / "r.json", device="cpu")


# ---------------------------------------------------------------------------------------------
# predict


@pytest.mark.parametrize(
    "src,dst",
    [
        ("csv", "csv"),
        ("jsonl", "jsonl"),
        ("parquet", "parquet"),
        ("csv", "parquet"),
        ("parquet", "jsonl"),
    ],
)
def test_predict_file_equals_classifier_predict(
    clf: Any, tmp_path: Path, src: str, dst: str
) -> None:
    texts = _texts(150)
    source = _write(tmp_path / f"in.{src}", [{"text": t, "other": i} for i, t in enumerate(texts)])
    out = tmp_path / f"out.{dst}"
    seen: list[tuple[int, int | None]] = []
    summary = predict_file(
        clf, source, out, chunk_rows=1000, progress=lambda d, t: seen.append((d, t))
    )
    rows = _read(out)
    _assert_rows(rows, *_expected(clf, [Example(t, 0) for t in texts]))
    assert [r["row"] for r in rows] == [str(i) if dst == "csv" else i for i in range(150)]
    assert list(rows[0]) == ["row", "label", "p_neg", "p_pos"]
    assert (summary.rows_total, summary.rows_written, summary.rows_skipped) == (150, 150, 0)
    assert summary.skipped_file is None and summary.resumed_at == 0
    assert seen[-1] == (150, 150) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert not list(tmp_path.glob("out*.progress.json")) and not list(tmp_path.glob("*.parts"))


HUGE_PAGE_PROBE = """
from bakeoff.predict import use_huge_pages_for_tensors
on = use_huge_pages_for_tensors()
import torch
tensor = torch.empty(4 << 20, dtype=torch.uint8)  # kept alive while smaps is read
ptr = tensor.data_ptr()
flags = []
with open("/proc/self/smaps") as fh:
    inside = False
    for line in fh:
        head = line.split()[0]
        if "-" in head and not head.endswith(":"):
            low, high = (int(x, 16) for x in head.split("-"))
            inside = low <= ptr < high
        elif inside and line.startswith("VmFlags"):
            flags = line.split()[1:]
print(on, "hg" in flags, ptr % 4096 == 0, use_huge_pages_for_tensors())
"""


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize(
    ("preset", "expected"), [(None, "True True True True"), ("0", "False False False False")]
)
def test_predict_puts_large_tensors_on_huge_pages_unless_told_not_to(
    preset: str | None, expected: str
) -> None:
    """The switch reaches torch only when set before torch loads: its 4 MB tensor is then
    page-aligned and madvised for huge pages (VmFlags ``hg``). A user's own
    THP_MEM_ALLOC_ENABLE=0 wins. Once torch is loaded the function only says whether it is on."""
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    if preset is not None:
        env["THP_MEM_ALLOC_ENABLE"] = preset
    out = subprocess.run(
        [sys.executable, "-c", HUGE_PAGE_PROBE], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-4:] == expected.split()


def test_chunks_are_classified_as_separate_predict_calls(clf: Any, tmp_path: Path) -> None:
    texts = _texts(150, seed=1)
    source = _write(tmp_path / "in.parquet", [{"text": t} for t in texts])  # row groups of 64
    predict_file(clf, source, tmp_path / "out.jsonl", chunk_rows=40)
    labels: list[str] = []
    scores: list[list[float]] = []
    for start in range(0, 150, 40):
        part = _expected(clf, [Example(t, 0) for t in texts[start : start + 40]])
        labels += part[0]
        scores += part[1]
    _assert_rows(_read(tmp_path / "out.jsonl"), labels, scores)


def test_text_pairs_and_a_user_id_column(clf: Any, tmp_path: Path) -> None:
    texts, pairs = _texts(30, seed=2), _texts(30, seed=3)
    rows = [{"key": f"r-{i}", "a": t, "b": p} for i, (t, p) in enumerate(zip(texts, pairs))]
    out = tmp_path / "out.csv"
    predict_file(
        clf, _write(tmp_path / "in.csv", rows), out, text_column="a", text_pair_column="b",
        id_column="key",
    )  # fmt: skip
    got = _read(out)
    assert list(got[0]) == ["key", "label", "p_neg", "p_pos"]
    assert [r["key"] for r in got] == [f"r-{i}" for i in range(30)]
    _assert_rows(got, *_expected(clf, [Example(t, 0, p) for t, p in zip(texts, pairs)]))


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_empty_texts_go_to_the_side_file(clf: Any, tmp_path: Path, fmt: str) -> None:
    texts: list[Any] = _texts(12, seed=4)
    texts[2], texts[5], texts[9] = "", "   \t", None
    rows = [{"id": 100 + i, "text": t} for i, t in enumerate(texts)]
    if fmt == "jsonl":
        del rows[9]["text"]  # a missing key is a missing text too
    out = tmp_path / f"out.{fmt}"
    summary = predict_file(clf, _write(tmp_path / f"in.{fmt}", rows), out, id_column="id")
    kept = [i for i in range(12) if i not in (2, 5, 9)]
    got = _read(out)
    assert [str(r["id"]) for r in got] == [str(100 + i) for i in kept]
    _assert_rows(got, *_expected(clf, [Example(texts[i], 0) for i in kept]))
    assert (summary.rows_written, summary.rows_skipped) == (9, 3)
    with summary.skipped_file.open(encoding="utf-8") as fh:  # type: ignore[union-attr]
        skipped = list(csv.DictReader(fh))
    # a CSV cell cannot tell an empty string from a missing value
    missing = "empty text" if fmt == "csv" else "missing text"
    assert skipped == [
        {"id": "102", "reason": "empty text"},
        {"id": "105", "reason": "empty text"},
        {"id": "109", "reason": missing},
    ]


def _fail_after_writing_chunk(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    """The n-th chunk's rows reach the output, then the run dies before recording them."""
    original = _Output.write_chunk
    calls = {"n": 0}

    def write_then_die(self: _Output, *args: Any) -> None:
        original(self, *args)
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt

    monkeypatch.setattr(_Output, "write_chunk", write_then_die)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_resume_after_a_crash_writes_every_row_exactly_once(
    clf: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    texts: list[Any] = _texts(130, seed=5)
    texts[7] = texts[77] = ""
    source = _write(tmp_path / f"in.{fmt}", [{"text": t} for t in texts])
    clean, out = tmp_path / f"clean.{fmt}", tmp_path / f"out.{fmt}"
    predict_file(clf, source, clean, chunk_rows=20)

    with monkeypatch.context() as patch:
        _fail_after_writing_chunk(patch, 3)
        with pytest.raises(KeyboardInterrupt):
            predict_file(clf, source, out, chunk_rows=20)
    progress = json.loads((tmp_path / f"out.{fmt}.progress.json").read_text())
    assert progress["rows_done"] == 40  # the third chunk was written but never recorded
    if fmt != "parquet":  # and a kill in the middle of a write leaves half a row
        with out.open("ab") as fh:
            fh.write(b"999,pos,0.5")
    summary = predict_file(clf, source, out, chunk_rows=20)
    assert summary.resumed_at == 40 and summary.rows_written == 128
    if fmt == "parquet":
        assert _read(out) == _read(clean)
    else:
        assert out.read_bytes() == clean.read_bytes()
    ids = [int(r["row"]) for r in _read(out)]
    assert ids == [i for i in range(130) if i not in (7, 77)]
    assert (tmp_path / f"out.{fmt}.skipped.csv").read_bytes() == (
        tmp_path / f"clean.{fmt}.skipped.csv"
    ).read_bytes()
    assert not (tmp_path / f"out.{fmt}.progress.json").exists()


_KILLER = """
import os, signal, sys
from bakeoff.artifacts import load_classifier
from bakeoff.predict import predict_file

clf = load_classifier(sys.argv[1], device="cpu")

def progress(done, total):
    if done >= int(sys.argv[4]):
        os.kill(os.getpid(), signal.SIGKILL)

predict_file(clf, sys.argv[2], sys.argv[3], chunk_rows=25, progress=progress)
"""


def test_kill_9_mid_chunk_then_run_again(clf: Any, artifact: Path, tmp_path: Path) -> None:
    texts = _texts(140, seed=6)
    source = _write(tmp_path / "in.csv", [{"text": t} for t in texts])
    out, clean = tmp_path / "out.csv", tmp_path / "clean.csv"
    script = tmp_path / "killer.py"
    script.write_text(textwrap.dedent(_KILLER), encoding="utf-8")
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(script), str(artifact), str(source), str(out), "90"],
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    assert json.loads((tmp_path / "out.csv.progress.json").read_text())["rows_done"] == 75
    summary = predict_file(clf, source, out, chunk_rows=25)
    predict_file(clf, source, clean, chunk_rows=25)
    assert summary.resumed_at == 75
    assert out.read_bytes() == clean.read_bytes()
    assert [int(r["row"]) for r in _read(out)] == list(range(140))


def test_finished_outputs_and_other_jobs_are_not_overwritten(clf: Any, tmp_path: Path) -> None:
    source = _write(tmp_path / "in.csv", [{"text": t, "t2": t} for t in _texts(30, seed=7)])
    out = tmp_path / "out.csv"
    predict_file(clf, source, out)
    with pytest.raises(BakeoffError, match="already exists"):
        predict_file(clf, source, out)
    assert predict_file(clf, source, out, overwrite=True).rows_written == 30

    out.unlink()
    with pytest.MonkeyPatch.context() as patch:
        _fail_after_writing_chunk(patch, 2)  # the first chunk is recorded, so there is work to keep
        with pytest.raises(KeyboardInterrupt):
            predict_file(clf, source, out, chunk_rows=10)
    with pytest.raises(BakeoffError, match="text_column differ"):
        predict_file(clf, source, out, chunk_rows=10, text_column="t2")
    with pytest.raises(BakeoffError, match="chunk_rows differ"):
        predict_file(clf, source, out, chunk_rows=11)
    assert predict_file(clf, source, out, chunk_rows=10).resumed_at == 10


def test_bad_inputs_are_one_line_errors(clf: Any, tmp_path: Path) -> None:
    source = _write(tmp_path / "in.csv", [{"review": "fine", "label": "pos"}])
    with pytest.raises(BakeoffError, match="no column 'text'"):
        predict_file(clf, source, tmp_path / "o.csv")
    with pytest.raises(BakeoffError, match="unsupported suffix"):
        predict_file(clf, source, tmp_path / "o.txt", text_column="review")
    with pytest.raises(BakeoffError, match="is the input"):
        predict_file(clf, source, source, text_column="review", overwrite=True)
    with pytest.raises(BakeoffError, match="clashes"):
        predict_file(clf, source, tmp_path / "o.csv", text_column="review", id_column="label")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"text": \n', encoding="utf-8")
    with pytest.raises(BakeoffError, match="line 2 is not valid JSON"):
        predict_file(clf, bad, tmp_path / "o.jsonl")


# ---------------------------------------------------------------------------------------------
# export


CARD = {
    "experiment_id": "exp-encoder",
    "task": "sst2",
    "base_model": "sentence-transformers/all-MiniLM-L6-v2",
    "data": {"source": "local:sst2", "train_split": "train", "n_train": 1000,
             "eval_split": "validation", "n_eval": 872},
    "metrics": {"accuracy": 0.85, "accuracy_ci_low": 0.8253, "accuracy_ci_high": 0.8718,
                "n": 872, "macro_f1": 0.849},
    "timing": {"throughput_per_s": 1234.5, "batch_size": 128, "latency_median_ms": 4.2,
               "latency_p95_ms": 6.0, "device": "cpu"},
    "environment": {"cpu": "Test CPU"},
}  # fmt: skip


def test_export_loads_in_a_transformers_pipeline_and_agrees_with_predict(
    artifact: Path, clf: Any, tmp_path: Path
) -> None:
    from transformers import pipeline

    folder = export_encoder(artifact, tmp_path / "hf", CARD)
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "pipeline_tag: text-classification" in card
    assert "85.0 [82.5, 87.2]" in card and "872" in card and "1,234.5" in card
    with pytest.raises(BakeoffError, match="already exists"):
        export_encoder(artifact, folder, CARD)

    texts = _texts(25, seed=8)
    source = _write(tmp_path / "in.csv", [{"text": t} for t in texts])
    predict_file(clf, source, tmp_path / "out.csv")
    rows = _read(tmp_path / "out.csv")
    pipe = pipeline("text-classification", model=str(folder), top_k=None, device="cpu")
    for row, result in zip(rows, pipe(texts, truncation=True)):
        scores = {r["label"]: r["score"] for r in result}
        assert max(scores, key=scores.get) == row["label"]
        assert scores["pos"] == pytest.approx(row["p_pos"], abs=1e-5)
    # the exported folder is itself an artifact predict accepts
    again = load_classifier(folder, device="cpu").predict([Example(t, 0) for t in texts])
    assert [LABELS[i] for i in again.labels] == [r["label"] for r in rows]


def test_onnx_export_agrees_with_torch_and_predict(
    artifact: Path, clf: Any, tmp_path: Path
) -> None:
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    import numpy as np

    texts = _texts(40, seed=9)
    check = export_onnx(artifact, tmp_path / "model.onnx", sample_texts=texts)
    assert check.n_checked == 40 and check.argmax_agree == 40
    assert check.max_abs_diff <= check.tolerance == 1e-4
    props = {p.key: p.value for p in onnx.load(str(check.path)).metadata_props}
    assert json.loads(props["label_names"]) == list(LABELS) and props["max_length"] == "32"

    predict_file(
        clf, _write(tmp_path / "in.jsonl", [{"text": t} for t in texts]), tmp_path / "o.jsonl"
    )
    rows = _read(tmp_path / "o.jsonl")
    session = ort.InferenceSession(str(check.path), providers=["CPUExecutionProvider"])
    enc = clf.tokenizer(texts, truncation=True, max_length=32, padding=True, return_tensors="np")
    logits = session.run(None, {i.name: enc[i.name] for i in session.get_inputs()})[0]
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    assert [LABELS[i] for i in probs.argmax(-1)] == [r["label"] for r in rows]
    assert np.abs(probs[:, 1] - [r["p_pos"] for r in rows]).max() < 1e-4

    with pytest.raises(BakeoffError, match="disagrees"):
        export_onnx(artifact, tmp_path / "strict.onnx", sample_texts=texts[:4], tolerance=-1.0)
    assert not (tmp_path / "strict.onnx").exists()


# ---------------------------------------------------------------------------------------------
# prompted recipes


def test_prompted_recipe_round_trip_and_predict(tmp_path: Path) -> None:
    from bakeoff.backends.causal_lm import load_causal_lm
    from bakeoff.config import PromptSettings
    from bakeoff.methods.prompted import PromptedClassifier
    from bakeoff.prompts import PromptBuilder, build_format
    from tests.llm_fixtures import tiny_llama_path, toy_sst2

    data = toy_sst2()
    model = str(tiny_llama_path())
    settings = PromptSettings(k=3)
    lm = load_causal_lm(model, "cpu", "fp32")
    shots = [data.train[0], data.train[7], data.train[3]]
    builder = PromptBuilder(build_format(data.task, settings), shots, lm.tokenizer, True)
    live = PromptedClassifier(lm, builder, settings, "cpu", 4, False)
    probes = data.train[:16]
    live.encode_prefix(probes)

    recipe = recipe_from_classifier(live, model, "fp32", probes, extra={"experiment_id": "x"})
    path = save_prompted_recipe(tmp_path / "recipe.json", recipe)
    stored = json.loads(path.read_text(encoding="utf-8"))
    assert stored["kind"] == "prompted" and stored["demonstrations"][1] == {
        "text": data.train[7].text, "text_pair": None, "label": "negative"
    }  # fmt: skip
    assert stored["chat_template"] is True and stored["verbalizers"] == ["negative", "positive"]

    copy = export_recipe(path, tmp_path / "exported" / "recipe.json")
    rebuilt = load_classifier(copy, device="cpu")
    assert rebuilt.builder.prompt(data.eval[0]) == live.builder.prompt(data.eval[0])
    assert rebuilt.prefix.tokens == live.prefix.tokens
    want, got = live.predict(data.eval), rebuilt.predict(data.eval)
    assert got.labels == want.labels
    flat = [p for row in got.scores for p in row]
    assert flat == pytest.approx([p for row in want.scores for p in row], abs=1e-6)

    source = _write(tmp_path / "in.csv", [{"sentence": ex.text} for ex in data.eval])
    predict_file(rebuilt, source, tmp_path / "out.csv", text_column="sentence")
    rows = _read(tmp_path / "out.csv")
    assert list(rows[0]) == ["row", "label", "p_negative", "p_positive"]
    assert [r["label"] for r in rows] == [data.task.label_names[i] for i in want.labels]
