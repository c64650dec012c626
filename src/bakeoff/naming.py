"""Readable names for experiments: "model · method", plus the settings that set it apart.

Two experiments that differ only in a setting are named by that setting ("smollm2-135m ·
zero-shot · answer words bad/good"), never by a hash, so a table never merges two configurations
into one row and a reader sees at once what was varied. Names are computed over the set of
experiments shown together: a setting that is the same for all of them is not repeated.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from bakeoff.config import ExperimentConfig

#: identity fields that say where an experiment ran, not how: never part of a name
_NOT_NAMED = {"task", "data_fingerprint", "eval_split", "model", "method", "device"}
#: how settings read in names
_WORDS = {
    "train_limit": "labels",
    "eval_limit": "eval n",
    "cv": "cv folds",
    "batch_size": "batch",
    "settings.k": "k",
    "settings.verbalizers": "answer words",
    "settings.learning_rate": "lr",
    "settings.chat_template": "chat template",
    "settings.max_length": "max length",
    "settings.num_iterations": "pairs/example",
}


def short_model(model: str) -> str:
    """'Qwen/Qwen2.5-1.5B-Instruct' -> 'Qwen2.5-1.5B-Instruct'; paths -> their file or folder name."""
    name = model.rstrip("/").replace("\\", "/").rsplit("/", 1)[-1]
    return name[: -len(".gguf")] if name.endswith(".gguf") else name


def _flat(config: ExperimentConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.identity().items():
        if key in _NOT_NAMED:
            continue
        if key == "settings" and isinstance(value, dict):
            for sub, v in value.items():
                out[f"settings.{sub}"] = v
        else:
            out[key] = value
    return out


def _value(v: Any) -> str:
    if v is None:
        return "default"
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, (list, tuple)):
        return "/".join(str(x) for x in v)
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _part(key: str, value: Any) -> str:
    word = _WORDS.get(key, key.removeprefix("settings.").replace("_", " "))
    if key == "settings.scoring":
        return _value(value)
    if key == "precision":
        return _value(value)
    return f"{word} {_value(value)}"


def base_name(config: ExperimentConfig) -> str:
    return f"{short_model(config.model)} · {config.method}"


def experiment_names(configs: Sequence[tuple[str, ExperimentConfig]]) -> dict[str, str]:
    """Experiment id -> display name, unique among ``configs`` (pairs of id and config).

    Experiments sharing "model · method" get the settings in which they differ appended, in a
    stable order; if they differ in nothing nameable (the same configuration on different data),
    the eval split's data fingerprint tells them apart.
    """
    groups: dict[str, list[tuple[str, ExperimentConfig]]] = defaultdict(list)
    for rid, config in configs:
        groups[base_name(config)].append((rid, config))
    names: dict[str, str] = {}
    for base, members in groups.items():
        flats = {rid: _flat(c) for rid, c in members}
        keys = sorted({k for f in flats.values() for k in f})
        varying = [k for k in keys if len({repr(f.get(k)) for f in flats.values()}) > 1]
        for rid, _ in members:
            parts = [_part(k, flats[rid].get(k)) for k in varying]
            names[rid] = " · ".join([base, *parts]) if parts else base
        # one configuration on several tasks keeps one name (one row, a column per task);
        # two on the same task that differ in nothing nameable are told apart by their data
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for rid, config in members:
            counts[(names[rid], config.task)] += 1
        for rid, config in members:
            if counts[(names[rid], config.task)] > 1:
                names[rid] += f" · data {config.data_fingerprint[:8]}"
    return names
