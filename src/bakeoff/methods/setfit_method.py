"""Method ``setfit``: SetFit (Tunstall et al. 2022) through the ``setfit`` library itself.

SetFit fine-tunes a sentence encoder contrastively on pairs of training texts (same label: pull
together, different labels: push apart; ``CosineSimilarityLoss``), then fits a logistic-regression
head on the tuned embeddings. It was built for 8-64 labels per class. Everything runs through
``setfit.SetFitModel.from_pretrained`` and ``setfit.Trainer`` with SetFit's own defaults (pairs
drawn by ``oversampling``, 1 epoch, batch 16, body learning rate 2e-5, 10% warm-up, sklearn
``LogisticRegression()`` head); the ``setfit`` grid section changes only what it names.
``--train-limit`` draws the same seeded stratified sample as every other trained method.

Text pairs: SetFit takes single texts only, so a pair is joined into one text,
``"{text} {sep} {text_pair}"`` with the tokenizer's separator token (``[SEP]`` for BERT-style
models such as minilm). The tokenizer reads that separator as its special token, but every token
keeps segment id 0: the body sees one sequence, as SetFit would with any single text. Joined
texts longer than the body's ``max_seq_length`` (256 for minilm) lose the end of the pair; how
many training texts were cut is stored in the experiment's training details.

Precision: the contrastive phase trains in fp32 (SetFit's default, ``use_amp`` off). Where the run's
precision resolves to bf16 the tuned body is cast to bf16 *before* the head is fitted, so the
head is fitted and evaluated on embeddings of the same precision (the same rule as
``embed-logreg``).

Prediction is SetFit's own ``predict_proba`` computation (``model_body.encode`` with the model's
``normalize_embeddings``, then ``model_head.predict_proba``) done in length-sorted batches inside
:class:`~bakeoff.methods.embed_logreg.EmbeddingClassifier`, which also keeps the head's logits as
raw scores (see that module for their definition).
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any, Literal

from pydantic import Field

from bakeoff.classifier import Advance, Prepared, Progress
from bakeoff.config import ExperimentConfig, Strict
from bakeoff.data import TaskData, stratified_sample
from bakeoff.environment import best_device, resolve_precision
from bakeoff.errors import BakeoffError
from bakeoff.methods import MethodSpec, register_method
from bakeoff.methods.embed_logreg import (
    EmbeddingClassifier,
    check_classes,
    cut_warnings,
    embedding_saver,
    pooling_description,
)
from bakeoff.methods.finetune import auto_batch_size
from bakeoff.models import resolve_model
from bakeoff.records import TrainingRecord


class SetFitSettings(Strict):
    """Grid section ``setfit``; every default is SetFit 1.2's ``TrainingArguments`` default."""

    #: pairs per training text (SetFit < 1.0 style); None lets ``sampling_strategy`` decide
    num_iterations: int | None = Field(None, ge=1)
    sampling_strategy: Literal["oversampling", "undersampling", "unique"] = "oversampling"
    #: epochs of the contrastive (embedding) phase
    num_epochs: int = Field(1, ge=1)
    #: text pairs per contrastive training step
    batch_size: int = Field(16, ge=1)
    body_learning_rate: float = Field(2e-5, gt=0, le=1)
    #: stop the contrastive phase after this many steps; None runs every drawn pair
    max_steps: int | None = Field(None, ge=1)
    warmup_proportion: float = Field(0.1, ge=0, le=1)
    #: tokens per text; None keeps the body's own ``max_seq_length`` (256 for minilm)
    max_length: int | None = Field(None, ge=8)
    #: C of the logistic-regression head (SetFit's head is sklearn's ``LogisticRegression()``)
    head_C: float = Field(1.0, gt=0)


def _separator(tokenizer: Any) -> str:
    """The token that joins a text pair: the tokenizer's separator, else its end-of-text."""
    return getattr(tokenizer, "sep_token", None) or getattr(tokenizer, "eos_token", None) or "|"


class SetFitMethod:
    """Contrastive fine-tuning of ``config.model`` on the (sampled) train split, then a head."""

    def prepare(self, config: ExperimentConfig, data: TaskData, progress: Progress) -> Prepared:
        import datasets
        import torch
        from setfit import SetFitModel, Trainer, TrainingArguments
        from setfit import logging as setfit_logging
        from transformers import PrinterCallback, ProgressCallback, TrainerCallback

        settings = config.settings
        assert isinstance(settings, SetFitSettings)
        if not os.environ.get("TRANSFORMERS_VERBOSITY"):
            # SetFit logs at INFO by default ("Running training", "model_head.pkl not found")
            setfit_logging.set_verbosity_warning()
        task = data.task
        device = best_device(config.device)
        precision = resolve_precision(config.precision, device)

        resolved = resolve_model(config.model)
        if resolved.gguf_file:
            raise BakeoffError(
                f"model '{config.model}' is a GGUF causal LM; setfit needs a sentence encoder "
                "such as minilm, or use --method zero-shot/few-shot"
            )
        progress.stage(f"loading {config.model}", None)
        t_load = time.perf_counter()
        try:
            model = SetFitModel.from_pretrained(
                resolved.name_or_path,
                labels=list(task.label_names),
                device=device,
                head_params={"C": settings.head_C},
            )
        except (OSError, ValueError) as exc:
            first = (
                str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            )
            raise BakeoffError(
                f"cannot load encoder '{config.model}' for setfit ({first}); check the id or "
                "path, or connect to the Hugging Face hub"
            ) from None
        body = model.model_body
        if settings.max_length:
            body.max_seq_length = settings.max_length
        load_s = time.perf_counter() - t_load

        train = data.train
        if config.train_limit:
            train = stratified_sample(train, config.train_limit, config.seed)
        check_classes(train, task.label_names, config.train_limit)
        separator = _separator(body.tokenizer)
        classifier = EmbeddingClassifier(
            body,
            model.model_head,
            task.label_names,
            auto_batch_size(config.batch_size, device),
            device,
            precision,
            normalize=model.normalize_embeddings,
            pair_encoding="joined",
            separator=separator,
        )
        texts = [classifier.joined(ex) for ex in train]
        labels = [ex.label for ex in train]
        lengths = body.tokenizer(texts, truncation=False)["input_ids"]
        truncated = sum(len(ids) > body.max_seq_length for ids in lengths)

        class _Progress(TrainerCallback):
            """Shows the contrastive steps (their number is known once SetFit drew the pairs)."""

            advance: Advance | None = None

            def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                self.advance = progress.stage(
                    f"SetFit contrastive training on {len(train)} examples "
                    f"({state.max_steps} steps)",
                    state.max_steps,
                )

            def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                if self.advance:
                    self.advance(1)

        with tempfile.TemporaryDirectory(prefix="bakeoff-setfit-") as tmp:
            args = TrainingArguments(
                output_dir=tmp,
                batch_size=settings.batch_size,
                num_epochs=settings.num_epochs,
                max_steps=settings.max_steps or -1,
                sampling_strategy=settings.sampling_strategy,
                num_iterations=settings.num_iterations,
                body_learning_rate=settings.body_learning_rate,
                warmup_proportion=settings.warmup_proportion,
                seed=config.seed,
                # bookkeeping only: no checkpoints, trackers or console bars
                save_strategy="no",
                report_to="none",
                show_progress_bar=False,
                logging_strategy="no",
            )
            trainer = Trainer(
                model=model,
                args=args,
                train_dataset=datasets.Dataset.from_dict({"text": texts, "label": labels}),
                callbacks=[_Progress()],
            )
            for printer in (PrinterCallback, ProgressCallback):
                trainer.remove_callback(printer)
            # pinned memory only helps copies to a GPU (torch warns about it on a CPU)
            trainer.st_trainer.args.dataloader_pin_memory = device.startswith("cuda")
            # Trainer.train() is these two calls; the body's precision is set between them
            t0 = time.perf_counter()
            trainer.train_embeddings(texts, labels)
            embed_s = time.perf_counter() - t0
            state = trainer.st_trainer.state
            pairs = len(trainer.st_trainer.train_dataset)
            losses = [
                float(v)
                for h in state.log_history
                for k, v in h.items()
                if k.endswith("train_loss")
            ]
            if precision == "bf16":
                body.to(torch.bfloat16)
            progress.stage(f"fitting the SetFit head on {len(train)} examples", None)
            t1 = time.perf_counter()
            trainer.train_classifier(texts, labels)
            head_s = time.perf_counter() - t1
            train_s = time.perf_counter() - t0
        body.eval()
        head = model.model_head
        return Prepared(
            classifier=classifier,
            training=TrainingRecord(
                warnings=cut_warnings(classifier, train, data, "setfit.max_length"),
                labels_used=len(train),
                train_time_s=train_s,
                load_time_s=load_s,
                steps=int(state.global_step),
                loss=losses[-1] if losses else None,
                precision=precision,
                model_path=resolved.display,
                details={
                    "contrastive_pairs": pairs,
                    "contrastive_loss": "CosineSimilarityLoss",
                    "contrastive_time_s": embed_s,
                    "head": type(head).__name__,
                    "head_iterations": int(max(getattr(head, "n_iter_", [0]))),
                    "head_fit_time_s": head_s,
                    "pooling": pooling_description(body),
                    "normalize_embeddings": bool(model.normalize_embeddings),
                    "max_seq_length": int(body.max_seq_length),
                    "pair_encoding": f"text {separator} text_pair, one sequence"
                    if task.is_pair
                    else None,
                    "train_examples_truncated": truncated,
                    "trained_precision": "fp32",
                },
            ),
        )


register_method(
    MethodSpec(
        name="setfit",
        family="encoder",
        model_kinds=("encoder",),
        settings_section="setfit",
        settings_model=SetFitSettings,
        factory=SetFitMethod,
        description="SetFit: contrastive fine-tuning of a sentence encoder + logistic head",
        marker="P",
        order=20,
        artifact="weights",
        save_artifact=embedding_saver(keep_encoder=True),
    )
)
