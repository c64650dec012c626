"""Method ``finetune``: fine-tune an encoder with the Hugging Face Trainer, then classify.

Defaults are chosen to learn from a few hundred labels (AdamW, lr 5e-5, batch 16, 10% warm-up,
3 epochs but at least ``min_steps`` optimisation steps; see the README for why); the study's exact
settings are the ``study`` preset. Unlike the study, no checkpoint is selected on the evaluated
split: training runs its fixed number of steps and the final weights are evaluated, so the reported
accuracy is never tuned on itself. ``--train-limit`` draws a seeded stratified sample
(data.stratified_sample), not the first rows.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bakeoff import checks
from bakeoff.classifier import Advance, Classifier, Predictions, Prepared, Progress
from bakeoff.config import ExperimentConfig, FinetuneSettings
from bakeoff.data import Example, TaskData, stratified_sample
from bakeoff.environment import best_device, resolve_precision
from bakeoff.errors import BakeoffError
from bakeoff.methods import MethodSpec, register_method
from bakeoff.models import resolve_model
from bakeoff.records import TrainingRecord
from bakeoff.textcut import cut_example

#: inference batch size for ``batch_size: auto``: MiniLM on 2 AMX cores, sorted by length, ran at
#: 879/s with 128 (benchmarks/encoder_speed.py); a GPU takes far larger batches at no cost
CPU_AUTO_BATCH = 128
GPU_AUTO_BATCH = 512


def auto_batch_size(batch_size: int | str, device: str) -> int:
    """The inference batch size for encoder classifiers ("auto" or a number)."""
    if batch_size == "auto":
        return GPU_AUTO_BATCH if device.startswith("cuda") else CPU_AUTO_BATCH
    return int(batch_size)


def load_encoder(
    name: str, label_names: Sequence[str], what: str = "encoder"
) -> tuple[Any, Any, str]:
    """Tokenizer and a sequence-classification head on ``name`` (alias, hub id or folder), or a
    one-line error; also returns where it came from."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    resolved = resolve_model(name)
    if resolved.gguf_file:
        raise BakeoffError(
            f"model '{name}' is a GGUF causal LM; use an {what} (e.g. minilm, bert-base) "
            "or --method zero-shot/few-shot"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved.name_or_path)
        model = AutoModelForSequenceClassification.from_pretrained(
            resolved.name_or_path,
            num_labels=len(label_names),
            id2label=dict(enumerate(label_names)),
            label2id={n: i for i, n in enumerate(label_names)},
            ignore_mismatched_sizes=True,
        )
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise BakeoffError(
            f"cannot load {what} '{name}' ({first}); check the id or path, "
            "or connect to the Hugging Face hub"
        ) from None
    return tokenizer, model, resolved.display


class EncoderClassifier:
    """A sequence-classification model plus its tokenizer, batched by length to cut padding."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        label_names: Sequence[str],
        max_length: int,
        batch_size: int,
        device: str,
        precision: str,
        pad_to_max_length: bool = False,
        sort_by_length: bool = True,
    ) -> None:
        import torch

        self.model = model.to(device).eval()
        if precision == "bf16":
            self.model = self.model.to(torch.bfloat16)
        self.tokenizer = tokenizer
        self.label_names = tuple(label_names)
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = device
        self.precision = precision
        # the study's way (pad every batch to max_length, keep input order) stays available so
        # benchmarks can measure it under the same protocol
        self.padding = "max_length" if pad_to_max_length else "longest"
        self.sort_by_length = sort_by_length

    def _encode(self, batch: Sequence[Example]) -> dict[str, Any]:
        # cut before tokenising: a tokenizer reads a whole text before truncating (textcut)
        keep_end = getattr(self.tokenizer, "truncation_side", "right") == "left"
        batch = [cut_example(ex, self.max_length, keep_end=keep_end) for ex in batch]
        texts = [ex.text for ex in batch]
        pairs = [ex.text_pair for ex in batch] if batch[0].text_pair is not None else None
        enc = self.tokenizer(
            texts,
            pairs,
            truncation=True,
            max_length=self.max_length,
            padding=self.padding,
            return_tensors="pt",
        )
        return {k: v.to(self.device) for k, v in enc.items()}

    def predict(
        self,
        examples: Sequence[Example],
        batch_size: int | None = None,
        advance: Advance | None = None,
    ) -> Predictions:
        import torch

        bs = batch_size or self.batch_size
        # Sorting by length groups similar lengths in a batch (less padding); order is restored.
        order = list(range(len(examples)))
        if self.sort_by_length:
            order.sort(key=lambda i: len(examples[i].text) + len(examples[i].text_pair or ""))
        parts = []
        with torch.inference_mode():
            for start in range(0, len(order), bs):
                batch = [examples[i] for i in order[start : start + bs]]
                logits = self.model(**self._encode(batch)).logits.float()
                probs = torch.softmax(logits, dim=-1)
                parts.append(
                    Predictions(probs.argmax(-1).tolist(), probs.tolist(), None, logits.tolist())
                )
                if advance:
                    advance(len(batch))
        return Predictions.concat(parts).reorder(order)


def _count_long(tokenizer: Any, examples: Sequence[Example], max_length: int) -> int:
    """Inputs longer than ``max_length`` tokens (they are cut to fit)."""
    if not examples:
        return 0
    texts = [ex.text for ex in examples]
    pairs = [ex.text_pair or "" for ex in examples] if examples[0].text_pair is not None else None
    lengths = tokenizer(texts, pairs, truncation=False)["input_ids"]
    return sum(len(ids) > max_length for ids in lengths)


class FinetuneMethod:
    """Fine-tune ``config.model`` on the task's train split (optionally a stratified sample)."""

    def prepare(self, config: ExperimentConfig, data: TaskData, progress: Progress) -> Prepared:
        import datasets
        import torch
        from transformers import (
            DataCollatorWithPadding,
            PrinterCallback,
            Trainer,
            TrainerCallback,
            TrainingArguments,
            set_seed,
        )

        settings = config.settings
        assert isinstance(settings, FinetuneSettings)
        device = best_device(config.device)
        precision = resolve_precision(config.precision, device)
        task = data.task
        set_seed(config.seed)
        t_load = time.perf_counter()
        tokenizer, model, model_path = load_encoder(config.model, task.label_names)
        load_s = time.perf_counter() - t_load

        train = data.train
        if config.train_limit:
            train = stratified_sample(train, config.train_limit, config.seed)

        def tokenize(batch: dict[str, list[Any]]) -> dict[str, Any]:
            pairs = batch["text_pair"] if task.is_pair else None
            return tokenizer(batch["text"], pairs, truncation=True, max_length=settings.max_length)

        columns: dict[str, list[Any]] = {
            "text": [ex.text for ex in train],
            "label": [ex.label for ex in train],
        }
        if task.is_pair:
            columns["text_pair"] = [ex.text_pair for ex in train]
        train_ds = (
            datasets.Dataset.from_dict(columns)
            .map(tokenize, batched=True, remove_columns=[c for c in columns if c != "label"])
            .rename_column("label", "labels")
        )
        truncated = sum(len(ids) >= settings.max_length for ids in train_ds["input_ids"])

        steps_per_epoch = -(-len(train_ds) // settings.batch_size)
        epochs = settings.epochs
        if settings.min_steps and steps_per_epoch * epochs < settings.min_steps:
            # small data: whole epochs until at least min_steps optimisation steps
            epochs = float(math.ceil(settings.min_steps / steps_per_epoch))
        total_steps = max(1, round(steps_per_epoch * epochs))
        advance = progress.stage(
            f"training {config.model} on {len(train_ds)} examples ({epochs:g} epochs)",
            total_steps,
        )

        class _Progress(TrainerCallback):
            def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                advance(1)

            def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any):  # noqa: ANN201
                if logs and "loss" in logs:
                    progress.note(f"epoch {state.epoch:.0f}: training loss {logs['loss']:.4f}")

        with tempfile.TemporaryDirectory(prefix="bakeoff-ft-") as tmp:
            args = TrainingArguments(
                output_dir=tmp,
                learning_rate=settings.learning_rate,
                per_device_train_batch_size=settings.batch_size,
                num_train_epochs=epochs,
                weight_decay=settings.weight_decay,
                warmup_steps=settings.warmup_ratio,  # a float in [0, 1) is a ratio
                optim="adamw_torch",
                seed=config.seed,
                data_seed=config.seed,
                bf16=precision == "bf16",
                use_cpu=not device.startswith("cuda"),
                save_strategy="no",
                eval_strategy="no",
                # the loss of each epoch (averaged over its steps) is kept and shown
                logging_strategy="epoch",
                report_to=[],
                disable_tqdm=True,
                dataloader_num_workers=0,
            )
            trainer = Trainer(
                model=model,
                args=args,
                train_dataset=train_ds,
                data_collator=DataCollatorWithPadding(tokenizer),
                callbacks=[_Progress()],
            )
            # our progress bar replaces the Trainer's console printer
            trainer.remove_callback(PrinterCallback)
            t0 = time.perf_counter()
            result = trainer.train()
            train_s = time.perf_counter() - t0
            losses = [float(h["loss"]) for h in trainer.state.log_history if "loss" in h]

        model = trainer.model
        classifier = EncoderClassifier(
            model,
            tokenizer,
            task.label_names,
            settings.max_length,
            auto_batch_size(config.batch_size, device),
            device,
            precision,
        )
        del trainer
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
        warnings = [
            w
            for w in (
                checks.loss_did_not_fall(losses, [ex.label for ex in train]),
                checks.truncated(
                    truncated, len(train_ds), "training examples", settings.max_length, "max_length"
                ),
                checks.truncated(
                    _count_long(tokenizer, data.eval, settings.max_length),
                    len(data.eval),
                    f"{data.eval_split} examples",
                    settings.max_length,
                    "max_length",
                ),
            )
            if w
        ]
        return Prepared(
            classifier=classifier,
            training=TrainingRecord(
                warnings=warnings,
                labels_used=len(train_ds),
                train_time_s=train_s,
                load_time_s=load_s,
                steps=int(result.global_step),
                loss=float(result.training_loss),
                loss_per_epoch=losses,
                precision=precision,
                model_path=model_path,
                details={
                    "epochs_run": epochs,
                    "train_examples_truncated": truncated,
                    "checkpoint": "final weights after the last step (no selection on eval data)",
                },
            ),
        )


def save_artifact(
    classifier: Classifier, config: ExperimentConfig, data: TaskData, folder: Path
) -> None:
    """Keep the fine-tuned model as an encoder artifact folder (weights in the evaluated
    precision, tokenizer, label names, settings), so ``bakeoff predict`` reproduces the stored
    predictions and ``bakeoff export`` can hand it to transformers or ONNX Runtime."""
    from bakeoff.artifacts import provenance, save_encoder_classifier, settings_of

    save_encoder_classifier(folder, classifier, settings_of(config), extra=provenance(config))


register_method(
    MethodSpec(
        name="finetune",
        family="encoder",
        model_kinds=("encoder",),
        settings_section="finetune",
        settings_model=FinetuneSettings,
        factory=FinetuneMethod,
        description="fine-tune the encoder and a classification head with the HF Trainer",
        marker="o",
        order=30,
        artifact="weights",
        save_artifact=save_artifact,
    )
)
