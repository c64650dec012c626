"""The scoring engine and the prompted method on tiny random-weight models with a real tokenizer.

Weights are random, so accuracy means nothing here; what is checked is that every shortcut
(single pass, KV-cache continuations, prefix cache, batching with padding) gives exactly the
log-likelihoods of a plain forward pass over the tokenizer's own tokenisation of the full text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bakeoff.backends.causal_lm import gguf_cache_dir, load_causal_lm
from bakeoff.classifier import INVALID, NullProgress
from bakeoff.config import ExperimentConfig, PromptSettings
from bakeoff.errors import BakeoffError
from bakeoff.methods.prompted import PromptedClassifier, PromptedMethod
from bakeoff.models import ResolvedModel
from bakeoff.prompts import PromptBuilder, build_format, sample_shots
from bakeoff.scoring import (
    CausalLMEngine,
    build_requests,
    prompt_tokens,
    shared_prefix_tokens,
)
from tests.llm_fixtures import (
    load_tiny,
    naive_logliks,
    smollm2_tokenizer,
    tiny_gemma3_path,
    tiny_llama_path,
    toy_sst2,
)

MULTI_TOKEN = ("thoroughly unpleasant", "wonderful")


def _flat(rows: Any) -> list[float]:
    return [x for row in rows for x in row]


def _enc(text: str, special: bool = False) -> list[int]:
    return smollm2_tokenizer()(text, add_special_tokens=special)["input_ids"]


# -- tokenisation seams --------------------------------------------------------------------------


def test_answer_tokens_after_chat_turn_and_after_plain_cue() -> None:
    tok = smollm2_tokenizer()
    (chat,), _ = build_requests(tok, ["<|im_start|>assistant\n"], "", ["positive"], False, 64)
    assert tok.convert_ids_to_tokens(list(chat.continuations[0])) == ["positive"]
    (plain,), _ = build_requests(tok, ["Answer:"], " ", ["positive"], True, 64)
    assert tok.convert_ids_to_tokens(list(plain.continuations[0])) == ["Ġpositive"]
    (multi,), _ = build_requests(tok, ["Answer:"], " ", MULTI_TOKEN, True, 64)
    assert len(multi.continuations[0]) > 1
    for answer, cont in zip(MULTI_TOKEN, multi.continuations):
        assert list(multi.context) + list(cont) == _enc("Answer: " + answer, True)


def test_merged_seam_moves_the_prompt_tail_into_the_continuations() -> None:
    tok = smollm2_tokenizer()
    prompt, answers = "the weather is wor", ["ld", "se"]
    assert _enc(prompt + "ld")[: len(_enc(prompt))] != _enc(prompt)  # the tokenizer merges
    (request,), _ = build_requests(tok, [prompt], "", answers, False, 64)
    for answer, cont in zip(answers, request.continuations):
        assert list(request.context) + list(cont) == _enc(prompt + answer)


def test_context_is_cut_from_the_left_to_fit_max_length() -> None:
    tok = smollm2_tokenizer()
    prompt = "one two three four five six seven eight nine ten Answer:"
    (request,), truncated = build_requests(tok, [prompt], " ", ["yes"], True, 6)
    assert truncated == 1
    assert len(request.context) + 1 == 6
    assert list(request.context) == _enc(prompt, True)[-5:]
    (ids,), truncated = prompt_tokens(tok, [prompt], True, 4)
    assert truncated == 1 and list(ids) == _enc(prompt, True)[-4:]


def test_shared_prefix_stops_before_a_merged_token() -> None:
    tok = smollm2_tokenizer()
    prefix, probes = "Say hello wor", ["ld", "k harder", " now"]
    kept = shared_prefix_tokens(tok, prefix, probes, False)
    assert len(kept) < len(_enc(prefix))
    for probe in probes:
        assert list(kept) == _enc(prefix + probe)[: len(kept)]


@pytest.mark.parametrize("use_chat", [True, False])
def test_prefix_plus_rest_is_the_full_prompt_tokenisation(use_chat: bool) -> None:
    data, tok = toy_sst2(), smollm2_tokenizer()
    shots = [data.train[i] for i in sample_shots(data.train, 4, 99)]
    builder = PromptBuilder(build_format(data.task, PromptSettings()), shots, tok, use_chat)
    parts = builder.parts
    probes = [builder.fmt.render_input(s) + parts.suffix for s in shots] + [parts.suffix]
    prefix = shared_prefix_tokens(tok, parts.prefix, probes, parts.add_special_tokens)
    assert len(prefix) > 20
    prompts = [builder.prompt(ex) for ex in data.eval]
    requests, _ = build_requests(
        tok, prompts, parts.delimiter, builder.fmt.verbalizers, parts.add_special_tokens, 2048
    )
    for prompt, request in zip(prompts, requests):
        full = _enc(prompt, parts.add_special_tokens)
        assert tuple(full[: len(prefix)]) == prefix
        assert list(request.context) == full


# -- engine exactness ----------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["llama", "gemma3-sliding"])
def tiny_model(request: pytest.FixtureRequest) -> Any:
    return load_tiny(tiny_llama_path() if request.param == "llama" else tiny_gemma3_path())


def _few_shot_requests(answers: tuple[str, ...], k: int = 3) -> tuple[list[Any], tuple[int, ...]]:
    """Chat prompts of the toy eval set (lengths differ, so batches need padding)."""
    data, tok = toy_sst2(), smollm2_tokenizer()
    shots = [data.train[i] for i in sample_shots(data.train, k, 99)]
    fmt = build_format(data.task, PromptSettings(verbalizers=answers))
    builder = PromptBuilder(fmt, shots, tok, True)
    prompts = [builder.prompt(ex) for ex in data.eval]
    requests, _ = build_requests(tok, prompts, "", answers, False, 2048)
    probes = [fmt.render_input(s) + builder.parts.suffix for s in shots]
    return requests, shared_prefix_tokens(tok, builder.parts.prefix, probes, False)


@pytest.mark.parametrize("answers", [("negative", "positive"), MULTI_TOKEN])
def test_engine_matches_plain_forward_passes(tiny_model: Any, answers: tuple[str, ...]) -> None:
    requests, prefix_tokens = _few_shot_requests(answers)
    reference = [naive_logliks(tiny_model, r.context, r.continuations) for r in requests]
    engine = CausalLMEngine(tiny_model, smollm2_tokenizer().pad_token_id, "cpu")
    prefix = engine.encode_prefix(prefix_tokens)
    assert all(prefix.covers(r.context) for r in requests)
    for pre, batch_size in ((prefix, 1), (prefix, 16), (None, 4)):
        got = engine.loglik(requests, pre, batch_size)
        assert _flat(got) == pytest.approx(_flat(reference), abs=1e-4)


def test_single_token_answers_take_one_pass_with_last_position_logits() -> None:
    model = load_tiny(tiny_llama_path())
    requests, prefix_tokens = _few_shot_requests(("negative", "positive"))
    engine = CausalLMEngine(model, smollm2_tokenizer().pad_token_id, "cpu")
    prefix = engine.encode_prefix(prefix_tokens)
    shapes: list[tuple[int, ...]] = []
    hook = model.lm_head.register_forward_hook(lambda m, i, out: shapes.append(tuple(out.shape)))
    try:
        engine.loglik(requests, prefix, batch_size=4)
    finally:
        hook.remove()
    assert len(shapes) == 3  # ten prompts, batches of 4: one pass each
    assert all(shape[1] == 1 for shape in shapes)


def test_bf16_answer_logits_are_computed_in_fp32() -> None:
    """bf16 logits come in steps of 2**-8 or coarser and create false ties; the engine recomputes
    the answer tokens' logits in fp32 from the same hidden state."""
    import torch

    model = load_tiny(tiny_llama_path()).to(torch.bfloat16)
    requests, _ = _few_shot_requests(("negative", "positive"))
    head = model.get_output_embeddings()
    engine = CausalLMEngine(model, smollm2_tokenizer().pad_token_id, "cpu")
    got = engine.loglik(requests, None, batch_size=1)
    assert not head._forward_hooks  # the hook is removed afterwards
    exact, rounded = [], []
    seen: list[Any] = []
    handle = head.register_forward_hook(lambda m, i, out: seen.append((i[0], out)))
    for request in requests:
        seen.clear()
        with torch.inference_mode():
            model(input_ids=torch.tensor([list(request.context)]))
        hidden, logits = seen[0][0][0, -1].float(), seen[0][1][0, -1].float()
        ids = [c[0] for c in request.continuations]
        rounded.append(torch.log_softmax(logits, -1)[ids].tolist())
        logits[ids] = hidden @ head.weight[ids].float().T
        exact.append(torch.log_softmax(logits, -1)[ids].tolist())
    handle.remove()
    assert _flat(got) == pytest.approx(_flat(exact), abs=1e-5)
    # and the plain bf16 logits really are different (this check would catch a no-op hook)
    assert max(abs(a - b) for a, b in zip(_flat(got), _flat(rounded))) > 1e-4


def test_generation_with_prefix_cache_equals_plain_generation(tiny_model: Any) -> None:
    requests, prefix_tokens = _few_shot_requests(("negative", "positive"))
    contexts = [r.context for r in requests]
    engine = CausalLMEngine(tiny_model, smollm2_tokenizer().pad_token_id, "cpu")
    prefix = engine.encode_prefix(prefix_tokens)
    plain = engine.generate(contexts, None, 4, batch_size=1)
    assert all(len(g) == 4 for g in plain)
    assert engine.generate(contexts, prefix, 4, batch_size=4) == plain


# -- the method ----------------------------------------------------------------------------------


def _config(method: str, **prompt: Any) -> ExperimentConfig:
    data = toy_sst2()
    return ExperimentConfig(
        task="sst2",
        data_fingerprint=data.fingerprint,
        eval_split=data.eval_split,
        model=str(tiny_llama_path()),
        method=method,  # type: ignore[arg-type]
        precision="fp32",
        settings=PromptSettings(**prompt),
    )


def test_prepare_reports_prompt_shots_and_verbalizers() -> None:
    data = toy_sst2()
    prepared = PromptedMethod().prepare(_config("few-shot", k=4), data, NullProgress())
    info = prepared.training
    assert info.train_time_s == 0.0
    assert info.labels_used == 4 and len(info.details["few_shot_indices"]) == 4
    assert {data.train[i].label for i in info.details["few_shot_indices"]} == {0, 1}
    assert info.details["verbalizers"] == ["negative", "positive"]
    assert (
        info.details["answer_tokens"] == [["negative"], ["positive"]]
        and info.details["single_pass"]
    )
    assert info.details["example_prompt"].endswith(
        "Review: an absolute joy<|im_end|>\n<|im_start|>assistant\n"
    )
    assert (
        info.details["prefix_tokens"] > 0
        and info.details["chat_template"]
        and info.details["scoring"] == "loglik"
    )
    assert not any(ex.text in info.details["example_prompt"] for ex in data.eval[1:])
    zero = PromptedMethod().prepare(_config("zero-shot", k=4), data, NullProgress()).training
    assert zero.labels_used == 0 and zero.details["few_shot_indices"] == []


def test_zero_shot_prefix_cache_covers_every_prompt() -> None:
    """The chat prefix ends in a blank line, which SmolLM2 tokenises as one token alone but as
    two before a query; probing with real training examples cuts the prefix so that it is used."""
    data = toy_sst2()
    prepared = PromptedMethod().prepare(_config("zero-shot"), data, NullProgress())
    clf = prepared.classifier
    assert isinstance(clf, PromptedClassifier) and prepared.training.details["prefix_tokens"] > 20
    requests, _ = clf.requests([clf.builder.prompt(ex) for ex in data.eval])
    assert clf.prefix is not None and all(clf.prefix.covers(r.context) for r in requests)


def test_predictions_do_not_depend_on_batch_size() -> None:
    data = toy_sst2()
    prepared = PromptedMethod().prepare(_config("few-shot", k=3), data, NullProgress())
    clf = prepared.classifier
    one = clf.predict(data.eval, batch_size=1)
    eight = clf.predict(data.eval, batch_size=8)
    assert one.labels == eight.labels
    assert _flat(one.scores) == pytest.approx(_flat(eight.scores), abs=1e-5)
    assert all(sum(row) == pytest.approx(1.0) for row in one.scores)
    assert one.raw is None
    seen: list[int] = []
    clf.predict(data.eval[:5], batch_size=2, advance=seen.append)
    assert sum(seen) == 5


def test_generated_answers_that_are_no_label_are_invalid(monkeypatch: pytest.MonkeyPatch) -> None:
    data = toy_sst2()
    prepared = PromptedMethod().prepare(
        _config("zero-shot", scoring="generate"), data, NullProgress()
    )
    clf = prepared.classifier
    assert isinstance(clf, PromptedClassifier)
    answers = ["Positive!<|im_end|>", "negative", "I think it is positive", "", "neutral"]
    tok = smollm2_tokenizer()
    canned = [tok(a, add_special_tokens=False)["input_ids"] for a in answers]
    monkeypatch.setattr(clf.engine, "generate", lambda contexts, *a, **k: canned[: len(contexts)])
    predictions = clf.predict(data.eval[:5])
    assert predictions.labels == [1, 0, INVALID, INVALID, INVALID]
    assert predictions.raw == ["Positive!", "negative", "I think it is positive", "", "neutral"]
    assert predictions.scores is None


def test_real_generation_output_is_parsed_or_invalid() -> None:
    data = toy_sst2()
    config = _config("few-shot", k=2, scoring="generate", max_new_tokens=3)
    clf = PromptedMethod().prepare(config, data, NullProgress()).classifier
    predictions = clf.predict(data.eval[:4], batch_size=4)
    assert predictions.raw is not None and len(predictions.raw) == 4
    assert predictions.labels == [clf.fmt.parse(text) for text in predictions.raw]


# -- loading -------------------------------------------------------------------------------------


def test_unloadable_models_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(BakeoffError, match="cannot load causal LM 'nobody/no-such-model'") as info:
        load_causal_lm("nobody/no-such-model", "cpu", "fp32")
    assert "\n" not in str(info.value)
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(BakeoffError, match="cannot load causal LM"):
        load_causal_lm(str(tmp_path), "cpu", "fp32")


def test_gguf_cache_key_follows_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.setenv("BAKEOFF_CACHE", str(tmp_path / "cache"))
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF v1")
    resolved = ResolvedModel(str(tmp_path), gguf.name)
    first = gguf_cache_dir(resolved)
    assert first.parent == tmp_path / "cache" / "gguf"
    assert gguf_cache_dir(resolved) == first
    os.utime(gguf, ns=(1, 1))  # a touched file with the same bytes keeps its entry
    assert gguf_cache_dir(resolved) == first
    gguf.write_bytes(b"GGUF v2")  # new content, new entry
    assert gguf_cache_dir(resolved) != first


def test_the_kept_model_is_released_when_another_model_runs() -> None:
    from bakeoff.backends import causal_lm
    from bakeoff.methods import release_models

    name = str(tiny_llama_path())
    load_causal_lm(name, "cpu", "fp32")
    release_models(keep=name)
    assert load_causal_lm(name, "cpu", "fp32").origin == "memory"  # kept for its own reuse
    release_models(keep="minilm")
    assert not causal_lm._LAST
    assert load_causal_lm(name, "cpu", "fp32").origin != "memory"
