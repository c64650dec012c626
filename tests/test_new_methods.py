"""The embed-logreg and setfit methods: through the runner on a tiny random BERT (plumbing,
determinism, pair encodings, errors), and embed-logreg on the real minilm (it learns)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bakeoff.config import make_grid
from bakeoff.data import Example, load_builtin
from bakeoff.errors import BakeoffError
from bakeoff.methods import get_method_spec, method_specs
from bakeoff.runner import LocalExecutor, plan
from bakeoff.store import ResultsStore
from bakeoff.tasks import get_task


def _grid(data_dir: Path, model: Path | str, method: str, **kw: Any):
    raw: dict[str, Any] = dict(
        tasks=["rte"],
        models=[str(model)],
        methods=[method],
        data_dir=str(data_dir),
        train_limit=32,
        eval_limit=16,
        latency_samples=2,
        precision="fp32",
    )
    raw.update(kw)
    return make_grid(raw)


def _run(grid, db: Path):
    store = ResultsStore(db)
    [outcome] = LocalExecutor().run(plan(grid), store)
    return outcome, store


def _softmax(row: list[float]) -> list[float]:
    top = max(row)
    exp = [math.exp(x - top) for x in row]
    return [e / sum(exp) for e in exp]


def _check_stored(store: ResultsStore, n_eval: int) -> tuple[Any, list]:
    [rec] = store.experiments("done")
    preds = store.predictions(rec.id)
    assert len(preds) == n_eval and rec.metrics.n == n_eval
    for p in preds:
        # the store keeps 6 decimals per probability: the sum may be off by half a unit each
        assert abs(sum(p.scores) - 1) <= len(p.scores) * 5e-7 + 1e-12
        assert p.pred == int(np.argmax(p.scores))
        # raw scores are logits of the stored probabilities
        assert np.allclose(_softmax(p.raw_scores), p.scores, atol=1e-6)
    return rec, preds


def test_both_methods_are_registered_as_encoder_methods() -> None:
    specs = method_specs()
    for name, section in (("embed-logreg", "embed_logreg"), ("setfit", "setfit")):
        spec = specs[name]
        assert spec.family == "encoder" and spec.model_kinds == ("encoder",) and spec.trains
        assert spec.settings_section == section
    why = get_method_spec("setfit").mismatch("smollm2-135m", "causal")
    assert why and "setfit needs encoder models" in why


def test_settings_sections_are_validated() -> None:
    grid = make_grid(
        dict(tasks=["rte"], models=["minilm"], methods=["embed-logreg"], embed_logreg={"C": 0.5})
    )
    assert grid.section("embed_logreg").C == 0.5
    default = make_grid(dict(tasks=["rte"], models=["minilm"]))
    assert default.section("embed_logreg").C == "cv"
    assert default.section("setfit").batch_size == 16  # SetFit's default
    with pytest.raises(BakeoffError, match="embed_logreg.C"):
        make_grid(dict(tasks=["rte"], models=["minilm"], embed_logreg={"C": 0}))
    with pytest.raises(BakeoffError, match="'embed_logreg.penalty'"):
        make_grid(dict(tasks=["rte"], models=["minilm"], embed_logreg={"penalty": "l1"}))
    with pytest.raises(BakeoffError, match="setfit.sampling_strategy"):
        make_grid(dict(tasks=["rte"], models=["minilm"], setfit={"sampling_strategy": "all"}))


def test_embed_logreg_pairs_through_runner_deterministic(
    tmp_path: Path, data_dir: Path, tiny_bert: Path
) -> None:
    grid = _grid(data_dir, tiny_bert, "embed-logreg")
    outcome, store = _run(grid, tmp_path / "a.db")
    assert outcome.status == "done", outcome.error
    rec, preds = _check_stored(store, 16)
    t = rec.training
    assert t.labels_used == 32 and t.steps and t.steps >= 1 and t.loss is not None
    assert t.precision == "fp32" and t.model_path == str(tiny_bert)
    # tiny_bert is a plain HF folder: sentence-transformers falls back to mean pooling
    assert "mean" in t.details["pooling"]
    assert t.details["embedding_dim"] == 32 and t.details["features"].startswith("[u, v")
    assert t.details["C_chosen_by"] == "5-fold cross-validation on the training rows"

    outcome2, store2 = _run(grid, tmp_path / "b.db")
    assert outcome2.status == "done", outcome2.error
    _, preds2 = _check_stored(store2, 16)
    assert [p.pred for p in preds] == [p.pred for p in preds2]
    assert np.allclose([p.scores for p in preds], [p.scores for p in preds2], atol=1e-6)


def test_c_is_cross_validated_on_training_rows_only() -> None:
    from bakeoff.methods.embed_logreg import CV_GRID, EmbedLogregSettings, choose_c

    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 20)
    # a separable signal in one of 16 noisy dimensions: weak regularisation fits it best
    x = rng.normal(size=(40, 16)) * 0.01
    x[:, 0] += (y - 0.5) * 0.02
    notes: list[str] = []
    c, folds = choose_c(x, y, EmbedLogregSettings(), 0, notes)
    assert c in CV_GRID and c > 1 and folds == 5 and not notes
    assert choose_c(x, y, EmbedLogregSettings(C=0.3), 0, notes) == (0.3, 0)
    # one row of a label: nothing to cross-validate, C=1 with a note
    assert choose_c(x[:3], np.array([0, 1, 1]), EmbedLogregSettings(), 0, notes) == (1.0, 0)
    assert notes and "cross-validate" in notes[0]


def test_embedding_classifier_pair_features_and_batch_invariance(
    data_dir: Path, tiny_bert: Path
) -> None:
    from sklearn.linear_model import LogisticRegression

    from bakeoff.methods.embed_logreg import EmbeddingClassifier, load_sentence_encoder

    encoder, _ = load_sentence_encoder(str(tiny_bert), "cpu")
    data = load_builtin(get_task("rte"), data_dir)
    clf = EmbeddingClassifier(encoder, None, data.task.label_names, 8, "cpu", "fp32", True)
    x = clf.features(data.train[:40])
    assert x.shape == (40, 4 * 32)
    u = clf.features([Example(ex.text, ex.label) for ex in data.train[:40]])
    assert np.allclose(x[:, :32], u, atol=1e-5)  # the first quarter is the text's own embedding
    assert np.allclose(x[:, 64:96], np.abs(x[:, :32] - x[:, 32:64]), atol=1e-6)
    clf.head = LogisticRegression(random_state=0).fit(x, [ex.label for ex in data.train[:40]])
    a = clf.predict(data.eval[:20], batch_size=1)
    b = clf.predict(data.eval[:20], batch_size=8)
    assert a.labels == b.labels
    assert np.allclose(a.scores, b.scores, atol=1e-4)


def test_setfit_pairs_through_runner_deterministic(
    tmp_path: Path, data_dir: Path, tiny_bert: Path
) -> None:
    # num_iterations=1 draws 2 pairs per text (64 pairs, 4 steps of 16); max_steps stops at 3
    grid = _grid(data_dir, tiny_bert, "setfit", setfit={"num_iterations": 1, "max_steps": 3})
    outcome, store = _run(grid, tmp_path / "a.db")
    assert outcome.status == "done", outcome.error
    rec, preds = _check_stored(store, 16)
    t = rec.training
    assert t.labels_used == 32 and t.steps == 3 and t.loss is not None and t.loss > 0
    assert t.details["pair_encoding"] == "text [SEP] text_pair, one sequence"
    assert t.details["contrastive_pairs"] == 64  # drawn by num_iterations; training stops early

    outcome2, store2 = _run(grid, tmp_path / "b.db")
    assert outcome2.status == "done", outcome2.error
    _, preds2 = _check_stored(store2, 16)
    assert [p.pred for p in preds] == [p.pred for p in preds2]
    assert np.allclose([p.scores for p in preds], [p.scores for p in preds2], atol=1e-6)


def test_setfit_predictions_are_setfits_predict_proba(data_dir: Path, tiny_bert: Path) -> None:
    from setfit import SetFitModel

    from bakeoff.methods.embed_logreg import EmbeddingClassifier

    data = load_builtin(get_task("rte"), data_dir)
    model = SetFitModel.from_pretrained(str(tiny_bert), device="cpu")
    clf = EmbeddingClassifier(
        model.model_body,
        model.model_head,
        data.task.label_names,
        8,
        "cpu",
        "fp32",
        model.normalize_embeddings,
        pair_encoding="joined",
        separator="[SEP]",
    )
    train = data.train[:40]
    texts = [clf.joined(ex) for ex in train]
    assert texts[0] == f"{train[0].text} [SEP] {train[0].text_pair}"
    model.model_head.fit(model.encode(texts), [ex.label for ex in train])
    ours = clf.predict(data.eval[:20])
    theirs = model.predict_proba([clf.joined(ex) for ex in data.eval[:20]], as_numpy=True)
    assert np.allclose(ours.scores, theirs, atol=1e-5)


@pytest.mark.parametrize("method", ["embed-logreg", "setfit"])
def test_a_sample_missing_a_label_is_a_one_line_error(
    tmp_path: Path, data_dir: Path, tiny_bert: Path, method: str
) -> None:
    outcome, _ = _run(_grid(data_dir, tiny_bert, method, train_limit=1), tmp_path / "a.db")
    assert outcome.status == "failed"
    assert "raise --train-limit" in outcome.error and "\n" not in outcome.error


@pytest.mark.integration
def test_embed_logreg_minilm_sst2_beats_chance(
    tmp_path: Path, data_dir: Path, minilm_path: Path
) -> None:
    grid = _grid(
        data_dir, "minilm", "embed-logreg", tasks=["sst2"], train_limit=128, eval_limit=200
    )
    outcome, store = _run(grid, tmp_path / "a.db")
    assert outcome.status == "done", outcome.error
    rec, _ = _check_stored(store, 200)
    assert rec.training.details["pooling"].startswith("mean pooling + Normalize")
    # 64 labels per class: about 75% (REFERENCE); chance is 50%
    assert rec.metrics.accuracy > 0.6, rec.metrics


def test_the_three_encoder_methods_through_the_cli_and_the_report(
    tmp_path: Path, data_dir: Path, tiny_bert: Path
) -> None:
    """Issue 9's check at small limits: one `bakeoff run` with embed-logreg, setfit and
    finetune on two tasks, then `bakeoff report`, which shows all three everywhere a method
    appears (accuracy table, advice, experiments table)."""
    from typer.testing import CliRunner

    from bakeoff.cli import app

    db, out = tmp_path / "b.db", tmp_path / "report"
    args = ["run", "--task", "sst2,rte", "--model", str(tiny_bert)]
    args += ["--method", "embed-logreg,setfit,finetune", "--train-limit", "16", "--limit", "12"]
    args += ["--data-dir", str(data_dir), "--db", str(db), "--keep", "none"]
    args += ["--set", "setfit.max_steps=2", "--set", "finetune.min_steps=0"]
    args += ["--set", "finetune.epochs=1", "--latency-samples", "2", "--precision", "fp32"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    with ResultsStore(db) as store:
        done = store.experiments("done")
    assert sorted((r.task, r.method) for r in done) == sorted(
        (t, m) for t in ("rte", "sst2") for m in ("embed-logreg", "finetune", "setfit")
    )
    result = CliRunner().invoke(app, ["report", "--db", str(db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    md = (out / "report.md").read_text(encoding="utf-8")
    accuracy = md[md.index("## Accuracy") : md.index("## Speed and memory")]
    experiments = md[md.index("## Experiments") :]
    for method in ("embed-logreg", "setfit", "finetune"):
        assert f" · {method}" in accuracy and f"| {method} |" in experiments, method
