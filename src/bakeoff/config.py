"""Experiment and grid configuration (pydantic), and the hash that identifies an experiment.

An experiment is one (task, model, method) with every setting that can change its result. Its id is
a hash of that configuration plus the data fingerprint, so a re-run with the same settings is
recognised as done, and any changed setting is a new experiment. Settings that only change how it
is timed (``latency_samples``) are stored but are not part of the id: re-timing is not re-running.

Each method declares its own settings model (``bakeoff.methods``); a grid holds one settings
section per method family (``finetune:``, ``prompt:``, ``embed_logreg:``, ``setfit:``), and an
experiment carries the section of its method, validated by that method's model.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bakeoff.errors import BakeoffError

Precision = Literal["auto", "bf16", "fp32"]
#: inference batch size, for every method alike: a number, or "auto" (the method's own choice:
#: a measured default on a CPU, the largest size that fits on a GPU)
BatchSize = Annotated[int, Field(ge=1)] | Literal["auto"]
#: the largest seed numpy, torch and the HF Trainer all accept
MAX_SEED = 2**32 - 1
#: settings that change how an experiment is timed, not what it predicts: kept out of its id
TIMING_ONLY = frozenset({"latency_samples", "device"})
#: settings added after stores existed: left out of an experiment's id while unset
ADDED_LATER = ("cv",)


#: where to run: auto (CUDA, else Apple mps, else CPU), cpu, cuda, cuda:N or mps
def _device(v: str) -> str:
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", v):
        raise ValueError(f"unknown device {v!r}; use auto, cpu, cuda, cuda:N (e.g. cuda:1) or mps")
    return v


Device = Annotated[str, AfterValidator(_device)]


def check_device(value: str, flag: str = "--device") -> str:
    """A device name checked outside a grid (``predict``, ``bench``): a one-line error if bad."""
    try:
        return _device(value)
    except ValueError as exc:
        raise BakeoffError(f"{flag}: {exc}") from None


def _admits(annotation: Any, kinds: tuple[type, ...]) -> bool:
    """Whether a field's type takes one of ``kinds`` anywhere in it (unions, tuples included)."""
    if annotation in kinds:
        return True
    return any(_admits(arg, kinds) for arg in get_args(annotation))


class Strict(BaseModel):
    """Settings models: unknown keys are errors, values are immutable, NaN/inf are rejected, and
    a boolean is never a number (YAML reads ``limit: yes`` as True, which pydantic would take as
    1 and evaluate one example)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, v: Any, info: ValidationInfo) -> Any:
        items = v if isinstance(v, (list, tuple)) else (v,)
        if any(isinstance(x, bool) for x in items) and info.field_name is not None:
            field = cls.model_fields.get(info.field_name)
            if (
                field is not None
                and _admits(field.annotation, (int, float))
                and not _admits(field.annotation, (bool,))
            ):
                raise ValueError(
                    f"expected a number, got {v!r} (YAML reads yes/no/on/off as true/false)"
                )
        return v


class FinetuneSettings(Strict):
    """Encoder fine-tuning (HF Trainer). Defaults learn from a few hundred labels; the study's
    exact settings are the ``study`` preset (see ``FINETUNE_PRESETS``)."""

    learning_rate: float = Field(5e-5, gt=0, le=1)
    batch_size: int = Field(16, ge=1)
    epochs: float = Field(3.0, gt=0, le=1000)
    #: at least this many optimisation steps: small data sets get more epochs (Mosbach et al.
    #: 2021); off (0) when ``epochs`` is given explicitly without it
    min_steps: int = Field(300, ge=0)
    max_length: int = Field(128, ge=8)
    weight_decay: float = Field(0.0, ge=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, raw: Any) -> Any:
        """``preset: study`` fills in a named preset; settings given beside it still win."""
        if isinstance(raw, dict) and "preset" in raw:
            raw = dict(raw)
            name = raw.pop("preset")
            if name not in FINETUNE_PRESETS:
                raise ValueError(
                    f"unknown preset {name!r}; use one of {', '.join(FINETUNE_PRESETS)}"
                )
            raw = {**FINETUNE_PRESETS[name], **raw}
        if isinstance(raw, dict) and "epochs" in raw and "min_steps" not in raw:
            # epochs given explicitly mean exactly that many: the step floor is for the default
            raw = {**raw, "min_steps": 0}
        return raw


#: named fine-tuning presets; ``study`` reproduces the published study exactly
FINETUNE_PRESETS: dict[str, dict[str, Any]] = {
    "study": {
        "learning_rate": 2e-5,
        "batch_size": 32,
        "epochs": 3.0,
        "min_steps": 0,
        "max_length": 128,
        "weight_decay": 0.0,
        "warmup_ratio": 0.0,
    },
}


class PromptSettings(Strict):
    """Prompted-LLM settings (used by the zero-shot and few-shot methods)."""

    k: int = Field(5, ge=0, le=512)
    scoring: Literal["loglik", "generate"] = "loglik"
    chat_template: bool = True
    #: a user template (str.format with the task's field names); None = the built-in one
    template: str | None = None
    instruction: str | None = None
    verbalizers: tuple[str, ...] | None = None
    max_new_tokens: int = Field(5, ge=1)
    max_length: int = Field(2048, ge=16)

    @field_validator("template", "instruction")
    @classmethod
    def _not_blank(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("is empty; give text, or leave it out for the task's default")
        return v

    @field_validator("verbalizers", mode="before")
    @classmethod
    def _words(cls, v: Any) -> Any:
        if isinstance(v, str):
            return tuple(w.strip() for w in v.split(","))
        return v


class ExperimentConfig(Strict):
    """Everything that determines one experiment's result."""

    task: str
    data_fingerprint: str
    eval_split: str
    model: str
    method: str
    seed: int = Field(99, ge=0, le=MAX_SEED)
    precision: Precision = "auto"
    batch_size: BatchSize = "auto"
    train_limit: int | None = Field(None, ge=1)
    eval_limit: int | None = Field(None, ge=1)
    #: K-fold cross-validation over all labelled examples (see bakeoff.crossval); None: hold-out
    cv: int | None = Field(None, ge=2)
    latency_samples: int = Field(64, ge=1)
    device: Device = "auto"
    #: the method's own settings model (see ``bakeoff.methods.MethodSpec.settings_model``)
    settings: SerializeAsAny[BaseModel] | None = None

    @model_validator(mode="before")
    @classmethod
    def _typed_settings(cls, raw: Any) -> Any:
        """Stored configs come back as dicts: give ``settings`` its method's model again."""
        if isinstance(raw, dict) and isinstance(raw.get("settings"), dict):
            from bakeoff.methods import get_method_spec

            spec = get_method_spec(str(raw.get("method")))
            raw = {**raw, "settings": spec.settings_model.model_validate(raw["settings"])}
        return raw

    @field_validator("method")
    @classmethod
    def _known_method(cls, v: str) -> str:
        from bakeoff.methods import get_method_spec

        get_method_spec(v)
        return v

    def identity(self) -> dict[str, Any]:
        """The configuration that defines the experiment's result (timing-only settings dropped)."""
        identity = {k: v for k, v in self.model_dump(mode="json").items() if k not in TIMING_ONLY}
        # settings added later enter the identity only when set, so earlier ids stay valid
        for key in ADDED_LATER:
            if identity.get(key) is None:
                identity.pop(key, None)
        return identity

    def experiment_id(self) -> str:
        """Stable hash of :meth:`identity` (JSON with sorted keys)."""
        canonical = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        return f"{self.task} / {self.model} / {self.method}"


class GridConfig(Strict):
    """A grid of tasks x models x methods, as given by flags or ``--config grid.yaml``.

    YAML keys follow lm-evaluation-harness habits where they exist (``tasks``, ``num_fewshot``,
    ``limit``, ``batch_size``, ``apply_chat_template``); see the README for an example. Method
    settings sit in one section per method family, keyed as the method declares
    (``finetune``, ``prompt``, ``embed_logreg``, ``setfit``); sections not given take defaults.
    """

    tasks: tuple[str, ...] = Field(min_length=1)
    models: tuple[str, ...] = Field(min_length=1)
    methods: tuple[str, ...] = Field(("finetune",), min_length=1)
    seed: int = Field(99, ge=0, le=MAX_SEED)
    #: repeat every seeded experiment (trained ones; few-shot demonstrations) once per seed
    seeds: tuple[Annotated[int, Field(ge=0, le=MAX_SEED)], ...] | None = Field(None, min_length=1)
    precision: Precision = "auto"
    batch_size: BatchSize = "auto"
    #: training-set sizes for trained methods: one, or a list for a label-budget curve; None or
    #: "all" = the whole train split
    train_limit: tuple[Annotated[int, Field(ge=1)] | None, ...] = (None,)
    eval_limit: int | None = Field(None, ge=1)
    #: score every labelled example out of fold with K models (small data sets); see crossval.py
    cv: int | None = Field(None, ge=2, le=100)
    latency_samples: int = Field(64, ge=1)
    device: Device = "auto"
    #: what is kept for ``bakeoff predict``/``export`` (see bakeoff.keep): ``best`` keeps every
    #: prompted recipe and the most accurate fine-tuned model per task, ``all`` every model
    keep: Literal["best", "all", "none"] = "best"
    #: where experiments execute (``local``, or ``ray`` with the ``ray`` extra)
    executor: str = "local"
    ray_address: str | None = None
    #: what each experiment asks Ray for: CPUs, and GPUs (None: one where the cluster has GPUs)
    ray_cpus: float = Field(1.0, gt=0)
    ray_gpus: float | None = Field(None, ge=0)
    data_dir: str | None = None
    #: user task files (YAML, see custom.py), addressed in ``tasks`` by their ``name``
    task_files: tuple[str, ...] = ()
    #: user tasks given inline (``bakeoff run --train-file ...``): task YAML keys, paths as given
    custom_tasks: tuple[dict[str, Any], ...] = ()
    #: one settings model per section (``finetune``, ``prompt``, ...), filled with defaults
    settings: dict[str, SerializeAsAny[BaseModel]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _sections(cls, raw: Any) -> Any:
        """Move each method section (``finetune:``, ``prompt:``...) into ``settings``, validated
        by its method's settings model; sections not given get their defaults."""
        if not isinstance(raw, dict):
            return raw
        from bakeoff.methods import settings_sections

        raw = dict(raw)
        given = dict(raw.pop("settings", None) or {})
        sections = settings_sections()
        for key in list(raw):
            if key in sections:
                given[key] = raw.pop(key)
        settings: dict[str, BaseModel] = {}
        for key, model in sections.items():
            value = given.get(key)
            if isinstance(value, BaseModel):
                settings[key] = value
                continue
            if value is not None and not isinstance(value, dict):
                raise ValueError(f"section '{key}' must be a mapping of settings, got {value!r}")
            try:
                settings[key] = model.model_validate(value or {})
            except ValidationError as exc:
                err = exc.errors()[0]
                loc = ".".join(str(x) for x in (key, *err["loc"]))
                msg = str(err["msg"]).removeprefix("Value error, ")
                raise ValueError(f"'{loc}': {msg}") from None
        raw["settings"] = settings
        return raw

    @field_validator("tasks", "models", "methods", mode="before")
    @classmethod
    def _split_commas(cls, v: Any) -> Any:
        if isinstance(v, str):
            return tuple(x.strip() for x in v.split(",") if x.strip())
        if isinstance(v, (list, tuple)) and not all(isinstance(x, str) for x in v):
            raise ValueError("expected names (strings), comma-separated or as a list")
        return v

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from bakeoff.methods import get_method_spec

        for name in v:
            get_method_spec(name)
        return v

    @field_validator("task_files", mode="before")
    @classmethod
    def _one_or_more_files(cls, v: Any) -> Any:
        if isinstance(v, str):
            return (v,)
        if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
            raise ValueError("expected a file path or a list of file paths")
        return v

    @field_validator("train_limit", mode="before")
    @classmethod
    def _budgets(cls, v: Any) -> Any:
        """``200``, ``all``, ``[16, 64, all]`` or ``"16,64,all"`` -> a tuple of sizes (None = all)."""
        if v is None:
            return (None,)
        if isinstance(v, str):
            v = [x.strip() for x in v.split(",") if x.strip()]
        if not isinstance(v, (list, tuple)):
            v = [v]
        if not v:
            raise ValueError("is empty; give at least one size, or all")
        out: list[int | None] = []
        for x in v:
            if x is None or (isinstance(x, str) and x.lower() == "all"):
                out.append(None)
            elif isinstance(x, bool):
                raise ValueError(f"expected a number of examples or all, got {x!r}")
            elif isinstance(x, float) and (not math.isfinite(x) or not x.is_integer()):
                raise ValueError(f"expected a whole number of examples or all, got {x!r}")
            elif isinstance(x, str):
                try:
                    out.append(int(x))
                except ValueError:
                    raise ValueError(f"expected a number of examples or all, got {x!r}") from None
            else:
                out.append(int(x) if isinstance(x, float) else x)
        return tuple(dict.fromkeys(out))  # each size once, in the order given

    @field_validator("seeds", mode="before")
    @classmethod
    def _seed_list(cls, v: Any) -> Any:
        if isinstance(v, str):
            return tuple(x.strip() for x in v.split(",") if x.strip())
        if isinstance(v, int) and not isinstance(v, bool):
            return (v,)
        return v

    @field_validator("seeds")
    @classmethod
    def _seeds_once(cls, v: tuple[int, ...] | None) -> tuple[int, ...] | None:
        """A seed given twice would run (and store) the same experiment twice under one id."""
        for seed, n in Counter(v or ()).items():
            if n > 1:
                raise ValueError(f"seed {seed} is given {n} times; give each seed once")
        return v

    @field_validator("executor")
    @classmethod
    def _known_executor(cls, v: str) -> str:
        if v not in ("local", "ray"):
            raise ValueError(f"unknown executor {v!r}; use local or ray")
        return v

    @property
    def seed_list(self) -> tuple[int, ...]:
        return self.seeds or (self.seed,)

    @model_validator(mode="after")
    def _cv_uses_every_example(self) -> GridConfig:
        if self.cv is not None and self.eval_limit is not None:
            raise ValueError(
                "cv scores every labelled example; leave out eval_limit (--limit) with --cv"
            )
        return self

    @field_validator("seed", "eval_limit", "latency_samples", "cv", mode="before")
    @classmethod
    def _whole_numbers(cls, v: Any) -> Any:
        """YAML reads ``1e23`` as a float: say it is not a whole number instead of overflowing."""
        if isinstance(v, float) and (not math.isfinite(v) or not v.is_integer()):
            raise ValueError(f"expected a whole number, got {v!r}")
        if isinstance(v, float):
            return int(v)
        return v

    def section(self, key: str) -> BaseModel:
        return self.settings[key]


#: lm-evaluation-harness spellings accepted in grid files, and where they go
_YAML_ALIASES = {
    "num_fewshot": ("prompt", "k"),
    "apply_chat_template": ("prompt", "chat_template"),
    "scoring": ("prompt", "scoring"),
    "limit": (None, "eval_limit"),
}


def load_grid_yaml(path: str | Path, overrides: dict[str, Any] | None = None) -> GridConfig:
    """Read a grid YAML; CLI flags given explicitly (``overrides``) win over the file."""
    path = Path(path)
    if path.is_dir():
        raise BakeoffError(f"config {path} is a directory; give a grid YAML file to --config")
    if not path.is_file():
        raise BakeoffError(f"config file {path} not found; check the path given to --config")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BakeoffError(
            f"{path}: not valid YAML ({type(exc).__name__}); fix its syntax"
        ) from None
    except OSError as exc:
        raise BakeoffError(f"cannot read {path} ({exc.strerror}); check its permissions") from None
    if not isinstance(raw, dict):
        raise BakeoffError(f"{path}: expected a mapping with keys tasks, models, methods")
    for key, (section, name) in _YAML_ALIASES.items():
        if key in raw:
            value = raw.pop(key)
            if section is None:
                raw[name] = value
            else:
                target = raw.setdefault(section, {})
                if not isinstance(target, dict):
                    raise BakeoffError(f"{path}: '{section}' must be a mapping of settings")
                target[name] = value
    if "task_files" in raw:
        files = raw["task_files"]
        files = [files] if isinstance(files, str) else files
        if not isinstance(files, list) or not all(isinstance(p, str) for p in files):
            raise BakeoffError(f"{path}: 'task_files' must be a list of file paths")
        raw["task_files"] = [str(p if Path(p).is_absolute() else path.parent / p) for p in files]
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return make_grid(raw, str(path))


def make_grid(raw: dict[str, Any], where: str = "flags") -> GridConfig:
    """Validate a grid; any problem is one line naming the setting."""
    try:
        return GridConfig(**raw)
    except ValidationError as exc:
        raise BakeoffError(f"{where}: {describe_error(exc)}; fix that setting") from None
    except BakeoffError as exc:
        raise BakeoffError(f"{where}: {exc}") from None


_UNION_MEMBER = re.compile(r"^(int|str|float|bool|constrained-\w+|literal\[.*\]|tuple\[.*\])$")


def describe_error(exc: ValidationError) -> str:
    """A pydantic error in users' words: the setting's name and what was wrong, no internals."""
    err = exc.errors()[0]
    loc = [str(x) for x in err["loc"] if not str(x).startswith(("function-", "json-or-python"))]
    # pydantic names union members in locations ('batch_size.int'); users know the setting only
    loc = [x for x in loc if not _UNION_MEMBER.match(x) and not x.isdigit()]
    if err["type"] in ("literal_error", "int_parsing", "int_type") and loc == ["batch_size"]:
        return f"'batch_size': expected a whole number of at least 1, or auto, got {err['input']!r}"
    msg = str(err["msg"]).replace("Value error, ", "")
    if err["type"] == "extra_forbidden":
        return f"unknown setting '{'.'.join(loc)}'"
    if err["type"] == "too_short":
        msg = "is empty; give at least one"
    where = ".".join(loc)
    return f"'{where}': {msg}" if where else msg
