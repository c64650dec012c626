"""Methods turn (config, task data) into a ready :class:`~bakeoff.classifier.Classifier`.

- ``finetune``: an encoder fine-tuned with the HF Trainer (``finetune.py``).
- ``zero-shot`` / ``few-shot``: a causal LM prompted with the task (``prompted.py``).

Each method module is imported only when used, so listing tasks stays fast.
"""

from __future__ import annotations

import gc
import sys
from typing import Protocol

from bakeoff.classifier import Prepared, Progress
from bakeoff.config import ExperimentConfig
from bakeoff.data import TaskData
from bakeoff.errors import BakeoffError


class Method(Protocol):
    def prepare(self, config: ExperimentConfig, data: TaskData, progress: Progress) -> Prepared:
        """Train or set up a classifier for ``data.task``. Must not look at ``data.eval`` labels."""
        ...


def get_method(name: str) -> Method:
    if name == "finetune":
        from bakeoff.methods.finetune import FinetuneMethod

        return FinetuneMethod()
    if name in ("zero-shot", "few-shot"):
        from bakeoff.methods.prompted import PromptedMethod

        return PromptedMethod()
    raise BakeoffError(f"unknown method '{name}'; use finetune, zero-shot or few-shot")


def release_models(keep: str | None = None) -> None:
    """Drop models kept in memory for reuse (the last causal LM) unless they are ``keep``.

    The runner calls this before each experiment, so one experiment's peak memory never includes
    a model that only an earlier experiment needed.
    """
    backend = sys.modules.get("bakeoff.backends.causal_lm")
    if backend is not None and backend.release_cached(keep):
        gc.collect()
