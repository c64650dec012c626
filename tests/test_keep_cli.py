"""A grid keeps what can be reused (--keep best|all|none), and `bakeoff predict` / `bakeoff
export` use it by experiment id or as the task's winner: predictions on the evaluated examples
equal the stored ones."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bakeoff.cli import app
from bakeoff.store import ResultsStore
from tests.llm_fixtures import tiny_llama_path

runner = CliRunner()


def _run(db: Path, data_dir: Path, model: str, method: str, *extra: str):
    args = [
        "run", "--task", "rte", "--model", model, "--method", method, "--train-limit", "48",
        "--eval-limit", "24", "--epochs", "1", "--latency-samples", "2", "--db", str(db), *extra,
    ]  # fmt: skip
    result = runner.invoke(app, args, env={"BAKEOFF_DATA_DIR": str(data_dir)})
    assert result.exit_code == 0, result.output
    return result


def _eval_csv(store: ResultsStore, record, path: Path) -> Path:
    """The experiment's evaluated examples, in stored order, as a predict input."""
    examples = store.examples(record.dataset_key)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["idx", "text", "pair"])
        for p in store.predictions(record.id):
            writer.writerow([p.idx, examples[p.idx].text, examples[p.idx].text_pair])
    return path


def _check_matches_store(store: ResultsStore, record, out: Path) -> None:
    with out.open(encoding="utf-8") as fh:
        rows = {int(r["idx"]): r for r in csv.DictReader(fh)}
    stored = store.predictions(record.id)
    assert len(rows) == len(stored)
    for p in stored:
        row = rows[p.idx]
        assert row["label"] == record.label_names[p.pred]
        got = [float(row[f"p_{name}"]) for name in record.label_names]
        assert got == pytest.approx(p.scores, abs=1e-5)


def test_best_keeps_one_model_per_task_and_predict_matches_the_store(
    tmp_path: Path, data_dir: Path, tiny_bert: Path
) -> None:
    db = tmp_path / "b.db"
    out = _run(db, data_dir, str(tiny_bert), "finetune", "--seeds", "1,2,3")
    assert "kept" in out.output
    with ResultsStore(db, readonly=True) as store:
        records = store.experiments("done")
        rows = {a.experiment_id: a for a in store.artifacts()}
        kept = [a for a in rows.values() if a.path]
        assert len(records) == 3 and len(rows) == 3 and len(kept) == 1
        best = max(records, key=lambda r: r.metrics.accuracy)
        # ties keep the earlier model, so the kept one is a most accurate one
        kept_record = next(r for r in records if r.id == kept[0].experiment_id)
        assert kept_record.metrics.accuracy == best.metrics.accuracy
        assert all(a.note for a in rows.values() if not a.path)
        folders = [p.name for p in store.artifacts_dir.iterdir() if not p.name.startswith(".")]
        assert folders == [kept_record.id] and kept[0].bytes > 0
        source = _eval_csv(store, kept_record, tmp_path / "in.csv")
        dropped = next(r for r in records if not rows[r.id].path)

    result = runner.invoke(
        app,
        ["predict", str(source), "-o", str(tmp_path / "out.csv"), "--db", str(db),
         "-e", kept_record.id[:8], "--text-column", "text", "--text-pair-column", "pair",
         "--id-column", "idx"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "wrote 24 predictions" in result.output
    with ResultsStore(db, readonly=True) as store:
        _check_matches_store(store, kept_record, tmp_path / "out.csv")

    listed = runner.invoke(app, ["artifacts", "--db", str(db)], terminal_width=250)
    assert listed.exit_code == 0 and kept_record.id in listed.output
    assert "weights" in listed.output and "not kept" in listed.output
    # an experiment whose model was not kept is one line naming why and the fix
    result = runner.invoke(
        app, ["predict", str(source), "-o", str(tmp_path / "o2.csv"), "--db", str(db),
              "-e", dropped.id],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--keep all --force" in result.output and "Traceback" not in result.output


def test_keep_all_and_none(tmp_path: Path, data_dir: Path, tiny_bert: Path) -> None:
    db = tmp_path / "all.db"
    _run(db, data_dir, str(tiny_bert), "finetune", "--seeds", "1,2", "--keep", "all")
    with ResultsStore(db, readonly=True) as store:
        assert sum(bool(a.path) for a in store.artifacts()) == 2
    db = tmp_path / "none.db"
    _run(db, data_dir, str(tiny_bert), "finetune", "--keep", "none")
    with ResultsStore(db, readonly=True) as store:
        assert store.artifacts() == [] and not store.artifacts_dir.exists()
    bad = runner.invoke(
        app,
        ["run", "--task", "rte", "--model", str(tiny_bert), "--keep", "some", "--db", str(db)],
        env={"BAKEOFF_DATA_DIR": str(data_dir)},
    )
    assert bad.exit_code == 2 and "keep" in bad.output and "Traceback" not in bad.output


def test_prompted_recipe_is_kept_predicted_and_exported(tmp_path: Path, data_dir: Path) -> None:
    db = tmp_path / "p.db"
    model = str(tiny_llama_path())
    _run(db, data_dir, model, "few-shot", "-k", "2")
    with ResultsStore(db, readonly=True) as store:
        [record] = store.experiments("done")
        [row] = store.artifacts()
        assert row.kind == "recipe" and row.path == f"{record.id}.json"
        recipe = json.loads((store.artifacts_dir / row.path).read_text(encoding="utf-8"))
        assert len(recipe["demonstrations"]) == 2 and recipe["model"] == model
        source = _eval_csv(store, record, tmp_path / "in.csv")

    exported = tmp_path / "recipe.json"
    result = runner.invoke(app, ["export", "-e", record.id, "-o", str(exported), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert (
        json.loads(exported.read_text(encoding="utf-8"))["demonstrations"]
        == (recipe["demonstrations"])
    )
    onnx = runner.invoke(
        app, ["export", "-e", record.id, "-o", str(tmp_path / "x"), "--db", str(db), "--onnx"]
    )
    assert onnx.exit_code == 2 and "recipe only" in onnx.output

    # the exported recipe, without the store, predicts what the experiment stored
    out = tmp_path / "out.csv"
    result = runner.invoke(
        app,
        ["predict", str(source), "-o", str(out), "--artifact", str(exported),
         "--text-column", "text", "--text-pair-column", "pair", "--id-column", "idx"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with ResultsStore(db, readonly=True) as store:
        _check_matches_store(store, record, out)


def test_export_hf_folder_with_a_model_card_and_the_winner_rule(
    tmp_path: Path, data_dir: Path, tiny_bert: Path
) -> None:
    db = tmp_path / "b.db"
    _run(db, data_dir, str(tiny_bert), "finetune")
    with ResultsStore(db, readonly=True) as store:
        [record] = store.experiments("done")
    folder = tmp_path / "hf"
    result = runner.invoke(app, ["export", "-e", record.id, "-o", str(folder), "--db", str(db)])
    assert result.exit_code == 0, result.output
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert record.id in card and "Wilson 95% interval" in card and "rte" in card

    from transformers import pipeline

    clf = pipeline("text-classification", model=str(folder), top_k=None)
    scores = clf(["a sentence to classify"], truncation=True)[0]
    assert {s["label"] for s in scores} == set(record.label_names)

    again = runner.invoke(app, ["export", "-e", record.id, "-o", str(folder), "--db", str(db)])
    assert again.exit_code == 2 and "--overwrite" in again.output

    # a random-weight model does not beat the majority baseline: no winner, and it says so
    winner = runner.invoke(app, ["export", "--task", "rte", "-o", str(tmp_path / "w"),
                                 "--db", str(db)])  # fmt: skip
    assert winner.exit_code in (0, 2), winner.output
    if winner.exit_code == 2:
        assert "--experiment" in winner.output and "Traceback" not in winner.output


@pytest.mark.parametrize(
    "args, needle",
    [
        (["-o", "o.csv"], "--experiment ID, --task TASK"),
        (["-o", "o.csv", "-e", "abcd", "--task", "rte"], "one of --experiment"),
        (["-o", "o.csv", "-e", "zzzz"], "no experiment with that id"),
        (["-o", "o.csv", "--artifact", "nowhere"], "not found"),
        (["-o", "o.csv", "-e", "abcd", "--device", "tpu"], "--device"),
    ],
)
def test_predict_bad_input_is_one_line(tmp_path: Path, tiny_bert: Path, args, needle) -> None:
    db = tmp_path / "b.db"
    ResultsStore(db).close()
    source = tmp_path / "in.csv"
    source.write_text("text\nhello\n", encoding="utf-8")
    result = runner.invoke(app, ["predict", str(source), "--db", str(db), *args])
    assert result.exit_code == 2, result.output
    assert needle in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    "method, extra, kind",
    [
        ("embed-logreg", [], "recipe"),
        ("setfit", ["--set", "setfit.max_steps=4", "--set", "setfit.num_iterations=1"], "weights"),
    ],
)
def test_embedding_methods_are_kept_and_predict_matches_the_store(
    tmp_path: Path, data_dir: Path, tiny_bert: Path, method: str, extra: list[str], kind: str
) -> None:
    db = tmp_path / "e.db"
    _run(db, data_dir, str(tiny_bert), method, *extra)
    with ResultsStore(db, readonly=True) as store:
        [record] = store.experiments("done")
        [row] = store.artifacts()
        assert row.kind == kind and row.path and row.bytes > 0
        source = _eval_csv(store, record, tmp_path / "in.csv")
    exported = tmp_path / ("model" if kind == "weights" else "model.json")
    result = runner.invoke(app, ["export", "-e", record.id, "-o", str(exported), "--db", str(db)])
    assert result.exit_code == 0, result.output
    for how in (["-e", record.id, "--db", str(db)], ["--artifact", str(exported)]):
        out = tmp_path / f"out{len(how)}.csv"
        result = runner.invoke(
            app,
            ["predict", str(source), "-o", str(out), *how, "--text-column", "text",
             "--text-pair-column", "pair", "--id-column", "idx"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        with ResultsStore(db, readonly=True) as store:
            _check_matches_store(store, record, out)
