"""Prompt wording, overrides, answer parsing, few-shot sampling and prompt rendering."""

from __future__ import annotations

import copy
from collections import Counter

import pytest

from bakeoff.classifier import INVALID
from bakeoff.config import PromptSettings
from bakeoff.data import Example
from bakeoff.errors import BakeoffError
from bakeoff.prompts import (
    BUILTIN_PROMPTS,
    PLAIN_ANSWER_CUE,
    PromptBuilder,
    build_format,
    sample_shots,
)
from bakeoff.tasks import BUILTIN_TASKS, TaskSpec, get_task
from tests.llm_fixtures import smollm2_tokenizer, toy_sst2

CUSTOM = TaskSpec(
    name="tickets",
    description="support tickets",
    text_fields=("subject", "body"),
    label_names=("billing", "bug_report", "other"),
)


# -- wording -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BUILTIN_TASKS))
def test_every_builtin_task_has_complete_wording(name: str) -> None:
    task = get_task(name)
    fmt = build_format(task, PromptSettings())
    assert len(fmt.verbalizers) == task.num_labels
    assert name in BUILTIN_PROMPTS
    for word in fmt.verbalizers:
        assert word in fmt.instruction  # the model is told the exact answers allowed
    pair = Example("first text", 0, "second text" if task.is_pair else None)
    shown = fmt.render_input(pair)
    assert "first text" in shown
    assert ("second text" in shown) == task.is_pair


def test_custom_task_gets_generic_prompt_with_label_names_as_answers() -> None:
    fmt = build_format(CUSTOM, PromptSettings())
    assert fmt.verbalizers == CUSTOM.label_names
    assert "billing, bug_report or other" in fmt.instruction
    shown = fmt.render_input(Example("Refund?", 0, "I was charged twice."))
    assert shown == "Subject: Refund?\nBody: I was charged twice."


def test_custom_task_reusing_a_builtin_name_does_not_get_its_wording() -> None:
    impostor = TaskSpec("sst2", "mine", ("text",), ("bad", "ok", "great"))
    fmt = build_format(impostor, PromptSettings())
    assert fmt.verbalizers == ("bad", "ok", "great")


def test_overrides_replace_template_instruction_and_verbalizers() -> None:
    task = get_task("sst2")
    fmt = build_format(task, PromptSettings(verbalizers=("bad", "good")))
    assert fmt.instruction.endswith("Answer with one word: bad or good.")
    fmt = build_format(
        task, PromptSettings(template="Film: {sentence} ({text})", instruction="Rate it.")
    )
    assert fmt.instruction == "Rate it."
    assert fmt.render_input(Example(" so dull ", 0)) == "Film: so dull (so dull)"
    multi = build_format(task, PromptSettings(verbalizers=("thumbs down", "thumbs up")))
    assert "exactly one of: thumbs down or thumbs up" in multi.instruction


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        (PromptSettings(template="Review: {review}"), "unknown field {review}"),
        (PromptSettings(template="Review: {}"), "not a valid format string"),
        (PromptSettings(template="Review: {sentence"), "not a valid format string"),
        (PromptSettings(verbalizers=("a", "b", "c")), "3 verbalizers"),
        (PromptSettings(verbalizers=("Yes", "yes!")), "not distinct"),
        (PromptSettings(verbalizers=("yes", " ")), "empty"),
    ],
)
def test_bad_overrides_are_one_line_errors(settings: PromptSettings, fragment: str) -> None:
    with pytest.raises(BakeoffError, match=fragment) as info:
        build_format(get_task("sst2"), settings)
    assert "\n" not in str(info.value)


# -- parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("positive", 1),
        ("  Positive.\n", 1),
        ("NEGATIVE!", 0),
        ('"negative" - the reviewer hated it', 0),
        ("positive<|im_end|>", INVALID),  # special tokens are stripped before parsing, not here
        ("The answer is positive", INVALID),
        ("positively", INVALID),
        ("neutral", INVALID),
        ("", INVALID),
        ("...", INVALID),
    ],
)
def test_parse_is_strict(answer: str, expected: int) -> None:
    fmt = build_format(get_task("sst2"), PromptSettings())
    assert fmt.parse(answer) == expected


def test_parse_accepts_label_names_and_multi_word_answers() -> None:
    rte = build_format(get_task("rte"), PromptSettings())
    assert rte.parse("No") == 1
    assert rte.parse("not_entailment") == 1  # the label name itself
    assert rte.parse("entailment.") == 0
    words = build_format(get_task("rte"), PromptSettings(verbalizers=("it follows", "it does not")))
    assert words.parse("It does not.") == 1
    assert words.parse("It follows!") == 0
    assert words.parse("It") == INVALID


# -- few-shot sampling ---------------------------------------------------------------------------


def _train(n_per_class: int, n_classes: int = 2) -> list[Example]:
    return [Example(f"text {c}-{i}", c) for c in range(n_classes) for i in range(n_per_class)]


def test_shots_are_stratified_seeded_and_shuffled() -> None:
    train = _train(50)
    picked = sample_shots(train, 6, seed=99)
    assert len(picked) == len(set(picked)) == 6
    assert Counter(train[i].label for i in picked) == {0: 3, 1: 3}
    assert picked == sample_shots(train, 6, seed=99)
    assert picked != sample_shots(train, 6, seed=7)
    grouped = [
        seed
        for seed in range(10)
        if [train[i].label for i in sample_shots(train, 6, seed)]
        in ([0, 0, 0, 1, 1, 1], [1, 1, 1, 0, 0, 0])
    ]
    assert len(grouped) < 10  # the order is shuffled, not grouped by label


def test_shots_cover_every_class_and_handle_small_k() -> None:
    train = _train(20, n_classes=3)
    assert Counter(train[i].label for i in sample_shots(train, 5, 99)).keys() == {0, 1, 2}
    assert sample_shots(train, 0, 99) == []
    # k larger than the pool is an error, never a silent cap (the config would still say k)
    with pytest.raises(BakeoffError, match="k=10 but the train split has only 4"):
        sample_shots(train[:4], 10, 99)


def test_long_few_shot_prompt_keeps_instruction_and_query_whole() -> None:
    """Shorten the demonstrations first, drop them last; never cut the instruction."""
    data = toy_sst2()
    tok = smollm2_tokenizer()
    long_review = " ".join(["an overlong and winding review of a film"] * 60)
    shots = [Example(long_review, i % 2) for i in range(5)]
    fmt = build_format(data.task, PromptSettings())
    query = data.eval[0]
    whole = PromptBuilder(fmt, shots, tok, True)
    n_whole = len(tok(whole.prompt(query), add_special_tokens=False)["input_ids"])
    for budget in (n_whole - 200, 400, 150):
        builder = PromptBuilder(fmt, shots, tok, True, max_tokens=budget)
        prompt = builder.prompt(query)
        assert len(tok(prompt, add_special_tokens=False)["input_ids"]) <= budget
        assert fmt.instruction in prompt and fmt.render_input(query) in prompt
        assert builder.stats.prompts == 1 and builder.stats.shortened == 1
        assert builder.stats.queries_cut == 0
    # a budget that holds the demonstrations at their floor only in part drops some, from the end
    assert builder.stats.dropped > 0
    # a prompt that fits is left exactly as it was
    roomy = PromptBuilder(fmt, shots, tok, True, max_tokens=n_whole + 10)
    assert roomy.prompt(query) == whole.prompt(query) and roomy.stats.shortened == 0


# -- rendering -----------------------------------------------------------------------------------


def _builder(k: int, use_chat: bool = True, tokenizer: object | None = None) -> PromptBuilder:
    data = toy_sst2()
    shots = [data.train[i] for i in sample_shots(data.train, k, 99)]
    fmt = build_format(data.task, PromptSettings())
    return PromptBuilder(fmt, shots, tokenizer or smollm2_tokenizer(), use_chat)


def test_chat_prompt_equals_the_templates_own_rendering() -> None:
    builder = _builder(k=3)
    query = toy_sst2().eval[0]
    tok = smollm2_tokenizer()
    shots = builder.shots
    fmt = builder.fmt
    messages = [
        {"role": "user", "content": f"{fmt.instruction}\n\n{fmt.render_input(shots[0])}"},
        {"role": "assistant", "content": fmt.verbalizers[shots[0].label]},
        {"role": "user", "content": fmt.render_input(shots[1])},
        {"role": "assistant", "content": fmt.verbalizers[shots[1].label]},
        {"role": "user", "content": fmt.render_input(shots[2])},
        {"role": "assistant", "content": fmt.verbalizers[shots[2].label]},
        {"role": "user", "content": fmt.render_input(query)},
    ]
    expected = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert builder.prompt(query) == expected
    assert builder.chat and builder.parts.split_exact
    assert expected.startswith(builder.parts.prefix)
    assert builder.parts.delimiter == ""  # the answer starts the assistant turn
    assert not builder.parts.add_special_tokens


def test_plain_prompt_without_chat_template() -> None:
    for builder in (
        _builder(k=2, use_chat=False),
        _builder(k=2, tokenizer=_without_chat_template()),
    ):
        prompt = builder.prompt(toy_sst2().eval[0])
        assert not builder.chat
        assert prompt.startswith(builder.fmt.instruction + "\n\n")
        assert prompt.endswith(f"Review: an absolute joy\n{PLAIN_ANSWER_CUE}")
        assert prompt.count(PLAIN_ANSWER_CUE) == 3  # two shots, then the query
        assert builder.parts.delimiter == " "
        assert builder.parts.add_special_tokens


def test_template_that_rewrites_messages_is_rendered_whole() -> None:
    tok = copy.deepcopy(smollm2_tokenizer())
    tok.chat_template = (
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] | upper }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant:{% endif %}"
    )
    builder = _builder(k=1, tokenizer=tok)
    assert not builder.parts.split_exact and builder.parts.prefix == ""
    prompt = builder.prompt(toy_sst2().eval[0])
    assert "REVIEW: AN ABSOLUTE JOY" in prompt
    assert builder.parts.delimiter == " "


def test_few_shot_examples_come_from_train_only() -> None:
    data = toy_sst2()
    builder = _builder(k=5)
    prefix = builder.parts.prefix
    assert not any(ex.text in prefix for ex in data.eval)
    assert sum(ex.text in prefix for ex in data.train) == 5


def _without_chat_template() -> object:
    tok = copy.deepcopy(smollm2_tokenizer())
    tok.chat_template = None
    return tok


def test_task_yaml_prompt_names_numeric_labels(tmp_path) -> None:
    """A task YAML gives the instruction, template and an answer word per (numeric) label;
    flags still override them for a whole run; bad answer words are one line in planning."""
    from bakeoff.custom import load_custom, parse_custom_config
    from tests.conftest import write_jsonl

    rows = [
        {"text": f"review {i} {'great' if i % 2 else 'awful'}", "label": i % 2} for i in range(20)
    ]
    write_jsonl(tmp_path / "train.jsonl", rows)
    raw = {
        "name": "nums",
        "train_file": str(tmp_path / "train.jsonl"),
        "instruction": "Is the review happy?",
        "template": "Text: {text}",
        "answer_words": {0: "sad", 1: "happy"},
    }
    data = load_custom(parse_custom_config(raw, "t.yaml"))
    fmt = build_format(data.task, PromptSettings())
    assert fmt.verbalizers == ("sad", "happy") and fmt.instruction == "Is the review happy?"
    assert fmt.render_input(data.train[0]).startswith("Text: review")
    flags = build_format(data.task, PromptSettings(verbalizers=("no", "yes")))
    assert flags.verbalizers == ("no", "yes")
    for bad, needle in (
        ({0: "sad", 7: "happy"}, r"names label\(s\) 7"),
        ({0: "sad"}, r"lacks label\(s\) 1"),
    ):
        with pytest.raises(BakeoffError, match=needle):
            load_custom(parse_custom_config({**raw, "answer_words": bad}, "t.yaml"))
    for bad_raw, needle in (
        ({**raw, "answer_words": {0: "yes", 1: "Yes"}}, "same answer word"),
        ({**raw, "instruction": "  "}, "instruction"),
    ):
        with pytest.raises(BakeoffError, match=needle):
            parse_custom_config(bad_raw, "t.yaml")
