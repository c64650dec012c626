"""Method ``finetune``: fine-tune an encoder with the Hugging Face Trainer, then classify.

Defaults are the study's (AdamW, lr 2e-5, batch 32, 3 epochs, max length 128, seed 99). Unlike the
study, no checkpoint is selected on the evaluated split: training runs its fixed number of epochs
and the final weights are evaluated, so the reported accuracy is never tuned on itself.
``--train-limit`` draws a seeded stratified sample (data.stratified_sample), not the first rows.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from typing import Any

from bakeoff.classifier import Advance, Predictions, Prepared, Progress
from bakeoff.config import ExperimentConfig, FinetuneSettings
from bakeoff.data import Example, TaskData, stratified_sample
from bakeoff.environment import best_device, resolve_precision
from bakeoff.errors import BakeoffError
from bakeoff.models import resolve_model


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
                parts.append(Predictions(probs.argmax(-1).tolist(), probs.tolist()))
                if advance:
                    advance(len(batch))
        return Predictions.concat(parts).reorder(order)


class FinetuneMethod:
    """Fine-tune ``config.model`` on the task's train split (optionally a stratified sample)."""

    def prepare(self, config: ExperimentConfig, data: TaskData, progress: Progress) -> Prepared:
        import datasets
        import torch
        from transformers import (
            AutoModelForSequenceClassification,
            AutoTokenizer,
            DataCollatorWithPadding,
            PrinterCallback,
            Trainer,
            TrainerCallback,
            TrainingArguments,
            set_seed,
        )

        settings = config.finetune or FinetuneSettings()
        device = best_device()
        precision = resolve_precision(config.precision, device)
        resolved = resolve_model(config.model)
        if resolved.gguf_file:
            raise BakeoffError(
                f"model '{config.model}' is a GGUF causal LM; fine-tune an encoder "
                "(e.g. minilm, bert-base) or use --method zero-shot/few-shot"
            )
        task = data.task
        set_seed(config.seed)
        t_load = time.perf_counter()
        try:
            tokenizer = AutoTokenizer.from_pretrained(resolved.name_or_path)
            model = AutoModelForSequenceClassification.from_pretrained(
                resolved.name_or_path,
                num_labels=task.num_labels,
                id2label=dict(enumerate(task.label_names)),
                label2id={n: i for i, n in enumerate(task.label_names)},
                ignore_mismatched_sizes=True,
            )
        except (OSError, ValueError) as exc:
            first = (
                str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            )
            raise BakeoffError(
                f"cannot load encoder '{config.model}' ({first}); check the id or path, "
                "or connect to the Hugging Face hub"
            ) from None
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

        steps_per_epoch = -(-len(train_ds) // settings.batch_size)
        total_steps = max(1, round(steps_per_epoch * settings.epochs))
        advance = progress.stage(
            f"training {config.model} on {len(train_ds)} examples", total_steps
        )

        class _Progress(TrainerCallback):
            def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                advance(1)

        with tempfile.TemporaryDirectory(prefix="bakeoff-ft-") as tmp:
            args = TrainingArguments(
                output_dir=tmp,
                learning_rate=settings.learning_rate,
                per_device_train_batch_size=settings.batch_size,
                num_train_epochs=settings.epochs,
                weight_decay=settings.weight_decay,
                warmup_steps=settings.warmup_ratio,  # a float in [0, 1) is a ratio
                optim="adamw_torch",
                seed=config.seed,
                data_seed=config.seed,
                bf16=precision == "bf16",
                use_cpu=not device.startswith("cuda"),
                save_strategy="no",
                eval_strategy="no",
                logging_strategy="no",
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

        model = trainer.model
        classifier = EncoderClassifier(
            model,
            tokenizer,
            task.label_names,
            settings.max_length,
            settings.eval_batch_size,
            device,
            precision,
        )
        del trainer
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
        return Prepared(
            classifier=classifier,
            train_time_s=train_s,
            info={
                "n_train": len(train_ds),
                "train_loss": float(result.training_loss),
                "steps": int(result.global_step),
                "load_time_s": load_s,
                "precision": precision,
                "model_path": resolved.display,
                "checkpoint": "final weights after the last epoch (no selection on eval data)",
            },
        )
