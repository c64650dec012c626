"""Exporting a kept classifier for use outside bakeoff.

- :func:`export_encoder`: a Hugging Face model folder that
  ``transformers.pipeline("text-classification", model=DIR)`` loads as it is (label names in
  ``id2label``, the tokenizer's ``model_max_length`` set to the evaluated max length), with a
  ``README.md`` model card giving the data, the settings, the accuracy with its 95% interval and
  the speed, all taken from the results store by the caller (``card_info``). Weights keep the
  artifact's dtype (the evaluated precision), so the pipeline computes what ``predict`` did.
- :func:`export_onnx`: an fp32 ONNX graph with dynamic batch and sequence axes, for serving
  outside Python. It is checked before it is kept: ONNX Runtime and the torch model (fp32, same
  weights) must pick the same label for every sample text and give probabilities within
  ``tolerance`` (1e-4 by default; fp32 differences seen are ~1e-6). Label names and max length
  are stored in the graph's metadata. Needs the ``export`` extra (onnx, onnxruntime).
- :func:`export_recipe`: a prompted classifier's recipe, copied as the one JSON file that
  ``predict`` (``artifacts.load_classifier``) accepts.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bakeoff import __version__
from bakeoff.artifacts import ARTIFACT_FILE, read_artifact
from bakeoff.errors import BakeoffError
from bakeoff.outputs import (
    check_file,
    check_folder,
    staging_path,
    write_error,
    write_file,
    write_folder,
)

#: default agreement tolerance between ONNX Runtime and torch, on probabilities, in fp32
ONNX_TOLERANCE = 1e-4
#: the flag every path check names in its message
FLAG = "--output"
#: texts of varied length (one longer than any max length, to exercise truncation) used to
#: check an ONNX export when the caller gives none; real evaluated texts are better
DEFAULT_CHECK_TEXTS = (
    "a delight from start to finish",
    "dull",
    "the plot wanders, but the performances hold it together and the final act lands",
    "I expected little and got even less: two hours of noise, shouting and loose ends.",
    "not bad at all",
    "An ambitious film that never quite decides what it wants to be. " * 20,
    "wonderful!",
    "a waste of a fine cast",
)


def _encoder_meta(artifact_folder: str | Path) -> dict[str, Any]:
    meta = read_artifact(artifact_folder)
    if meta["kind"] != "encoder":
        raise BakeoffError(
            f"{artifact_folder} is a prompted recipe, which has no weights to export; "
            "export it with export_recipe (bakeoff export copies the recipe file)"
        )
    return meta


def _kind_of(path: Path) -> str | None:
    """The kind of bakeoff artifact at ``path``, or None when it is not one: only a file that is
    provably bakeoff's is ever replaced."""
    try:
        return str(read_artifact(path)["kind"])
    except BakeoffError:
        return None


# ---------------------------------------------------------------------------------------------
# model card


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return " ".join(text.replace("|", "\\|").split())


def _table(rows: Sequence[tuple[str, Any]]) -> list[str]:
    lines = ["| | |", "|---|---|"]
    lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in rows if v not in (None, "")]
    return lines


def _number(value: Any, fmt: str) -> str | None:
    return None if value is None else format(float(value), fmt)


def model_card(meta: dict[str, Any], card_info: dict[str, Any]) -> str:
    """The README.md of an exported encoder. ``card_info`` keys (all optional): ``title``,
    ``experiment_id``, ``task``, ``task_description``, ``base_model``, ``licence``, ``data``
    (source, train_split, n_train, eval_split, n_eval, licence, fingerprint), ``metrics``
    (``Metrics.to_json()``), ``timing`` (``Timing.to_json()``), ``environment`` (cpu, gpu),
    ``settings`` (defaults to the artifact's fine-tuning settings)."""
    from bakeoff.metrics import format_accuracy

    names = list(meta["label_names"])
    task = card_info.get("task") or "classification"
    base = card_info.get("base_model")
    front: dict[str, Any] = {
        "library_name": "transformers",
        "pipeline_tag": "text-classification",
        "tags": ["bakeoff", "text-classification"],
    }
    if base:
        front["base_model"] = str(base)
    if card_info.get("licence"):
        front["license"] = str(card_info["licence"])
    title = card_info.get("title") or f"{base or 'encoder'} fine-tuned on {task}"
    out = ["---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "", f"# {title}", ""]
    out += [
        f"A sequence classifier fine-tuned and evaluated by bakeoff {meta.get('bakeoff_version')}"
        f" (exported with {__version__}). Labels: {', '.join(f'`{n}`' for n in names)}.",
        "",
    ]
    if card_info.get("task_description"):
        out += [str(card_info["task_description"]), ""]

    data = card_info.get("data") or {}
    out += ["## Data", ""]
    out += _table(
        [
            ("task", task),
            ("source", data.get("source")),
            ("trained on", _split(data.get("train_split"), data.get("n_train"))),
            ("evaluated on", _split(data.get("eval_split"), data.get("n_eval"))),
            ("data licence", data.get("licence")),
            ("data fingerprint", data.get("fingerprint")),
        ]
    )
    out += [""]

    metrics = card_info.get("metrics") or {}
    out += ["## Accuracy", ""]
    if metrics.get("accuracy") is not None:
        acc = format_accuracy(
            metrics["accuracy"],
            metrics.get("accuracy_ci_low", metrics["accuracy"]),
            metrics.get("accuracy_ci_high", metrics["accuracy"]),
        )
        out += _table(
            [
                ("accuracy, % [Wilson 95% interval]", acc),
                ("examples evaluated", metrics.get("n")),
                ("macro-F1", _number(metrics.get("macro_f1"), ".3f")),
                ("MCC", _number(metrics.get("mcc"), ".3f")),
            ]
        )
        per_class = metrics.get("per_class") or {}
        if per_class:
            out += ["", "| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
            for name, m in per_class.items():
                out.append(
                    f"| {_cell(name)} | {m['precision']:.3f} | {m['recall']:.3f} | "
                    f"{m['f1']:.3f} | {m['support']} |"
                )
    else:
        out += ["Not recorded."]
    out += [""]

    timing = card_info.get("timing") or {}
    env = card_info.get("environment") or {}
    out += ["## Speed", ""]
    if timing:
        hardware = env.get("gpu") or env.get("cpu") or timing.get("device")
        out += _table(
            [
                ("throughput, examples/s", _number(timing.get("throughput_per_s"), ",.1f")),
                ("at batch size", timing.get("batch_size")),
                ("latency at batch 1, median / p95 ms", _latency(timing)),
                ("peak memory, MB", _number(timing.get("peak_memory_mb"), ",.0f")),
                ("precision", meta.get("precision")),
                ("hardware", hardware),
            ]
        )
        out += [
            "",
            "Measured by bakeoff's timing protocol: loading and one warm-up batch excluded; "
            "tokenising, the forward pass and the label decision included; length-sorted batches.",
        ]
    else:
        out += ["Not recorded."]
    out += [""]

    settings = card_info.get("settings") or meta.get("settings") or {}
    out += ["## Training settings", ""]
    out += _table([(k, v) for k, v in settings.items()])
    out += [
        "",
        "Final weights after the last epoch; no checkpoint was selected on the evaluated split.",
        "",
    ]

    max_length = meta.get("max_length")
    out += [
        "## Use",
        "",
        "```python",
        "from transformers import pipeline",
        "",
        'clf = pipeline("text-classification", model="PATH_TO_THIS_FOLDER", top_k=None)',
        f'clf(["some text"], truncation=True, max_length={max_length})',
        "```",
        "",
        f"Inputs were truncated to {max_length} tokens during evaluation. Weights are stored in "
        f"{meta.get('weights_dtype', 'fp32')} (the evaluated precision); pass "
        "`dtype=torch.float32` to `pipeline` on hardware without bf16. `model.onnx`, where "
        "present, is an fp32 ONNX export checked against this model with ONNX Runtime.",
        "",
    ]
    if card_info.get("experiment_id"):
        out += [
            "## Provenance",
            "",
            f"bakeoff experiment `{card_info['experiment_id']}`, saved {meta.get('created')}.",
            "",
        ]
    return "\n".join(out)


def _split(name: Any, n: Any) -> str | None:
    if name is None and n is None:
        return None
    return f"{name or 'split'}" + (f" ({int(n):,} examples)" if n is not None else "")


def _latency(timing: dict[str, Any]) -> str | None:
    med, p95 = timing.get("latency_median_ms"), timing.get("latency_p95_ms")
    if med is None:
        return None
    return f"{float(med):.2f} / {float(p95 if p95 is not None else med):.2f}"


# ---------------------------------------------------------------------------------------------
# Hugging Face folder


def export_encoder(
    artifact_folder: str | Path,
    out_dir: str | Path,
    card_info: dict[str, Any] | None = None,
    *,
    overwrite: bool = False,
    protect: Iterable[Path | None] = (),
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write ``out_dir``: the artifact's model and tokenizer as a Hugging Face model folder plus a
    README.md model card (see :func:`model_card` for ``card_info``). ``bakeoff-artifact.json``
    is kept too, so ``bakeoff predict`` also accepts the exported folder. Returns ``out_dir``.

    ``out_dir`` must be new, empty, or an earlier export (see :mod:`bakeoff.outputs`); the
    folder is built aside and swapped in whole. ``extra`` is called with the staged folder to add
    files before the swap (the CLI's ONNX graph), so a failure there replaces nothing.
    ``protect``: paths (the results store...) the output may neither be, hold nor sit inside."""
    from transformers import AutoConfig

    meta = _encoder_meta(artifact_folder)
    src, out_dir = Path(meta["path"]), Path(out_dir)
    replace = check_folder(out_dir, "export", FLAG, overwrite=overwrite, protect=(src, *protect))

    def build(tmp: Path) -> None:
        for item in src.iterdir():
            if item.is_file():
                shutil.copy2(item, tmp / item.name)
        tok_config = tmp / "tokenizer_config.json"
        if tok_config.is_file():  # so pipeline(..., truncation=True) cuts where evaluation did
            data = json.loads(tok_config.read_text(encoding="utf-8"))
            data["model_max_length"] = int(meta["max_length"])
            tok_config.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
        (tmp / "README.md").write_text(model_card(meta, card_info or {}), encoding="utf-8")
        try:
            config = AutoConfig.from_pretrained(tmp)
            got = [config.id2label[i] for i in range(config.num_labels)]
        except (ValueError, KeyError):  # json's decode error is a ValueError
            got = None
        if got != list(meta["label_names"]):
            raise BakeoffError(
                f"{src}: config labels {got} differ from the artifact's {meta['label_names']}; "
                "the artifact is damaged, re-run the experiment with --force"
            )
        if extra is not None:
            extra(tmp)

    write_folder(out_dir, "export", FLAG, build, replace=replace)
    return out_dir


# ---------------------------------------------------------------------------------------------
# ONNX


@dataclass
class OnnxCheck:
    """How an ONNX export agreed with the torch model on the sample texts."""

    path: Path
    n_checked: int
    max_abs_diff: float
    tolerance: float
    argmax_agree: int
    opset: int


def _softmax(logits: Any) -> Any:
    import numpy as np

    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def export_onnx(
    artifact_folder: str | Path,
    out_path: str | Path,
    *,
    sample_texts: Sequence[str | tuple[str, str]] | None = None,
    tolerance: float = ONNX_TOLERANCE,
    opset: int = 17,
    overwrite: bool = False,
    protect: Iterable[Path | None] = (),
) -> OnnxCheck:
    """Export the artifact's encoder to ONNX (fp32, dynamic batch and sequence axes) and check it
    with ONNX Runtime against torch on ``sample_texts`` (strings or (text, text_pair) tuples;
    evaluated texts from the store are best). Raises :class:`BakeoffError` and keeps nothing if
    any label differs or any probability differs by more than ``tolerance``. An existing
    ``out_path`` is replaced only when it is a graph bakeoff exported (and with ``overwrite``)."""
    try:
        import numpy as np
        import onnx
        import onnxruntime as ort
    except ImportError:
        raise BakeoffError(
            "ONNX export needs onnx and onnxruntime; pip install 'bakeoff[export]'"
        ) from None
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    meta = _encoder_meta(artifact_folder)
    folder, out_path = Path(meta["path"]), Path(out_path)
    check_file(
        out_path, FLAG, _is_bakeoff_onnx, "an ONNX graph", overwrite=overwrite, protect=protect
    )
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder, dtype=torch.float32)
    model.eval()
    input_names = list(tokenizer.model_input_names)
    max_length = int(meta["max_length"])

    class _Logits(torch.nn.Module):
        """Positional inputs in ``input_names`` order; returns the logits tensor only."""

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *tensors: Any) -> Any:
            return self.inner(**dict(zip(input_names, tensors))).logits

    def encode(batch: Sequence[str | tuple[str, str]]) -> dict[str, Any]:
        texts = [b[0] if isinstance(b, tuple) else b for b in batch]
        pairs = [b[1] for b in batch] if isinstance(batch[0], tuple) else None
        return tokenizer(
            texts, pairs, truncation=True, max_length=max_length, padding=True, return_tensors="pt"
        )

    samples = list(sample_texts or DEFAULT_CHECK_TEXTS)
    if not samples:
        raise BakeoffError("no sample texts to check the ONNX export on; give at least one")
    wrapper = _Logits(model).eval()
    dummy = encode(samples[:2])
    axes = {name: {0: "batch", 1: "sequence"} for name in input_names}
    axes["logits"] = {0: "batch"}
    tmp = staging_path(out_path)
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes about shape-dependent Python branches
            torch.onnx.export(
                wrapper,
                tuple(dummy[n] for n in input_names),
                str(tmp),
                input_names=input_names,
                output_names=["logits"],
                dynamic_axes=axes,
                opset_version=opset,
                dynamo=False,
            )
        graph = onnx.load(str(tmp))
        props = {
            "bakeoff_version": __version__,
            "label_names": json.dumps(list(meta["label_names"])),
            "max_length": str(max_length),
            "input_names": json.dumps(input_names),
        }
        onnx.helper.set_model_props(graph, props)
        onnx.save(graph, str(tmp))
        del graph

        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        worst, agree = 0.0, 0
        with torch.inference_mode():
            for start in range(0, len(samples), 16):
                enc = encode(samples[start : start + 16])
                ref = _softmax(wrapper(*(enc[n] for n in input_names)).float().numpy())
                got = _softmax(session.run(["logits"], {n: enc[n].numpy() for n in input_names})[0])
                worst = max(worst, float(np.abs(ref - got).max()))
                agree += int((ref.argmax(-1) == got.argmax(-1)).sum())
        if agree != len(samples) or worst > tolerance:
            raise BakeoffError(
                f"ONNX export disagrees with torch on {len(samples) - agree} of {len(samples)} "
                f"labels, max probability difference {worst:.2e} (tolerance {tolerance:.0e}); "
                "keep using the torch model, and report this model and versions as a bug"
            )
        os.replace(tmp, out_path)
    except BakeoffError:
        raise
    except OSError as exc:  # a read-only or full folder
        raise write_error(out_path, exc, FLAG) from None
    except Exception as exc:  # an architecture the exporter or ONNX Runtime cannot handle
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise BakeoffError(
            f"cannot export {folder} to ONNX ({type(exc).__name__}: {first}); serve the Hugging "
            "Face folder from export_encoder instead"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    return OnnxCheck(out_path, len(samples), worst, tolerance, agree, opset)


# ---------------------------------------------------------------------------------------------
# prompted recipes


def _is_bakeoff_onnx(path: Path) -> bool:
    """Whether ``path`` is an ONNX graph bakeoff exported (its metadata names bakeoff)."""
    try:
        import onnx

        graph = onnx.load(str(path), load_external_data=False)
    except Exception:  # not ONNX at all, or onnx not installed: not provably ours
        return False
    return any(p.key == "bakeoff_version" for p in graph.metadata_props)


def export_recipe(
    recipe_path: str | Path,
    out_path: str | Path,
    *,
    overwrite: bool = False,
    protect: Iterable[Path | None] = (),
) -> Path:
    """Copy a prompted recipe to ``out_path`` (checked first: it must be a readable recipe). An
    existing file is replaced only when it is a bakeoff recipe (and with ``overwrite``)."""
    meta = read_artifact(recipe_path)
    if meta["kind"] != "prompted":
        raise BakeoffError(
            f"{recipe_path} is an encoder folder; export it with export_encoder/export_onnx"
        )
    src, out_path = Path(meta["path"]), Path(out_path)
    _copy_file(src, out_path, "prompted", "a prompt recipe", overwrite, protect)
    return out_path


def export_embedding(
    artifact_path: str | Path,
    out_path: str | Path,
    *,
    overwrite: bool = False,
    protect: Iterable[Path | None] = (),
) -> Path:
    """Copy an embeddings + logistic-regression artifact (a JSON file naming its encoder, or a
    SetFit folder with the encoder) to ``out_path``; ``predict --artifact`` accepts the copy.
    Replaces only an earlier export of the same kind (and with ``overwrite``)."""
    meta = read_artifact(artifact_path)
    if meta["kind"] != "embedding":
        raise BakeoffError(f"{artifact_path} is a {meta['kind']} artifact, not an embedding one")
    src, out_path = Path(meta["path"]), Path(out_path)
    if src.is_dir():
        replace = check_folder(
            out_path, "export", FLAG, overwrite=overwrite, protect=(src, *protect)
        )
        write_folder(
            out_path,
            "export",
            FLAG,
            lambda tmp: shutil.copytree(src, tmp, dirs_exist_ok=True),
            replace=replace,
        )
    else:
        _copy_file(src, out_path, "embedding", "an embedding model", overwrite, protect)
    return out_path


def _copy_file(
    src: Path,
    out_path: Path,
    kind: str,
    what: str,
    overwrite: bool,
    protect: Iterable[Path | None],
) -> None:
    """Copy a one-file artifact, replacing only an earlier export of the same ``kind``."""
    check_file(
        out_path,
        FLAG,
        lambda p: _kind_of(p) == kind,
        what,
        overwrite=overwrite,
        protect=(src, *protect),
    )
    write_file(out_path, FLAG, lambda tmp: shutil.copyfile(src, tmp))


__all__ = [
    "ARTIFACT_FILE",
    "ONNX_TOLERANCE",
    "OnnxCheck",
    "export_embedding",
    "export_encoder",
    "export_onnx",
    "export_recipe",
    "model_card",
]
