"""The method registry: what a method is, declared once, read by the runner, store, report and CLI.

A method is one module that defines a class with ``prepare(config, data, progress) -> Prepared``
and registers a :class:`MethodSpec` for it with :func:`register_method`. Everything else (which
models it accepts, its settings and their grid section, its family in the encoder-vs-LLM
comparison, its plot marker, its place in tables) is read from the spec. Adding a method is that
module plus one line in ``BUILTIN_METHOD_MODULES``; a package outside bakeoff can register its own
through the ``bakeoff.methods`` entry-point group, as lm-evaluation-harness does with
``@register_model``.

Method modules import their heavy libraries (torch, transformers, setfit) inside ``prepare``, so
reading the registry stays fast.
"""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import BaseModel

from bakeoff.errors import BakeoffError
from bakeoff.models import ModelKind

if TYPE_CHECKING:
    from pathlib import Path

    from bakeoff.classifier import Classifier, Prepared, Progress
    from bakeoff.config import ExperimentConfig
    from bakeoff.data import TaskData

#: what a method can keep for reuse: trained weights (a model folder, megabytes to gigabytes) or
#: a recipe (one small JSON file that rebuilds the classifier from a model it names)
ArtifactKind = Literal["weights", "recipe"]
#: writes a finished classifier's artifact at the given path (a folder for weights, one JSON file
#: for a recipe) so that ``bakeoff.artifacts.load_classifier`` rebuilds it
SaveArtifact = Callable[["Classifier", "ExperimentConfig", "TaskData", "Path"], None]

#: the encoder-vs-LLM question: a method either trains an encoder-sized model or prompts an LLM
Family = Literal["encoder", "LLM"]

#: one line per built-in method module; each registers its method(s) when imported
BUILTIN_METHOD_MODULES: tuple[str, ...] = (
    "bakeoff.methods.finetune",
    "bakeoff.methods.prompted",
    "bakeoff.methods.embed_logreg",
    "bakeoff.methods.setfit_method",
)
ENTRY_POINT_GROUP = "bakeoff.methods"


class Method(Protocol):
    def prepare(self, config: ExperimentConfig, data: TaskData, progress: Progress) -> Prepared:
        """Train or set up a classifier for ``data.task``. Must not look at ``data.eval`` labels."""
        ...


@dataclass(frozen=True)
class MethodSpec:
    """Everything bakeoff needs to know about a method, in one declaration."""

    name: str
    family: Family
    #: model kinds it runs on ("encoder", "causal"); a model of another kind is skipped in grids
    model_kinds: tuple[ModelKind, ...]
    #: the grid section holding its settings (methods may share one: zero-shot and few-shot)
    settings_section: str
    settings_model: type[BaseModel]
    #: builds the method object (called once per experiment)
    factory: Callable[[], Method]
    description: str
    #: matplotlib marker in the report's figures
    marker: str = "o"
    #: position in tables and figures (trained encoders first, then prompting)
    order: int = 50
    #: consumes labelled training rows (``--train-limit`` applies; a label-budget curve point)
    trains: bool = True
    #: its result depends on the seed (training randomness, sampled demonstrations): a grid's
    #: ``seeds`` repeat it; a method without randomness (zero-shot) runs once
    seeded: bool = True
    #: settings as this method uses them (zero-shot forces k=0 on the shared prompt section)
    adapt: Callable[[BaseModel], BaseModel] | None = None
    #: example models to suggest in errors
    example_model: str = "minilm"
    #: checks an experiment's settings against its task's data in planning, before anything is
    #: written (a bad template, answer words of the wrong count, k larger than the train split);
    #: raises BakeoffError
    check: Callable[[ExperimentConfig, TaskData], None] | None = None
    #: what it keeps for ``bakeoff predict``/``export`` (None: nothing, predict cannot use it)
    artifact: ArtifactKind | None = None
    save_artifact: SaveArtifact | None = None

    def settings_for(self, section: BaseModel | None) -> BaseModel:
        """The settings an experiment runs with: its section (the defaults when it has none),
        adapted by the method (zero-shot forces k=0)."""
        if section is None:
            section = self.settings_model()
        return self.adapt(section) if self.adapt else section

    def mismatch(self, model: str, kind: ModelKind | None) -> str | None:
        """Why this method cannot run ``model`` of ``kind`` (None when it can or kind is unknown)."""
        if kind is None or kind in self.model_kinds:
            return None
        fits = ", ".join(s.name for s in method_specs().values() if kind in s.model_kinds)
        what = "an encoder" if kind == "encoder" else "a causal LM"
        return (
            f"model '{model}' is {what}; method {self.name} needs "
            f"{' or '.join(self.model_kinds)} models such as {self.example_model}"
            + (f"; with {model} use {fits}" if fits else "")
        )


_REGISTRY: dict[str, MethodSpec] = {}
_loaded = False


def register_method(spec: MethodSpec) -> MethodSpec:
    """Add a method to the registry (a second registration under one name is a bug)."""
    existing = _REGISTRY.get(spec.name)
    if existing is not None and existing != spec:
        raise ValueError(f"method {spec.name!r} is registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN_METHOD_MODULES:
        importlib.import_module(module)
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        ep.load()


def method_specs() -> dict[str, MethodSpec]:
    """Every registered method, in table order."""
    _load()
    return dict(sorted(_REGISTRY.items(), key=lambda kv: (kv[1].order, kv[0])))


def get_method_spec(name: str) -> MethodSpec:
    specs = method_specs()
    if name not in specs:
        raise BakeoffError(f"unknown method '{name}'; use one of: {', '.join(specs)}")
    return specs[name]


def settings_sections() -> dict[str, type[BaseModel]]:
    """Grid section name -> settings model, over every registered method."""
    return {s.settings_section: s.settings_model for s in method_specs().values()}


def release_models(keep: str | None = None) -> None:
    """Drop models kept in memory for reuse (the last causal LM) unless they are ``keep``.

    The runner calls this before each experiment, so one experiment's peak memory never includes
    a model that only an earlier experiment needed.
    """
    backend = sys.modules.get("bakeoff.backends.causal_lm")
    if backend is not None and backend.release_cached(keep):
        gc.collect()
