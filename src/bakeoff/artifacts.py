"""Keeping what an experiment produced, so the winner can be used without training it again.

Two kinds of artifact, both rebuilt into a :class:`~bakeoff.classifier.Classifier` by
:func:`load_classifier`:

- **encoder**: a folder that is an ordinary Hugging Face model folder (``config.json`` with
  ``id2label``/``label2id`` set to the label names, ``model.safetensors``, the tokenizer) plus
  ``bakeoff-artifact.json`` with what inference needs to behave exactly as in the evaluation:
  label names, max length, precision and batch size, and the fine-tuning settings.
- **prompted**: one JSON recipe file. A prompted classifier has no trained weights, so its
  recipe is everything that decides its answers: the model (alias, resolved path, GGUF file),
  the instruction, template and answer words, the demonstrations themselves (text, not indices
  into a data file that may change), the chat-template flag, the scoring mode, precision and max
  length, and the training examples used to find where the shared prompt prefix can be cut.

- **embedding**: a frozen or fine-tuned sentence encoder with a logistic-regression head
  (embed-logreg, SetFit). The head is kept as plain numbers (coefficients, intercepts, classes;
  never a pickle). embed-logreg's encoder is the pretrained model it names, so its artifact is
  one JSON file of a few kB, like a recipe; SetFit fine-tunes its encoder, so its artifact is a
  folder with the encoder saved by sentence-transformers under ``encoder/`` and the JSON as
  ``bakeoff-artifact.json``.

Weights are stored in the precision the experiment was evaluated in (``weights_dtype`` defaults
to ``precision``). A bf16 experiment runs its model cast to bf16 anyway, so bf16 storage gives
bit-identical predictions at half the disk (MiniLM-L6: ~45 MB instead of ~90 MB; BERT-base ~220
MB; DeBERTa-v3-base ~370 MB). Loading always goes through fp32 and lets
:class:`~bakeoff.methods.finetune.EncoderClassifier` cast, exactly as during the evaluation.

Every save writes into a temporary sibling and renames it into place, with the marker file
written last, so an interrupted save never leaves something that looks like an artifact.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bakeoff import __version__
from bakeoff.classifier import Classifier
from bakeoff.data import Example
from bakeoff.errors import BakeoffError

#: marker and metadata of an encoder artifact folder; written last
ARTIFACT_FILE = "bakeoff-artifact.json"
#: bumped when the layout changes in a way older readers cannot handle
FORMAT_VERSION = 1
#: keys a prompted recipe must have (see :func:`recipe_from_classifier` for their meaning)
RECIPE_KEYS = (
    "model",
    "label_names",
    "text_fields",
    "instruction",
    "template",
    "verbalizers",
    "demonstrations",
    "chat_template",
    "scoring",
    "precision",
    "max_length",
)
_PRECISIONS = ("bf16", "fp32")
#: inference batch size when a caller records none (the encoder CPU default, finetune.py)
DEFAULT_BATCH_SIZE = 128


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _fsync_dir(path: Path) -> None:
    """Make a rename durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON to a temporary file, fsync it, then rename it over ``path``: readers see the
    old file or the new one, never half of one (also after a kill -9)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _replace_dir(tmp: Path, target: Path) -> None:
    """Move a finished folder into place, replacing an older artifact at ``target``; any other
    file or folder there is refused (bakeoff never deletes what it did not write)."""
    old = None
    if target.exists() or target.is_symlink():
        if target.is_symlink() or not (target / ARTIFACT_FILE).is_file():
            raise BakeoffError(
                f"{target} exists and is not a bakeoff artifact folder; save to a new path"
            )
        old = target.with_name(f".{target.name}-old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    tmp.rename(target)
    _fsync_dir(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _check_precision(precision: str, what: str) -> str:
    if precision not in _PRECISIONS:
        raise BakeoffError(
            f"{what} must be 'bf16' or 'fp32', got {precision!r}; resolve 'auto' first"
        )
    return precision


# ---------------------------------------------------------------------------------------------
# saving


def provenance(config: Any) -> dict[str, Any]:
    """What every artifact records about the experiment that made it (``extra``: metadata for
    people and tools; nothing in bakeoff reads it back)."""
    return {
        "experiment_id": config.experiment_id(),
        "task": config.task,
        "base_model": config.model,
        "method": config.method,
    }


def settings_of(config: Any) -> dict[str, Any]:
    """The experiment's method settings as JSON-safe values (for model cards and metadata)."""
    return config.settings.model_dump(mode="json") if config.settings is not None else {}


def save_encoder(
    folder: str | Path,
    model: Any,
    tokenizer: Any,
    label_names: Sequence[str],
    settings: dict[str, Any],
    precision: str,
    *,
    max_length: int | None = None,
    batch_size: int | None = None,
    weights_dtype: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Save a fine-tuned sequence-classification model as an encoder artifact folder.

    ``settings`` are the fine-tuning settings as a dict (``FinetuneSettings.model_dump()``),
    kept for the model card. ``max_length`` (default: ``settings["max_length"]``) and
    ``batch_size`` (the evaluation's inference batch size) are what ``predict`` truncates and
    batches with, as the evaluation did; ``precision`` is the resolved precision it ran in.
    ``extra`` (JSON-safe: experiment id, task, base model...) is kept in the metadata. The
    caller's model is not modified (a copy is cast to ``weights_dtype``). Returns the folder.
    :func:`save_encoder_classifier` takes all of these from a live classifier.
    """
    import torch

    _check_precision(precision, "precision")
    dtype_name = _check_precision(weights_dtype or precision, "weights_dtype")
    folder = Path(folder)
    names = [str(n) for n in label_names]
    if len(names) < 2:
        raise BakeoffError(f"an encoder artifact needs at least two label names, got {names}")
    target_dtype = torch.bfloat16 if dtype_name == "bf16" else torch.float32
    keep = copy.deepcopy(model).to("cpu").to(target_dtype)
    keep.config.id2label = dict(enumerate(names))
    keep.config.label2id = {name: i for i, name in enumerate(names)}
    keep.config.num_labels = len(names)
    meta = {
        "kind": "encoder",
        "format_version": FORMAT_VERSION,
        "bakeoff_version": __version__,
        "created": _now(),
        "label_names": names,
        "max_length": int(max_length or settings.get("max_length") or 128),
        "precision": precision,
        "batch_size": int(batch_size or settings.get("eval_batch_size") or DEFAULT_BATCH_SIZE),
        "weights_dtype": dtype_name,
        "settings": settings,
        "extra": extra or {},
    }
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        keep.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json_atomic(tmp / ARTIFACT_FILE, meta)
        _replace_dir(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def save_encoder_classifier(
    folder: str | Path,
    classifier: Any,
    settings: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Save a live :class:`~bakeoff.methods.finetune.EncoderClassifier` (what
    ``FinetuneMethod.prepare`` returns) with its own max length, batch size and precision.
    Its model is already in the evaluated precision, so the saved weights are exactly the ones
    that produced the stored predictions."""
    return save_encoder(
        folder,
        classifier.model,
        classifier.tokenizer,
        classifier.label_names,
        settings,
        classifier.precision,
        max_length=classifier.max_length,
        batch_size=classifier.batch_size,
        extra=extra,
    )


def _example_dict(example: Example, label_names: Sequence[str] | None) -> dict[str, Any]:
    row: dict[str, Any] = {"text": example.text, "text_pair": example.text_pair}
    if label_names is not None:
        row["label"] = label_names[example.label]
    return row


def recipe_from_classifier(
    classifier: Any,
    model: str,
    precision: str,
    probes: Sequence[Example] = (),
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The recipe of a live :class:`~bakeoff.methods.prompted.PromptedClassifier`.

    ``model`` is the name the experiment gave (alias, hub id, folder or ``.gguf`` path);
    ``probes`` the training examples that ``encode_prefix`` was given (they decide where the
    shared prefix is cut, so keeping them makes the rebuilt classifier encode the same prefix).
    """
    fmt, builder, settings, lm = (
        classifier.fmt,
        classifier.builder,
        classifier.settings,
        classifier.lm,
    )
    source = str(getattr(lm, "source", model))
    gguf = source.rsplit("/", 1)[-1] if source.endswith(".gguf") else None
    recipe: dict[str, Any] = {
        "model": model,
        "model_source": source,
        "gguf_file": gguf,
        "label_names": list(fmt.label_names),
        "text_fields": list(fmt.text_fields),
        "instruction": fmt.instruction,
        "template": fmt.template,
        "verbalizers": list(fmt.verbalizers),
        "demonstrations": [_example_dict(ex, fmt.label_names) for ex in builder.shots],
        "prefix_probes": [_example_dict(ex, None) for ex in probes],
        "chat_template": bool(builder.chat),
        "scoring": settings.scoring,
        "precision": precision,
        "max_length": int(settings.max_length),
        "max_new_tokens": int(settings.max_new_tokens),
        "batch_size": int(classifier.batch_size),
        "batch_size_auto": bool(classifier.backoff),
    }
    if extra:
        recipe["extra"] = extra
    return recipe


def save_prompted_recipe(path: str | Path, recipe: dict[str, Any]) -> Path:
    """Write a prompted classifier's recipe as one JSON file (see :func:`recipe_from_classifier`
    for the keys; ``RECIPE_KEYS`` are required). Returns the path."""
    missing = [k for k in RECIPE_KEYS if k not in recipe]
    if missing:
        raise BakeoffError(
            f"prompted recipe lacks {', '.join(missing)}; build it with recipe_from_classifier"
        )
    _check_precision(str(recipe["precision"]), "recipe precision")
    data = {
        "kind": "prompted",
        "format_version": FORMAT_VERSION,
        "bakeoff_version": __version__,
        "created": _now(),
        **{k: v for k, v in recipe.items() if k not in ("kind", "format_version")},
    }
    path = Path(path)
    write_json_atomic(path, data)
    return path


def _head_state(head: Any) -> dict[str, Any]:
    """A fitted sklearn ``LogisticRegression`` as JSON-safe numbers and its parameters."""
    params = {
        k: v
        for k, v in head.get_params().items()
        if v is None or isinstance(v, (bool, int, float, str))
    }
    return {
        "class": type(head).__name__,
        "params": params,
        "coef": head.coef_.tolist(),
        "intercept": head.intercept_.tolist(),
        "classes": [int(c) for c in head.classes_],
        "n_features_in": int(head.n_features_in_),
    }


def save_embedding_classifier(
    path: str | Path,
    classifier: Any,
    model: str,
    settings: dict[str, Any],
    *,
    keep_encoder: bool,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Save a live :class:`~bakeoff.methods.embed_logreg.EmbeddingClassifier`: one JSON file
    naming ``model`` (``keep_encoder=False``: the encoder is the pretrained one), or a folder with
    the encoder saved beside the JSON (``keep_encoder=True``: SetFit fine-tuned it)."""
    if classifier.head is None or type(classifier.head).__name__ != "LogisticRegression":
        raise BakeoffError("an embedding artifact needs a fitted logistic-regression head")
    precision = _check_precision(str(classifier.precision), "precision")
    meta: dict[str, Any] = {
        "kind": "embedding",
        "format_version": FORMAT_VERSION,
        "bakeoff_version": __version__,
        "created": _now(),
        "model": model,
        "encoder": "encoder" if keep_encoder else None,
        "label_names": [str(n) for n in classifier.label_names],
        "batch_size": int(classifier.batch_size),
        "precision": precision,
        "normalize": bool(classifier.normalize),
        "pair_encoding": classifier.pair_encoding,
        "separator": classifier.separator,
        "max_seq_length": int(classifier.encoder.max_seq_length),
        "head": _head_state(classifier.head),
        "settings": settings,
        "extra": extra or {},
    }
    path = Path(path)
    if not keep_encoder:
        write_json_atomic(path, meta)
        return path
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        encoder = copy.deepcopy(classifier.encoder).to("cpu")
        if precision == "bf16":
            encoder = encoder.to(torch.bfloat16)
        encoder.save(str(tmp / "encoder"))
        write_json_atomic(tmp / ARTIFACT_FILE, meta)
        _replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


# ---------------------------------------------------------------------------------------------
# reading


def artifact_size(path: str | Path) -> int:
    """Bytes an artifact takes on disk (a folder's files summed, or one file's size); 0 if
    absent. What the README's disk-use policy and ``bakeoff`` listings report."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    if not path.is_dir():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BakeoffError(
            f"{path}: not a readable bakeoff artifact ({type(exc).__name__}); "
            "point to an artifact folder or recipe file written by bakeoff"
        ) from None
    if not isinstance(data, dict):
        raise BakeoffError(f"{path}: not a bakeoff artifact (expected a JSON object)")
    version = data.get("format_version", FORMAT_VERSION)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise BakeoffError(
            f"{path}: artifact format {version} is newer than this bakeoff reads "
            f"({FORMAT_VERSION}); upgrade bakeoff"
        )
    return data


def read_artifact(path: str | Path) -> dict[str, Any]:
    """The metadata of an artifact: an encoder folder's ``bakeoff-artifact.json`` or a recipe
    file's content, with ``kind`` ("encoder" or "prompted") and ``path`` added."""
    path = Path(path)
    if path.is_dir():
        marker = path / ARTIFACT_FILE
        if not marker.is_file():
            raise BakeoffError(
                f"{path}: no {ARTIFACT_FILE} in this folder; give an encoder artifact folder "
                "or a prompted recipe .json written by bakeoff"
            )
        data = _read_json(marker)
    elif path.is_file():
        data = _read_json(path)
    else:
        raise BakeoffError(f"artifact {path} not found; check the path or the experiment id")
    kind = data.get("kind")
    if kind not in ("encoder", "prompted", "embedding"):
        raise BakeoffError(
            f"{path}: unknown artifact kind {kind!r}; expected encoder, prompted or embedding"
        )
    if kind == "encoder" and not path.is_dir():
        raise BakeoffError(
            f"{path}: an encoder artifact is a folder; give the folder, not the file"
        )
    return {**data, "path": str(path)}


def _runtime_precision(recorded: str, device: str, override: str | None) -> str:
    """The recorded precision, unless overridden or the device cannot run it natively."""
    from bakeoff.environment import bf16_supported

    if override is not None:
        return _check_precision(override, "precision")
    if recorded == "bf16" and not bf16_supported(device):
        warnings.warn(
            f"artifact was evaluated in bf16 but {device} has no native bf16; running fp32, "
            "so a few near-tie predictions may differ from the stored ones",
            stacklevel=3,
        )
        return "fp32"
    return recorded


def _load_encoder(meta: dict[str, Any], device: str, precision: str | None) -> Classifier:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from bakeoff.methods.finetune import EncoderClassifier

    folder = Path(meta["path"])
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        # fp32 first, then the classifier casts exactly as it did during the evaluation
        model = AutoModelForSequenceClassification.from_pretrained(folder, dtype=torch.float32)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise BakeoffError(
            f"{folder}: cannot load the saved encoder ({first}); the artifact is damaged, re-run "
            "the experiment with --force to save it again"
        ) from None
    names = [str(n) for n in meta["label_names"]]
    if model.config.num_labels != len(names):
        raise BakeoffError(
            f"{folder}: model has {model.config.num_labels} outputs but the artifact lists "
            f"{len(names)} labels; the artifact is damaged, re-run the experiment with --force"
        )
    return EncoderClassifier(
        model,
        tokenizer,
        names,
        int(meta["max_length"]),
        int(meta["batch_size"]),
        device,
        _runtime_precision(str(meta["precision"]), device, precision),
    )


def _examples(rows: Any, label_names: Sequence[str] | None, where: str) -> list[Example]:
    if not isinstance(rows, list):
        raise BakeoffError(f"{where} must be a list of {{text, text_pair, label}} objects")
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise BakeoffError(f"{where}[{i}] has no text; fix the recipe file")
        label = 0
        if label_names is not None:
            if row.get("label") not in label_names:
                raise BakeoffError(
                    f"{where}[{i}] has label {row.get('label')!r}, not one of "
                    f"{', '.join(label_names)}; fix the recipe file"
                )
            label = list(label_names).index(row["label"])
        pair = row.get("text_pair")
        out.append(Example(row["text"], label, pair if isinstance(pair, str) else None))
    return out


def _load_prompted(meta: dict[str, Any], device: str, precision: str | None) -> Classifier:
    from bakeoff.backends.causal_lm import load_causal_lm
    from bakeoff.config import PromptSettings
    from bakeoff.methods.prompted import PromptedClassifier
    from bakeoff.prompts import PromptBuilder, PromptFormat

    where = meta["path"]
    missing = [k for k in RECIPE_KEYS if k not in meta]
    if missing:
        raise BakeoffError(f"{where}: recipe lacks {', '.join(missing)}; export it again")
    names = tuple(str(n) for n in meta["label_names"])
    fmt = PromptFormat(
        instruction=str(meta["instruction"]),
        template=str(meta["template"]),
        verbalizers=tuple(str(v) for v in meta["verbalizers"]),
        label_names=names,
        text_fields=tuple(str(f) for f in meta["text_fields"]),
    )
    if len(fmt.verbalizers) != len(names):
        raise BakeoffError(f"{where}: {len(fmt.verbalizers)} verbalizers for {len(names)} labels")
    shots = _examples(meta["demonstrations"], names, f"{where}: demonstrations")
    probes = _examples(meta.get("prefix_probes") or [], None, f"{where}: prefix_probes")
    run_precision = _runtime_precision(str(meta["precision"]), device, precision)
    try:
        lm = load_causal_lm(str(meta["model"]), device, run_precision)
    except BakeoffError:
        source = meta.get("model_source")
        if not source or not Path(source).exists():
            raise
        lm = load_causal_lm(str(source), device, run_precision)
    builder = PromptBuilder(fmt, shots, lm.tokenizer, bool(meta["chat_template"]))
    if builder.chat != bool(meta["chat_template"]):
        raise BakeoffError(
            f"{where}: the recipe used the chat template but {meta['model']}'s tokenizer has "
            "none; point the recipe's model at the same model it was evaluated with"
        )
    batch_size = int(meta.get("batch_size") or 16)
    auto = bool(meta.get("batch_size_auto", False))
    values = {
        "k": len(shots),
        "scoring": meta["scoring"],
        "chat_template": bool(meta["chat_template"]),
        "template": fmt.template,
        "instruction": fmt.instruction,
        "verbalizers": fmt.verbalizers,
        "max_new_tokens": int(meta.get("max_new_tokens", 5)),
        "max_length": int(meta["max_length"]),
    }
    try:
        settings = PromptSettings(
            **{k: v for k, v in values.items() if k in PromptSettings.model_fields}
        )
    except ValueError as exc:  # pydantic's ValidationError
        raise BakeoffError(
            f"{where}: invalid prompt settings ({str(exc).splitlines()[0]})"
        ) from None
    classifier = PromptedClassifier(lm, builder, settings, device, batch_size, auto)
    classifier.encode_prefix(probes)
    return classifier


def load_classifier(
    path: str | Path, device: str | None = None, precision: str | None = None
) -> Classifier:
    """Rebuild the classifier an artifact describes: an encoder folder or a prompted recipe file.

    ``device`` defaults to the best one available; ``precision`` to the recorded one (fp32,
    with a warning, where the device has no native bf16). The result predicts with the batch
    size, max length, precision and length sorting of the evaluated experiment.
    """
    from bakeoff.environment import best_device

    meta = read_artifact(path)
    device = device or best_device()
    if meta["kind"] == "encoder":
        return _load_encoder(meta, device, precision)
    if meta["kind"] == "embedding":
        return _load_embedding(meta, device, precision)
    return _load_prompted(meta, device, precision)


def _load_embedding(meta: dict[str, Any], device: str, precision: str | None) -> Classifier:
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression

    from bakeoff.methods.embed_logreg import EmbeddingClassifier, load_sentence_encoder

    where = Path(meta["path"])
    state = meta.get("head") or {}
    if state.get("class") != "LogisticRegression":
        raise BakeoffError(f"{where}: unknown head {state.get('class')!r}; export it again")
    try:
        head = LogisticRegression(**state.get("params", {}))
        head.coef_ = np.asarray(state["coef"], dtype=np.float64)
        head.intercept_ = np.asarray(state["intercept"], dtype=np.float64)
        head.classes_ = np.asarray(state["classes"])
        head.n_features_in_ = int(state["n_features_in"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BakeoffError(
            f"{where}: damaged head ({type(exc).__name__}); export it again"
        ) from None
    if meta.get("encoder"):
        encoder, _ = load_sentence_encoder(str(where / meta["encoder"]), device)
    else:
        encoder, _ = load_sentence_encoder(str(meta["model"]), device)
    encoder.max_seq_length = int(meta["max_seq_length"])
    run_precision = _runtime_precision(str(meta["precision"]), device, precision)
    # loaded in fp32, then cast as the method did for its evaluation
    encoder = encoder.to(torch.bfloat16 if run_precision == "bf16" else torch.float32)
    return EmbeddingClassifier(
        encoder,
        head,
        [str(n) for n in meta["label_names"]],
        int(meta["batch_size"]),
        device,
        run_precision,
        normalize=bool(meta["normalize"]),
        pair_encoding=meta.get("pair_encoding", "features"),
        separator=str(meta.get("separator", "[SEP]")),
    )


__all__ = [
    "ARTIFACT_FILE",
    "provenance",
    "settings_of",
    "artifact_size",
    "load_classifier",
    "read_artifact",
    "recipe_from_classifier",
    "save_encoder",
    "save_embedding_classifier",
    "save_encoder_classifier",
    "save_prompted_recipe",
]
