"""The prompted methods on the real shipped models and the real data (small limits)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bakeoff.backends import causal_lm
from bakeoff.classifier import NullProgress, Prepared
from bakeoff.config import ExperimentConfig, PromptSettings
from bakeoff.data import TaskData, load_builtin, stratified_indices
from bakeoff.methods.prompted import PromptedClassifier, PromptedMethod
from bakeoff.tasks import get_task
from tests.llm_fixtures import naive_logliks

pytestmark = pytest.mark.integration


def _require(alias: str) -> None:
    from bakeoff.errors import BakeoffError
    from bakeoff.models import resolve_model

    try:
        resolve_model(alias)
    except BakeoffError as exc:
        pytest.skip(str(exc))


def _prepare(
    data: TaskData, model: str, method: str, precision: str = "auto", **prompt: Any
) -> Prepared:
    _require(model)
    config = ExperimentConfig(
        task=data.task.name,
        data_fingerprint=data.fingerprint,
        eval_split=data.eval_split,
        model=model,
        method=method,  # type: ignore[arg-type]
        precision=precision,  # type: ignore[arg-type]
        settings=PromptSettings(**prompt),
    )
    return PromptedMethod().prepare(config, data, NullProgress())


def _subset(data: TaskData, n: int) -> list[Any]:
    return [data.eval[i] for i in stratified_indices([ex.label for ex in data.eval], n, 99)]


def test_smollm2_batch_size_does_not_change_predictions(data_dir: Path) -> None:
    data = load_builtin(get_task("sst2"), data_dir)
    prepared = _prepare(data, "smollm2-135m", "zero-shot", precision="fp32")
    assert prepared.training.details["chat_template"] and prepared.training.details["single_pass"]
    assert "<|im_start|>assistant\n" in prepared.training.details["example_prompt"]
    examples = _subset(data, 8)
    one = prepared.classifier.predict(examples, batch_size=1)
    eight = prepared.classifier.predict(examples, batch_size=8)
    assert one.labels == eight.labels
    flat = [x for row in one.scores for x in row]
    assert flat == pytest.approx([x for row in eight.scores for x in row], abs=1e-4)


def test_smollm2_few_shot_generation_is_parsed_strictly(data_dir: Path) -> None:
    data = load_builtin(get_task("sst2"), data_dir)
    prepared = _prepare(data, "smollm2-135m", "few-shot", scoring="generate", k=5)
    clf = prepared.classifier
    assert isinstance(clf, PromptedClassifier)
    examples = _subset(data, 6)
    predictions = clf.predict(examples)
    assert predictions.raw is not None and all(isinstance(r, str) for r in predictions.raw)
    assert predictions.labels == [clf.fmt.parse(r) for r in predictions.raw]
    train_texts = {data.train[i].text for i in prepared.training.details["few_shot_indices"]}
    assert len(train_texts) == 5 and all(
        t.strip() in prepared.training.details["example_prompt"] for t in train_texts
    )


def test_gemma3_base_model_few_shot_loglik_beats_chance(data_dir: Path) -> None:
    """A base model without a chat template: plain prompt, answers after 'Answer:'. Few-shot
    label log-likelihood on SST-2 is far above chance; a label mix-up would be far below."""
    data = load_builtin(get_task("sst2"), data_dir)
    prepared = _prepare(data, "gemma3-270m", "few-shot", k=5)
    info = prepared.training
    assert not info.details["chat_template"]
    assert info.details["example_prompt"].endswith("\nAnswer:")
    assert info.details["answer_tokens"] == [["▁negative"], ["▁positive"]]
    examples = _subset(data, 24)
    predictions = prepared.classifier.predict(examples)
    accuracy = sum(p == ex.label for p, ex in zip(predictions.labels, examples)) / len(examples)
    assert accuracy >= 0.65


def test_gemma3_prefix_cache_is_exact_beyond_the_sliding_window(data_dir: Path) -> None:
    """BoolQ few-shot prompts are longer than Gemma-3's 512-token sliding window."""
    data = load_builtin(get_task("boolq"), data_dir)
    prepared = _prepare(data, "gemma3-270m", "few-shot", precision="fp32", k=2)
    clf = prepared.classifier
    assert isinstance(clf, PromptedClassifier) and clf.prefix is not None
    examples = sorted(data.eval[:12], key=lambda ex: len(ex.text_pair or ""))[:2]
    requests, _ = clf.requests([clf.builder.prompt(ex) for ex in examples])
    assert all(len(r.context) > 512 and clf.prefix.covers(r.context) for r in requests)
    cached = clf.engine.loglik(requests, clf.prefix, batch_size=2)
    for request, row in zip(requests, cached):
        plain = naive_logliks(clf.lm.model, request.context, request.continuations)
        assert row == pytest.approx(plain, abs=1e-3)


def test_gguf_is_dequantised_once_then_loaded_from_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    _require("smollm2-135m")
    monkeypatch.setenv("BAKEOFF_CACHE", str(tmp_path))
    monkeypatch.setattr(causal_lm, "_LAST", {})
    first = causal_lm.load_causal_lm("smollm2-135m", "cpu", "fp32")
    assert first.origin == "gguf"
    assert list((tmp_path / "gguf").iterdir())
    monkeypatch.setattr(causal_lm, "_LAST", {})
    second = causal_lm.load_causal_lm("smollm2-135m", "cpu", "fp32")
    assert second.origin == "gguf-cache"
    assert second.tokenizer.chat_template == first.tokenizer.chat_template
    ids = first.tokenizer("The film was", return_tensors="pt").input_ids
    with torch.inference_mode():
        assert torch.equal(first.model(ids).logits, second.model(ids).logits)
