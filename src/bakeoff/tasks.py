"""Task definitions: what the inputs are, what the labels are called, and where the data lives.

A task says nothing about models or methods. Built-in tasks mirror the study's four benchmarks with
the label order of their Hugging Face datasets, so label ids agree with every other tool.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bakeoff.errors import BakeoffError


@dataclass(frozen=True)
class HubSource:
    """Where a built-in task lives on the Hugging Face hub (used when no local data is given)."""

    path: str
    name: str | None
    train_split: str
    eval_split: str
    #: hub column -> our field name, where they differ
    rename: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LocalSource:
    """File names (without extension) in ``<data-dir>/<task>/`` for the JSON Lines layout."""

    train_split: str
    eval_split: str
    note: str = ""


@dataclass(frozen=True)
class TaskPromptSpec:
    """A task's own prompt wording (from its task YAML); flags still override it for a run."""

    instruction: str | None = None
    template: str | None = None
    #: one answer word per label, in label order (None: the label names)
    answer_words: tuple[str, ...] | None = None


@dataclass(frozen=True)
class TaskSpec:
    """A classification task: input fields (one text or a text pair), label names and data sources."""

    name: str
    description: str
    text_fields: tuple[str, ...]
    label_names: tuple[str, ...]
    label_field: str = "label"
    hub: HubSource | None = None
    local: LocalSource | None = None
    licence: str = ""
    prompt: TaskPromptSpec | None = None

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def is_pair(self) -> bool:
        return len(self.text_fields) == 2


BUILTIN_TASKS: dict[str, TaskSpec] = {
    "sst2": TaskSpec(
        name="sst2",
        description="SST-2 (GLUE): movie-review sentence sentiment, negative or positive.",
        text_fields=("sentence",),
        label_names=("negative", "positive"),
        hub=HubSource("nyu-mll/glue", "sst2", "train", "validation"),
        local=LocalSource("train", "validation"),
        licence="see GLUE / Stanford Sentiment Treebank terms",
    ),
    "rte": TaskSpec(
        name="rte",
        description="RTE (GLUE): does sentence 1 entail sentence 2?",
        text_fields=("sentence1", "sentence2"),
        label_names=("entailment", "not_entailment"),
        hub=HubSource("nyu-mll/glue", "rte", "train", "validation"),
        local=LocalSource("train", "validation"),
        licence="see GLUE / PASCAL RTE terms",
    ),
    "boolq": TaskSpec(
        name="boolq",
        description="BoolQ (SuperGLUE): answer a yes/no question about a Wikipedia passage.",
        text_fields=("question", "passage"),
        label_names=("false", "true"),
        hub=HubSource("aps/super_glue", "boolq", "train", "validation"),
        local=LocalSource("train", "validation"),
        licence="CC-BY-SA 3.0",
    ),
    "anli_r1": TaskSpec(
        name="anli_r1",
        description="ANLI round 1: adversarial NLI, entailment / neutral / contradiction.",
        text_fields=("premise", "hypothesis"),
        label_names=("entailment", "neutral", "contradiction"),
        hub=HubSource("facebook/anli", None, "train_r1", "dev_r1"),
        # Offline, R1 train is not available: train (and draw few-shot examples) on R1 dev and
        # evaluate on R1 test, so the evaluated split is never seen in training.
        local=LocalSource(
            "validation", "test", note="offline: trains on R1 dev, evaluates on R1 test"
        ),
        licence="CC-BY-NC 4.0 (non-commercial)",
    ),
}


def get_task(name: str) -> TaskSpec:
    """Look up a built-in task by name, with a one-line error listing the known ones."""
    try:
        return BUILTIN_TASKS[name]
    except KeyError:
        known = ", ".join(sorted(BUILTIN_TASKS))
        raise BakeoffError(
            f"unknown task '{name}'; built-in tasks are {known} "
            "(or give your own data with --train-file/--eval-file or a task YAML)"
        ) from None
