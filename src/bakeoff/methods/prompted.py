"""Methods ``zero-shot`` and ``few-shot``: a causal LM prompted with the task, no training.

The model answers by log-likelihood (``loglik``, default: the label whose answer word is most
likely after the prompt; no parsing, so no invalid answers) or by greedy generation
(``generate``, the study's method: the answer text is parsed strictly, and anything that is not
a label is INVALID, never a guessed class). Few-shot examples come from the train split only,
as a seeded stratified sample in shuffled order.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bakeoff import checks
from bakeoff.backends.causal_lm import LoadedLM, load_causal_lm
from bakeoff.classifier import Advance, Classifier, Predictions, Prepared, Progress
from bakeoff.config import ExperimentConfig, PromptSettings
from bakeoff.data import Example, TaskData
from bakeoff.environment import best_device, resolve_precision
from bakeoff.errors import BakeoffError
from bakeoff.methods import MethodSpec, get_method_spec, register_method
from bakeoff.prompts import FitStats, PromptBuilder, PromptFormat, build_format, sample_shots
from bakeoff.records import TrainingRecord
from bakeoff.scoring import (
    CausalLMEngine,
    EncodedPrefix,
    Request,
    build_requests,
    prompt_tokens,
    shared_prefix_tokens,
)
from bakeoff.textcut import cut_example

#: 'auto' batch size on a CPU: SmolLM2-135M zero-shot SST-2 scoring on 2 AMX cores (bf16, prefix
#: cached) ran at 60/s with batch 8, 74/s with 16 and 75/s with 32 (2026-11-27)
CPU_AUTO_BATCH = 16
#: tokens kept free after a prompt for the answer words (longer answers are rare)
ANSWER_ROOM = 8
#: training examples tokenised after the shared prefix to find where it can be cut safely
PREFIX_PROBES = 16
#: 'auto' on a GPU starts here and halves until a batch of the longest prompts fits
GPU_AUTO_BATCH_START = 512


def _softmax(values: Sequence[float]) -> list[float]:
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    total = sum(exps)
    return [e / total for e in exps]


def _pad_id(tokenizer: Any) -> int:
    """Any id works for padding (padded slots are masked out); prefer the tokenizer's own."""
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    return 0


class PromptedClassifier:
    """A causal LM that labels examples by prompting; ``predict`` includes building prompts
    and tokenising, as the timing protocol requires."""

    def __init__(
        self,
        lm: LoadedLM,
        builder: PromptBuilder,
        settings: PromptSettings,
        device: str,
        batch_size: int,
        backoff: bool,
    ) -> None:
        self.lm = lm
        self.builder = builder
        self.fmt: PromptFormat = builder.fmt
        self.settings = settings
        self.device = device
        self.batch_size = batch_size
        self.backoff = backoff
        self.label_names = self.fmt.label_names
        self.engine = CausalLMEngine(lm.model, _pad_id(lm.tokenizer), device)
        self.prefix: EncodedPrefix | None = None
        self._warned_truncation = False

    # -- setup ----------------------------------------------------------------------------------

    def encode_prefix(self, probes: Sequence[Example] = ()) -> float:
        """Encode the shared prefix once (model set-up, like loading); returns seconds taken.

        The prefix is cut back to the tokens that stay the same whatever query follows it, found
        by tokenising it with real queries after it: the few-shot examples and ``probes``
        (examples like the ones to be classified, e.g. a few training examples). Without real
        queries a zero-shot prefix ending in whitespace would keep a token (say "\\n\\n") that
        every actual query splits differently, and the cache would never be used.
        """
        start = time.perf_counter()
        suffix = self.builder.parts.suffix
        queries = [*self.builder.shots, *probes]
        texts = [self.fmt.render_input(ex) + suffix for ex in queries] or [suffix]
        tokens = shared_prefix_tokens(
            self.lm.tokenizer,
            self.builder.parts.prefix,
            texts,
            self.builder.parts.add_special_tokens,
        )
        self.prefix = self.engine.encode_prefix(tokens)
        return time.perf_counter() - start

    def requests(self, prompts: Sequence[str]) -> tuple[list[Request], int]:
        """Prompts as scoring requests (context and answer tokens, checked at the seam), with
        how many were cut from the left to fit ``max_length``."""
        parts = self.builder.parts
        return build_requests(
            self.lm.tokenizer,
            prompts,
            parts.delimiter,
            self.fmt.verbalizers,
            parts.add_special_tokens,
            self.settings.max_length,
        )

    def answer_tokens(self, example: Example) -> list[list[str]]:
        """The tokens scored for each label after ``example``'s prompt (shows the seam)."""
        (request,), _ = self.requests([self.builder.prompt(example)])
        return [self.lm.tokenizer.convert_ids_to_tokens(list(c)) for c in request.continuations]

    # -- prediction -----------------------------------------------------------------------------

    def _note_truncation(self, n: int) -> None:
        if n and not self._warned_truncation:
            self._warned_truncation = True
            warnings.warn(
                f"{n} prompt(s) longer than max_length={self.settings.max_length} tokens were "
                "cut from the left; raise prompt max_length to keep them whole",
                stacklevel=3,
            )

    def _predict_loglik(self, prompts: list[str], bs: int, advance: Advance | None) -> Predictions:
        requests, truncated = self.requests(prompts)
        self._note_truncation(truncated)
        logliks = self.engine.loglik(requests, self.prefix, bs, advance, self.backoff)
        scores = [_softmax(row) for row in logliks]
        labels = [max(range(len(row)), key=row.__getitem__) for row in logliks]
        return Predictions(labels, scores, None, [list(map(float, row)) for row in logliks])

    def _predict_generate(
        self, prompts: list[str], bs: int, advance: Advance | None
    ) -> Predictions:
        room = self.settings.max_length - self.settings.max_new_tokens
        contexts, truncated = prompt_tokens(
            self.lm.tokenizer, prompts, self.builder.parts.add_special_tokens, max(room, 1)
        )
        self._note_truncation(truncated)
        generated = self.engine.generate(
            contexts, self.prefix, self.settings.max_new_tokens, bs, advance, self.backoff
        )
        texts = self.lm.tokenizer.batch_decode(generated, skip_special_tokens=True)
        return Predictions([self.fmt.parse(t) for t in texts], None, list(texts))

    def predict(
        self,
        examples: Sequence[Example],
        batch_size: int | None = None,
        advance: Advance | None = None,
    ) -> Predictions:
        if not examples:
            loglik = self.settings.scoring == "loglik"
            return Predictions([], [] if loglik else None, None, [] if loglik else None)
        bs = batch_size or self.batch_size
        # cut before tokenising (textcut), on the side the prompt's own cut keeps: a prompt fitted
        # to max_tokens keeps the query's start, an unfitted one is cut from the left
        keep_end = self.builder.max_tokens is None
        limit = self.settings.max_length
        prompts = [
            self.builder.prompt(cut_example(ex, limit, keep_end=keep_end)) for ex in examples
        ]
        if self.settings.scoring == "generate":
            return self._predict_generate(prompts, bs, advance)
        return self._predict_loglik(prompts, bs, advance)

    # -- batch size -----------------------------------------------------------------------------

    def probe_batch_size(self, examples: Sequence[Example], start: int) -> int:
        """Largest batch size (from ``start``, halving) that runs the longest examples."""
        longest = sorted(examples, key=lambda ex: -(len(ex.text) + len(ex.text_pair or "")))
        self.batch_size = start
        self.predict(longest[:start], batch_size=start)
        return self.engine.last_batch_size


class PromptedMethod:
    """Set up a prompted causal LM for ``data.task`` (no training; train data only for shots)."""

    def prepare(self, config: ExperimentConfig, data: TaskData, progress: Progress) -> Prepared:
        # zero-shot shares the prompt section; its spec forces k=0 whatever the section says
        settings = get_method_spec(config.method).settings_for(config.settings)
        assert isinstance(settings, PromptSettings)
        k = settings.k
        device = best_device(config.device)
        precision = resolve_precision(config.precision, device)
        fmt = build_format(data.task, settings)
        shot_indices = sample_shots(data.train, k, config.seed)
        shots = [data.train[i] for i in shot_indices]

        # a GGUF file is dequantised once (a minute), then loaded from the cache in seconds;
        # transformers draws its own raw tqdm bar for that, which our stage replaces
        advance = progress.stage(
            f"loading {config.model} (a GGUF file is converted once, then cached)", None
        )
        with _no_tqdm():
            lm = load_causal_lm(config.model, device, precision)
        advance(1)
        # room for the longest answer word after the prompt (a few tokens) stays free
        builder = PromptBuilder(
            fmt, shots, lm.tokenizer, settings.chat_template, settings.max_length - ANSWER_ROOM
        )
        auto = config.batch_size == "auto"
        if auto:
            batch_size = GPU_AUTO_BATCH_START if device.startswith("cuda") else CPU_AUTO_BATCH
        else:
            batch_size = int(config.batch_size)
        classifier = PromptedClassifier(lm, builder, settings, device, batch_size, auto)
        prefix_s = classifier.encode_prefix(data.train[:PREFIX_PROBES])
        if auto and device.startswith("cuda"):
            classifier.batch_size = classifier.probe_batch_size(data.eval, batch_size)
        details = self._details(data, lm, classifier, shot_indices, prefix_s)
        warnings = checks.answer_words(details["verbalizers"], details["answer_tokens"])
        details["classes_shown"] = len({ex.label for ex in shots})
        cover = checks.shots_cover([ex.label for ex in shots], data.task.label_names)
        if cover:
            warnings.append(cover)
        builder.stats = FitStats()
        _, cut = classifier.requests([builder.prompt(ex) for ex in data.eval])
        fit = builder.stats
        details["fit"] = {
            "prompts_with_demonstrations_shortened": fit.shortened,
            "demonstrations_dropped": fit.dropped,
            "queries_cut": fit.queries_cut,
            "prompts_cut_from_left": cut,
            "of_prompts": len(data.eval),
        }
        if fit.shortened or fit.dropped:
            warnings.append(
                f"{fit.shortened} of {len(data.eval)} {data.eval_split} prompts did not fit "
                f"{settings.max_length} tokens with whole demonstrations: their texts were "
                f"shortened, and {fit.dropped} demonstrations dropped in all; the instruction "
                "and query stay whole"
            )
        for n, what in (
            (fit.queries_cut, "queries were cut at their end"),
            (cut, "prompts were cut from the left"),
        ):
            note = checks.truncated(
                n, len(data.eval), f"{data.eval_split} prompts", settings.max_length,
                "the prompt max_length",
            )  # fmt: skip
            if note:
                warnings.append(f"{note} ({what})")
        builder.stats = FitStats()
        return Prepared(
            classifier=classifier,
            training=TrainingRecord(
                warnings=warnings,
                labels_used=len(shot_indices),
                load_time_s=lm.load_time_s,
                precision=precision,
                model_path=lm.source,
                details=details,
            ),
        )

    @staticmethod
    def _details(
        data: TaskData,
        lm: LoadedLM,
        classifier: PromptedClassifier,
        shot_indices: list[int],
        prefix_s: float,
    ) -> dict[str, Any]:
        builder, fmt = classifier.builder, classifier.fmt
        settings = classifier.settings
        answer_tokens = classifier.answer_tokens(data.eval[0])
        return {
            "load_origin": lm.origin,
            "scoring": settings.scoring,
            "chat_template": builder.chat,
            "instruction": fmt.instruction,
            "template": fmt.template,
            "verbalizers": list(fmt.verbalizers),
            "answer_tokens": answer_tokens,
            # one forward pass per prompt, last position only, when every answer is one token
            "single_pass": all(len(t) == 1 for t in answer_tokens),
            "few_shot_indices": shot_indices,
            "few_shot_split": data.train_split,
            "prefix_tokens": len(classifier.prefix.tokens) if classifier.prefix else 0,
            "prefix_encode_s": prefix_s,
            "batch_size": classifier.batch_size,
            "example_prompt": builder.prompt(data.eval[0]),
        }


@contextmanager
def _no_tqdm() -> Iterator[None]:
    """Silence tqdm bars drawn by libraries (GGUF conversion) while our progress shows the stage."""
    before = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = before


def check_prompt(config: ExperimentConfig, data: TaskData) -> None:
    """Planning-time checks: the wording resolves (template fields, answer words) and k fits."""
    settings = get_method_spec(config.method).settings_for(config.settings)
    assert isinstance(settings, PromptSettings)
    build_format(data.task, settings)
    if config.method == "few-shot" and settings.k == 0:
        raise BakeoffError(
            "few-shot with k=0 is zero-shot under another name; use --method zero-shot, or -k 1 "
            "or more"
        )
    if settings.k > len(data.train):
        raise BakeoffError(
            f"few-shot k={settings.k} but task '{data.task.name}' has only {len(data.train)} "
            f"training examples; pass -k {len(data.train)} or fewer"
        )


def save_recipe(
    classifier: Classifier, config: ExperimentConfig, data: TaskData, path: Path
) -> None:
    """Keep the prompted classifier's recipe: the model it names, instruction, template, answer
    words, the demonstrations themselves and the prefix probes, precision and batching. A few
    kilobytes; ``bakeoff predict`` rebuilds the same classifier from it."""
    from bakeoff.artifacts import provenance, recipe_from_classifier, save_prompted_recipe

    if not isinstance(classifier, PromptedClassifier):
        raise TypeError(f"save_recipe needs a PromptedClassifier, got {type(classifier).__name__}")
    recipe = recipe_from_classifier(
        classifier,
        config.model,
        resolve_precision(config.precision, classifier.device),
        data.train[:PREFIX_PROBES],
        extra=provenance(config),
    )
    save_prompted_recipe(path, recipe)


def _zero_shot(settings: BaseModel) -> BaseModel:
    """Zero-shot shares the prompt section with few-shot, with no demonstrations."""
    return settings.model_copy(update={"k": 0})


for _spec in (
    MethodSpec(
        name="zero-shot",
        family="LLM",
        model_kinds=("causal",),
        settings_section="prompt",
        settings_model=PromptSettings,
        factory=PromptedMethod,
        description="prompt the LLM with the task instruction; no labelled examples",
        marker="s",
        order=60,
        trains=False,
        seeded=False,
        adapt=_zero_shot,
        example_model="smollm2-135m",
        check=check_prompt,
        artifact="recipe",
        save_artifact=save_recipe,
    ),
    MethodSpec(
        name="few-shot",
        family="LLM",
        model_kinds=("causal",),
        settings_section="prompt",
        settings_model=PromptSettings,
        factory=PromptedMethod,
        description="prompt the LLM with k labelled demonstrations from the train split",
        marker="^",
        order=70,
        trains=False,
        example_model="smollm2-135m",
        check=check_prompt,
        artifact="recipe",
        save_artifact=save_recipe,
    ),
):
    register_method(_spec)
