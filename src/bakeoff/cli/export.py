"""``bakeoff export``: a finished experiment's kept model for use outside bakeoff. A fine-tuned
encoder becomes a Hugging Face model folder with a model card (and, with ``--onnx``, an ONNX
graph checked against torch with ONNX Runtime); a prompted classifier becomes its recipe file.
The work is in ``bakeoff.export``; this module chooses the experiment and reads the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from bakeoff.cli.app import DbOption, app, console, fail
from bakeoff.cli.predict import ArtifactOption, ExperimentOption, TaskOption
from bakeoff.errors import BakeoffError
from bakeoff.printable import markup

#: artifacts exported as they are: kind -> (what it is, why --onnx does not apply)
COPIED: dict[str, tuple[str, str]] = {
    "prompted": ("the prompt recipe", "a prompted classifier exports its recipe only"),
    "embedding": (
        "the embeddings + logistic-regression model",
        "an embeddings + logistic-regression model exports as its artifact",
    ),
}

#: evaluated examples an ONNX export is checked on (all of them would take minutes for BoolQ)
ONNX_CHECK_EXAMPLES = 256


def _sample_texts(db: Path, record: Any) -> list[str | tuple[str, str]] | None:
    """The first evaluated examples of the experiment's data, to check an ONNX export on."""
    from bakeoff.store import ResultsStore

    with ResultsStore(db, readonly=True) as store:
        examples = store.examples(record.dataset_key)
    rows = [examples[i] for i in sorted(examples)[:ONNX_CHECK_EXAMPLES]]
    return [r.text if r.text_pair is None else (r.text, r.text_pair) for r in rows] or None


@app.command()
def export(
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="A folder for a fine-tuned model; a .json file for a prompt recipe.",
        ),
    ],
    experiment: ExperimentOption = None,
    task: TaskOption = None,
    artifact: ArtifactOption = None,
    db: DbOption = None,
    onnx: Annotated[
        bool,
        typer.Option(
            "--onnx",
            help="Also write model.onnx (fp32), checked against torch with ONNX Runtime; needs "
            "the export extra.",
        ),
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing output.")
    ] = False,
) -> None:
    """Export a finished experiment's model (HF folder + model card, ONNX) or prompt recipe."""
    from bakeoff.artifacts import read_artifact
    from bakeoff.export import export_embedding, export_encoder, export_onnx, export_recipe
    from bakeoff.reuse import card_info, choose
    from bakeoff.store import default_db_path

    db_path = db or default_db_path()
    # the output may never be, hold or sit inside the store or its kept artifacts
    protect = (db_path, db_path.with_name(db_path.stem + ".artifacts"))
    try:
        chosen = choose(db_path, experiment, task, artifact)
        kind = read_artifact(chosen.path)["kind"]
        if kind in COPIED:
            what, onnx_note = COPIED[kind]
            if onnx:
                raise BakeoffError(
                    f"--onnx exports a fine-tuned encoder; {onnx_note} (leave out --onnx)"
                )
            exporter = export_recipe if kind == "prompted" else export_embedding
            exporter(chosen.path, output, overwrite=overwrite, protect=protect)
            console.print(
                f"wrote {what} of {markup(chosen.how)} to {markup(output)}; classify with "
                f"`bakeoff predict FILE -o OUT --artifact {markup(output)}`",
                highlight=False,
                soft_wrap=True,
            )
            return
        info = card_info(db_path, chosen.record) if chosen.record is not None else {}
        samples = _sample_texts(db_path, chosen.record) if onnx and chosen.record else None
        checks = []

        def add_onnx(staged: Path) -> None:
            """The ONNX graph is made and checked in the staged folder, before it replaces
            anything: a failed check leaves an earlier export as it was."""
            checks.append(export_onnx(staged, staged / "model.onnx", sample_texts=samples))

        export_encoder(
            chosen.path,
            output,
            info,
            overwrite=overwrite,
            protect=protect,
            extra=add_onnx if onnx else None,
        )
        console.print(
            f"wrote {markup(chosen.how)} as a Hugging Face model folder to {markup(output)} (with "
            "README.md model card); load it with transformers.pipeline('text-classification', "
            f"model='{markup(output)}')",
            highlight=False,
            soft_wrap=True,
        )
        for check in checks:
            console.print(
                f"wrote {markup(output / 'model.onnx')}: ONNX Runtime agrees with torch on "
                f"{check.n_checked} texts (same label {check.argmax_agree}/{check.n_checked}, "
                f"largest probability difference {check.max_abs_diff:.1e}, tolerance "
                f"{check.tolerance:.0e})",
                highlight=False,
                soft_wrap=True,
            )
    except BakeoffError as exc:
        fail(exc)
