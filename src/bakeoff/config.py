"""Experiment and grid configuration (pydantic), and the hash that identifies an experiment.

An experiment is one (task, model, method) with every setting that can change its result. Its id is
a hash of that full configuration plus the data fingerprint, so a re-run with the same settings is
recognised as done, and any changed setting is a new experiment.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bakeoff.errors import BakeoffError

MethodName = Literal["finetune", "zero-shot", "few-shot"]
METHODS: tuple[str, ...] = ("finetune", "zero-shot", "few-shot")
Precision = Literal["auto", "bf16", "fp32"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FinetuneSettings(_Strict):
    """The study's defaults: AdamW, lr 2e-5, batch 32, 3 epochs, max length 128."""

    learning_rate: float = Field(2e-5, gt=0)
    batch_size: int = Field(32, ge=1)
    epochs: float = Field(3.0, gt=0)
    max_length: int = Field(128, ge=8)
    weight_decay: float = Field(0.0, ge=0)
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    eval_batch_size: int = Field(64, ge=1)


class PromptSettings(_Strict):
    """Prompted-LLM settings (used by the zero-shot and few-shot methods)."""

    k: int = Field(5, ge=0)
    scoring: Literal["loglik", "generate"] = "loglik"
    chat_template: bool = True
    #: a user template (str.format with the task's field names); None = the built-in one
    template: str | None = None
    instruction: str | None = None
    verbalizers: tuple[str, ...] | None = None
    max_new_tokens: int = Field(5, ge=1)
    max_length: int = Field(2048, ge=16)
    #: "auto": 16 on a CPU; on a GPU the largest power of two up to 512 that fits (halving)
    batch_size: int | Literal["auto"] = "auto"


class ExperimentConfig(_Strict):
    """Everything that determines one experiment's result."""

    task: str
    data_fingerprint: str
    eval_split: str
    model: str
    method: MethodName
    seed: int = 99
    precision: Precision = "auto"
    train_limit: int | None = Field(None, ge=1)
    eval_limit: int | None = Field(None, ge=1)
    latency_samples: int = Field(64, ge=1)
    finetune: FinetuneSettings | None = None
    prompt: PromptSettings | None = None

    def experiment_id(self) -> str:
        """Stable hash of the full configuration (JSON with sorted keys)."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        return f"{self.task} / {self.model} / {self.method}"


class GridConfig(_Strict):
    """A grid of tasks x models x methods, as given by flags or ``--config grid.yaml``.

    YAML keys follow lm-evaluation-harness habits where they exist (``tasks``, ``num_fewshot``,
    ``limit``, ``batch_size``, ``apply_chat_template``); see the README for an example.
    """

    tasks: tuple[str, ...]
    models: tuple[str, ...]
    methods: tuple[MethodName, ...] = ("finetune",)
    seed: int = 99
    precision: Precision = "auto"
    train_limit: int | None = Field(None, ge=1)
    eval_limit: int | None = Field(None, ge=1)
    latency_samples: int = Field(64, ge=1)
    data_dir: str | None = None
    #: user task files (YAML, see custom.py), addressed in ``tasks`` by their ``name``
    task_files: tuple[str, ...] = ()
    #: user tasks given inline (``bakeoff run --train-file ...``): task YAML keys, paths as given
    custom_tasks: tuple[dict[str, Any], ...] = ()
    finetune: FinetuneSettings = FinetuneSettings()
    prompt: PromptSettings = PromptSettings()

    @field_validator("tasks", "models", "methods", mode="before")
    @classmethod
    def _split_commas(cls, v: Any) -> Any:
        if isinstance(v, str):
            return tuple(x.strip() for x in v.split(",") if x.strip())
        return v


_YAML_ALIASES = {
    "num_fewshot": ("prompt", "k"),
    "apply_chat_template": ("prompt", "chat_template"),
    "scoring": ("prompt", "scoring"),
    "batch_size": ("prompt", "batch_size"),
    "limit": (None, "eval_limit"),
}


def load_grid_yaml(path: str | Path, overrides: dict[str, Any] | None = None) -> GridConfig:
    """Read a grid YAML; CLI flags given explicitly (``overrides``) win over the file."""
    path = Path(path)
    if not path.is_file():
        raise BakeoffError(f"config file {path} not found; check the path given to --config")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BakeoffError(
            f"{path}: not valid YAML ({type(exc).__name__}); fix its syntax"
        ) from None
    if not isinstance(raw, dict):
        raise BakeoffError(f"{path}: expected a mapping with keys tasks, models, methods")
    for key, (section, name) in _YAML_ALIASES.items():
        if key in raw:
            value = raw.pop(key)
            if section is None:
                raw[name] = value
            else:
                raw.setdefault(section, {})[name] = value
    if "task_files" in raw:
        files = raw["task_files"]
        files = [files] if isinstance(files, str) else files
        raw["task_files"] = [str(p if Path(p).is_absolute() else path.parent / p) for p in files]
    for key, value in (overrides or {}).items():
        if isinstance(value, dict):
            raw.setdefault(key, {}).update(value)
        else:
            raw[key] = value
    return make_grid(raw, str(path))


def make_grid(raw: dict[str, Any], where: str = "flags") -> GridConfig:
    try:
        return GridConfig(**raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or "config"
        raise BakeoffError(f"{where}: '{loc}': {err['msg']}; fix that setting") from None


def method_label(config: dict[str, Any]) -> str:
    """The method plus what sets it apart from its defaults ('zero-shot, generate', 'finetune, fp32'),
    so two variants of one method never share a row in a table."""
    parts = [config["method"]]
    prompt = config.get("prompt") or {}
    if prompt.get("scoring") == "generate":
        parts.append("generate")
    if config["method"] == "few-shot" and prompt.get("k", 5) != 5:
        parts.append(f"k={prompt['k']}")
    if config.get("precision", "auto") != "auto":
        parts.append(config["precision"])
    return ", ".join(parts)
