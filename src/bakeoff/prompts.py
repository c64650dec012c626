"""Prompts for the prompted-LLM methods: wording per task, few-shot examples, answer parsing.

Every built-in task has an instruction, an input format and one answer word (verbalizer) per
label, fixed in advance and never tuned on evaluation results. Custom tasks get a generic prompt
whose verbalizers are the label names. Users may override the template, the instruction and the
verbalizers (``PromptSettings``).

A prompt is rendered with the model's chat template when it has one (instruction and examples as
user turns, example answers as assistant turns), and as plain text ending in ``Answer:``
otherwise. Both forms are split into a *prefix* shared by every query (instruction and few-shot
examples) and the query part, so the scoring engine can encode the prefix once.
"""

from __future__ import annotations

import random
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bakeoff.classifier import INVALID
from bakeoff.config import PromptSettings
from bakeoff.data import Example, stratified_indices
from bakeoff.errors import BakeoffError
from bakeoff.tasks import BUILTIN_TASKS, TaskSpec

#: the cue that ends a plain (no chat template) prompt; the answer follows after one space
PLAIN_ANSWER_CUE = "Answer:"


@dataclass(frozen=True)
class TaskPrompt:
    """A task's built-in wording: what to decide, how an input is shown, one word per label."""

    question: str
    template: str
    verbalizers: tuple[str, ...]


BUILTIN_PROMPTS: dict[str, TaskPrompt] = {
    "sst2": TaskPrompt(
        question="What is the sentiment of this movie review?",
        template="Review: {sentence}",
        verbalizers=("negative", "positive"),
    ),
    "rte": TaskPrompt(
        question="Does the first sentence imply that the second sentence is true?",
        template="Sentence 1: {sentence1}\nSentence 2: {sentence2}",
        verbalizers=("yes", "no"),
    ),
    "boolq": TaskPrompt(
        question="Read the passage and answer the question about it.",
        template="Passage: {passage}\nQuestion: {question}?",
        verbalizers=("no", "yes"),
    ),
    "anli_r1": TaskPrompt(
        question="Given the premise, is the hypothesis true, false, or neither?",
        template="Premise: {premise}\nHypothesis: {hypothesis}",
        verbalizers=("true", "neither", "false"),
    ),
}


def generic_prompt(task: TaskSpec) -> TaskPrompt:
    """The default for tasks without built-in wording: label names are the answers."""
    titles = [f.replace("_", " ").strip().capitalize() or "Text" for f in task.text_fields]
    titles = [t.replace("{", "{{").replace("}", "}}") for t in titles]
    aliases = ("text", "text_pair")
    lines = [f"{title}: {{{alias}}}" for title, alias in zip(titles, aliases)]
    what = "pair of texts" if task.is_pair else "text"
    return TaskPrompt(
        question=f"Classify the {what} into one of the categories.",
        template="\n".join(lines),
        verbalizers=tuple(task.label_names),
    )


def answer_line(verbalizers: Sequence[str]) -> str:
    """Tells the model the exact answers allowed, so the instruction always matches the
    verbalizers (also after a user overrides them)."""
    quoted = list(verbalizers)
    options = ", ".join(quoted[:-1]) + f" or {quoted[-1]}"
    if all(len(v.split()) == 1 for v in verbalizers):
        return f"Answer with one word: {options}."
    return f"Answer with exactly one of: {options}."


def _normalise(text: str) -> tuple[str, ...]:
    """Lower-cased words with surrounding punctuation removed (inner '_' or '-' are kept)."""
    words = (w.strip(string.punctuation) for w in text.lower().split())
    return tuple(w for w in words if w)


@dataclass(frozen=True)
class PromptFormat:
    """One task's resolved wording: instruction, input template and verbalizers."""

    instruction: str
    template: str
    verbalizers: tuple[str, ...]
    label_names: tuple[str, ...]
    text_fields: tuple[str, ...]

    def render_input(self, example: Example) -> str:
        """The example's input as shown to the model (fields stripped of outer whitespace)."""
        values = [example.text, example.text_pair or ""]
        fields: dict[str, str] = {"text": values[0].strip(), "text_pair": values[1].strip()}
        for name, value in zip(self.text_fields, values):
            fields[name] = value.strip()
        return self.template.format_map(fields).strip()

    def parse(self, answer: str) -> int:
        """Map a generated answer to a label id, or :data:`INVALID`.

        Case and surrounding punctuation are ignored; the answer must *start* with a
        verbalizer or a label name as whole words (the longest match wins, verbalizers before
        label names). Anything else is invalid, never a guessed class.
        """
        words = _normalise(answer)
        best, best_len = INVALID, 0
        for names in (self.verbalizers, self.label_names):
            for label, name in enumerate(names):
                target = _normalise(name)
                if target and words[: len(target)] == target and len(target) > best_len:
                    best, best_len = label, len(target)
            if best != INVALID:
                return best
        return best


def _check_template(template: str, task: TaskSpec) -> None:
    """Refuse a template that cannot render every input, before anything runs.

    Fields are plain names only: a format spec (``{text:>99999999}`` pads every prompt to
    millions of characters and hangs the tokenizer), a conversion (``!r``), attribute or index
    access (``{text.__class__}``, ``{text[0]}``) have no use in a prompt and are refused.
    """
    allowed = {"text": "x", "text_pair": "x", **{f: "x" for f in task.text_fields}}
    try:
        parsed = list(string.Formatter().parse(template))
        for _, name, spec, conversion in parsed:
            if name is None:
                continue
            if spec or conversion or "." in name or "[" in name:
                shown = "{" + name + (f"!{conversion}" if conversion else "")
                shown += (f":{spec}" if spec else "") + "}"
                plain = name.split(".")[0].split("[")[0]
                plain = plain if plain.isidentifier() else task.text_fields[0]
                raise BakeoffError(
                    f"prompt template field {shown} is not a plain field; write it as "
                    f"{{{plain}}} (format specs, !conversions, .attributes and [indexes] are not "
                    "allowed)"
                )
        used = [name for _, name, _, _ in parsed if name is not None]
        if not used:
            names = ", ".join("{" + f + "}" for f in task.text_fields)
            raise BakeoffError(
                f"prompt template {template!r} has no input field, so every prompt would be the "
                f"same; put {names} (or {{text}}) where the input goes"
            )
        template.format_map(allowed)
    except KeyError as exc:
        names = ", ".join("{" + f + "}" for f in task.text_fields)
        raise BakeoffError(
            f"prompt template uses unknown field {{{exc.args[0]}}}; task '{task.name}' has "
            f"{names} (or {{text}}/{{text_pair}})"
        ) from None
    except (IndexError, ValueError) as exc:
        raise BakeoffError(
            f"prompt template is not a valid format string ({exc}); use named fields like "
            f"{{{task.text_fields[0]}}} and double braces for literal ones"
        ) from None


def _check_verbalizers(verbalizers: Sequence[str], task: TaskSpec) -> tuple[str, ...]:
    cleaned = tuple(" ".join(v.split()) for v in verbalizers)
    if len(cleaned) != task.num_labels:
        raise BakeoffError(
            f"{len(cleaned)} verbalizers given for task '{task.name}' with {task.num_labels} "
            f"labels ({', '.join(task.label_names)}); give one answer word per label, in order"
        )
    if any(not v for v in cleaned):
        raise BakeoffError("a verbalizer is empty; give a non-empty answer word for every label")
    if len({_normalise(v) for v in cleaned}) != len(cleaned):
        raise BakeoffError(
            f"verbalizers {', '.join(cleaned)} are not distinct (ignoring case and punctuation); "
            "give a different answer word per label"
        )
    return cleaned


def build_format(task: TaskSpec, settings: PromptSettings) -> PromptFormat:
    """Built-in (or generic) wording for ``task`` with the user's overrides applied and checked."""
    # built-in wording only for the built-in task itself, not a custom task reusing its name
    is_builtin = BUILTIN_TASKS.get(task.name) == task
    base = BUILTIN_PROMPTS[task.name] if is_builtin else generic_prompt(task)
    # precedence: flags for the whole run, then the task YAML's own prompt, then the default
    own = task.prompt
    verbalizers = _check_verbalizers(
        settings.verbalizers or (own.answer_words if own else None) or base.verbalizers, task
    )
    template = settings.template or (own.template if own else None) or base.template
    _check_template(template, task)
    instruction = (
        settings.instruction
        or (own.instruction if own else None)
        or f"{base.question} {answer_line(verbalizers)}"
    )
    return PromptFormat(
        instruction=instruction.strip(),
        template=template,
        verbalizers=verbalizers,
        label_names=tuple(task.label_names),
        text_fields=tuple(task.text_fields),
    )


def sample_shots(train: Sequence[Example], k: int, seed: int) -> list[int]:
    """Indices into ``train`` of ``k`` few-shot examples: a seeded class-stratified sample, in a
    seeded shuffled order (never grouped by label)."""
    if k <= 0:
        return []
    if k > len(train):
        raise BakeoffError(
            f"few-shot k={k} but the train split has only {len(train)} examples; "
            f"pass -k {len(train)} or fewer"
        )
    picked = stratified_indices([ex.label for ex in train], k, seed)
    random.Random(seed).shuffle(picked)
    return picked


# ---------------------------------------------------------------------------------------------
# rendering

#: stands in for the query while rendering the chat template, to split prefix from query
_SENTINEL = "\ue000bakeoff-query\ue000"
#: a query used to check that the split reproduces the chat template's own rendering
_PROBE = "A probe sentence, with punctuation."


@dataclass(frozen=True)
class PromptParts:
    """How prompts are built for one experiment. ``prefix + query + suffix`` is a full prompt
    and the answer follows after ``delimiter``. ``prefix`` is what every query shares
    (empty where the chat template cannot be split)."""

    prefix: str
    suffix: str
    delimiter: str
    chat: bool
    #: whether tokenising should add special tokens (BOS); False when the chat template did
    add_special_tokens: bool
    #: False when the chat template rewrites message text, so each prompt is rendered whole
    split_exact: bool = True


#: a demonstration's text is never shortened below this many tokens; it is dropped instead
MIN_DEMO_TOKENS = 24


@dataclass
class FitStats:
    """What fitting prompts into the model's length did, counted over the prompts built."""

    prompts: int = 0
    #: prompts whose demonstrations' texts were shortened
    shortened: int = 0
    #: demonstrations dropped, over all prompts
    dropped: int = 0
    #: queries whose own text had to be cut (no demonstration left to shorten)
    queries_cut: int = 0


class PromptBuilder:
    """Builds full prompt strings for queries, given the format, the shots and the tokenizer.

    With ``max_tokens`` set, a prompt that would not fit keeps the instruction and the query
    whole: the demonstrations' texts are shortened first (longest first, down to
    ``MIN_DEMO_TOKENS``), demonstrations are dropped last (from the end), and only a query that
    does not fit on its own is cut (its end, never the instruction). ``stats`` counts all of it.
    """

    def __init__(
        self,
        fmt: PromptFormat,
        shots: Sequence[Example],
        tokenizer: Any,
        use_chat: bool,
        max_tokens: int | None = None,
    ) -> None:
        self.fmt = fmt
        self.shots = list(shots)
        self.tokenizer = tokenizer
        self.chat = bool(use_chat and getattr(tokenizer, "chat_template", None))
        self.parts = self._split()
        self.max_tokens = max_tokens
        self.stats = FitStats()

    def _messages(self, query: str) -> list[dict[str, str]]:
        """Instruction in the first user turn; each shot a user turn answered by the assistant."""
        turns = [self.fmt.render_input(ex) for ex in self.shots] + [query]
        turns[0] = f"{self.fmt.instruction}\n\n{turns[0]}"
        messages: list[dict[str, str]] = []
        for i, content in enumerate(turns):
            messages.append({"role": "user", "content": content})
            if i < len(self.shots):
                answer = self.fmt.verbalizers[self.shots[i].label]
                messages.append({"role": "assistant", "content": answer})
        return messages

    def _render_chat(self, query: str) -> str:
        return self.tokenizer.apply_chat_template(
            self._messages(query), tokenize=False, add_generation_prompt=True
        )

    def _plain_prefix(self) -> str:
        blocks = [self.fmt.instruction]
        for ex in self.shots:
            answer = self.fmt.verbalizers[ex.label]
            blocks.append(f"{self.fmt.render_input(ex)}\n{PLAIN_ANSWER_CUE} {answer}")
        return "\n\n".join(blocks) + "\n\n"

    def _split(self) -> PromptParts:
        if not self.chat:
            return PromptParts(self._plain_prefix(), f"\n{PLAIN_ANSWER_CUE}", " ", False, True)
        rendered = self._render_chat(_SENTINEL)
        if rendered.count(_SENTINEL) == 1:
            prefix, suffix = rendered.split(_SENTINEL)
            exact = self._render_chat(_PROBE) == prefix + _PROBE + suffix
        else:  # the template transforms message text: render every prompt whole
            prefix, suffix, exact = "", "", False
        # after a turn opener ending in a newline the answer starts the message directly
        delimiter = "" if rendered[-1:].isspace() else " "
        return PromptParts(prefix if exact else "", suffix, delimiter, True, False, exact)

    def _whole(self, example: Example) -> str:
        query = self.fmt.render_input(example)
        if not self.parts.split_exact:
            return self._render_chat(query)
        return self.parts.prefix + query + self.parts.suffix

    def prompt(self, example: Example) -> str:
        """The full prompt for one query, ending exactly where the answer begins."""
        text = self._whole(example)
        if self.max_tokens is None:
            return text
        self.stats.prompts += 1
        # a token is at least one byte: a prompt with no more bytes than the budget fits
        if len(text.encode("utf-8")) <= self.max_tokens or self._count(text) <= self.max_tokens:
            return text
        return self._fit(example)

    # -- fitting long prompts -------------------------------------------------------------------

    def _count(self, text: str) -> int:
        return len(
            self.tokenizer(text, add_special_tokens=self.parts.add_special_tokens)["input_ids"]
        )

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _cut(self, ex: Example, keep: int) -> Example:
        """``ex`` with its longer text field cut to ``keep`` tokens (its start kept)."""
        fields = [ex.text, ex.text_pair]
        longest = 1 if ex.text_pair is not None and len(ex.text_pair) > len(ex.text) else 0
        ids = self._ids(fields[longest] or "")
        fields[longest] = self.tokenizer.decode(ids[: max(keep, 1)]).strip() + " …"
        return Example(fields[0] or "", ex.label, fields[1])

    def _fit(self, example: Example) -> str:
        budget = self.max_tokens or 0
        shots = list(self.shots)
        sizes = [len(self._ids(ex.text)) + len(self._ids(ex.text_pair or "")) for ex in shots]

        def render(demos: list[Example], query: Example) -> str:
            return PromptBuilder(self.fmt, demos, self.tokenizer, self.chat)._whole(query)

        text = render(shots, example)
        over = self._count(text) - budget
        shortened = False
        # 1. shorten the demonstrations' texts, longest first
        while over > 0 and shots:
            i = max(range(len(shots)), key=lambda j: sizes[j])
            if sizes[i] <= MIN_DEMO_TOKENS:
                break
            keep = max(MIN_DEMO_TOKENS, sizes[i] - over - 2)
            shots[i] = self._cut(shots[i], keep)
            sizes[i] = keep
            shortened = True
            text = render(shots, example)
            over = self._count(text) - budget
        if shortened:
            self.stats.shortened += 1
        # 2. drop demonstrations, the last first
        while over > 0 and shots:
            shots.pop()
            sizes.pop()
            self.stats.dropped += 1
            text = render(shots, example)
            over = self._count(text) - budget
        # 3. nothing left to give: cut the query's own text, keeping the instruction
        if over > 0:
            self.stats.queries_cut += 1
            size = len(self._ids(example.text)) + len(self._ids(example.text_pair or ""))
            text = render(shots, self._cut(example, size - over - 4))
        return text
