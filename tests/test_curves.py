"""Label-budget curves, seed-aware statistics, and the report's curve section and advice.

The store built here (``curve_store``) plants a curve whose numbers can be worked out by hand,
on 200 evaluated examples (gold alternates a/b; the train split is 50/50, so the majority
baseline always answers 'a' and scores 50%):

  minilm · finetune, seeds 1-3:  16 labels 58/60/62%, 64 labels 70/72/74%, 256 labels 84/86/88%
                                 (means 60, 72, 86)
  minilm · embed-logreg, seed 1: 16 labels 50%, 64 labels 55%, 256 labels 60%
  smollm2-135m · few-shot (k=5), seeds 1-3: 68/70/72% (mean 70)
  smollm2-135m · zero-shot: 80%

Interpolating in log(labels), fine-tuning reaches few-shot's 70% at 16 * 4**(10/12) = 50.8
labels, and zero-shot's 80% at 64 * 4**(8/14) = 141.3 labels; embed-logreg reaches neither.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from bakeoff.curves import (
    Candidate,
    SeedBootstrap,
    advise_at,
    bootstrap_p,
    build_curve,
    crossing,
    crossing_many,
    interval_text,
    replicates_for,
    round_labels,
    seed_group_key,
    value_at,
)
from bakeoff.data import Example
from bakeoff.records import TrainingRecord
from bakeoff.report import ReportOptions, build_report
from bakeoff.report.analysis import ReportData, SeededComparison, collect
from bakeoff.report.figures import (
    AXIS_BREAK,
    accuracy_bars_data,
    curve_data,
    draw_accuracy_bars,
    draw_curve,
    draw_tradeoff,
    tradeoff_data,
)
from bakeoff.report.render import accuracy_table, comparisons_table, curve_table
from bakeoff.store import ResultsStore
from tests.report_fixtures import add_experiment

N = 200
KEY = "t:fp-t:validation"
LABELS = ["a", "b"]
GOLD = [i % 2 for i in range(N)]
FT = {16: (0.58, 0.60, 0.62), 64: (0.70, 0.72, 0.74), 256: (0.84, 0.86, 0.88)}
EMBED = {16: 0.50, 64: 0.55, 256: 0.60}
FEW_SHOT = (0.68, 0.70, 0.72)
ZERO_SHOT = 0.80
FT_VS_FS = 16 * 4 ** (10 / 12)
FT_VS_ZS = 64 * 4 ** (8 / 14)


def _wrong(accuracy: float, shift: int) -> set[int]:
    """Positions answered wrongly for ``accuracy``: a run of examples starting at ``shift``
    (different seeds miss different examples, as real seeds do)."""
    n_wrong = round((1 - accuracy) * N)
    return {(shift + j) % N for j in range(n_wrong)}


@pytest.fixture(scope="module")
def curve_store(tmp_path_factory: pytest.TempPathFactory) -> ResultsStore:
    store = ResultsStore(tmp_path_factory.mktemp("curve") / "b.db")
    store.save_examples(
        KEY, [(i, Example(f"text {i}", g)) for i, g in enumerate(GOLD)], "t", [50, 50]
    )
    common = {"task": "t", "dataset_key": KEY, "labels": LABELS, "gold": GOLD}
    for size, accs in FT.items():
        for seed, acc in zip((1, 2, 3), accs):
            add_experiment(
                store,
                model="minilm",
                method="finetune",
                wrong=_wrong(acc, 37 * seed),
                seed=seed,
                train_limit=size,
                training=TrainingRecord(labels_used=size, train_time_s=10.0 * size),
                **common,
            )
    for size, acc in EMBED.items():
        add_experiment(
            store,
            model="minilm",
            method="embed-logreg",
            wrong=_wrong(acc, 5),
            seed=1,
            train_limit=size,
            training=TrainingRecord(labels_used=size, train_time_s=1.0),
            **common,
        )
    for seed, acc in zip((1, 2, 3), FEW_SHOT):
        add_experiment(
            store,
            model="smollm2-135m",
            method="few-shot",
            wrong=_wrong(acc, 11 * seed),
            seed=seed,
            training=TrainingRecord(labels_used=5),
            **common,
        )
    add_experiment(
        store, model="smollm2-135m", method="zero-shot", wrong=_wrong(ZERO_SHOT, 3), **common
    )
    return store


@pytest.fixture(scope="module")
def data(curve_store: ResultsStore) -> ReportData:
    return collect(curve_store, ReportOptions())


# ---------------------------------------------------------------------------------------------
# plain values


def test_crossing_interpolates_in_log_labels() -> None:
    assert crossing([16, 64, 256], [0.60, 0.72, 0.86], 0.70) == pytest.approx(FT_VS_FS)
    assert crossing([16, 64, 256], [0.60, 0.72, 0.86], 0.80) == pytest.approx(FT_VS_ZS)
    # halfway in accuracy between 16 and 256 labels is 64 labels, not 136
    assert crossing([16, 256], [0.5, 0.7], 0.6) == pytest.approx(64)
    # never within the budgets tried; already there at the smallest
    assert crossing([16, 64, 256], [0.50, 0.55, 0.60], 0.70) == math.inf
    assert crossing([16, 64, 256], [0.75, 0.80, 0.90], 0.70) == -math.inf
    # a dip below the level: the crossing is where it goes above for good
    assert crossing([16, 64, 256, 1024], [0.72, 0.65, 0.75, 0.9], 0.70) == pytest.approx(128)
    assert crossing([16, 64, 256], [0.72, 0.80, 0.65], 0.70) == math.inf
    many = crossing_many([16, 64], np.array([[0.5, 0.7], [0.8, 0.9], [0.5, 0.6]]), np.array(0.6))
    assert many[0] == pytest.approx(32) and many[1] == -math.inf and many[2] == pytest.approx(64)


def test_value_at_reads_the_curve_without_extrapolating() -> None:
    assert value_at([16, 64, 256], [0.6, 0.72, 0.86], 32) == pytest.approx(0.66)
    assert value_at([16, 64, 256], [0.6, 0.72, 0.86], 64) == pytest.approx(0.72)
    assert math.isnan(value_at([16, 64, 256], [0.6, 0.72, 0.86], 8))  # below the smallest
    assert value_at([16, 64, 256], [0.6, 0.72, 0.86], 5000) == pytest.approx(0.86)


def test_round_labels_and_interval_text() -> None:
    assert round_labels(50.8) == "51" and round_labels(141.3) == "140"
    assert round_labels(1234) == "1,200" and round_labels(5) == "5"
    assert interval_text(-math.inf, math.inf, 16, 1000) == "[≤ 16, > 1,000]"
    assert interval_text(33.3, 141.0, 16, 1000) == "[33, 140]"


def _simulate(
    rng: np.random.Generator, means: dict[int, float], level: float, n: int = 300
) -> dict[str, list[dict[int, bool]]]:
    """Three seeds per size whose accuracies scatter around ``means`` (seed sd 2 points), each
    example right with that probability; the reference has three seeds around ``level``."""
    runs: dict[str, list[dict[int, bool]]] = {}
    for size, mean in means.items():
        runs[f"ft{size}"] = [
            {i: bool(ok) for i, ok in enumerate(rng.random(n) < mean + rng.normal(0, 0.02))}
            for _ in range(3)
        ]
    runs["fs"] = [
        {i: bool(ok) for i, ok in enumerate(rng.random(n) < level + rng.normal(0, 0.02))}
        for _ in range(3)
    ]
    return runs


def test_bootstrap_interval_contains_the_planted_crossing() -> None:
    """True curve 60/72/86% at 16/64/256 labels, prompt 70%: the crossing is at 50.8 labels.
    Over 20 simulated grids (examples and seeds drawn anew), the 95% interval from the bootstrap
    over examples and seeds covers it nearly every time, and the estimate is near it."""
    rng = np.random.default_rng(7)
    means = {16: 0.60, 64: 0.72, 256: 0.86}
    covered, estimates = 0, []
    for sim in range(20):
        boot = SeedBootstrap(_simulate(rng, means, 0.70), replicates=600, seed=sim)
        curve = build_curve(
            boot, {"ft": [(x, f"ft{x}") for x in means]}, {"fs": (5, "fs")}, replicates=600
        )
        (c,) = curve.crossings
        covered += c.low <= FT_VS_FS <= c.high
        estimates.append(c.labels)
    assert covered >= 17
    assert 35 < float(np.median(estimates)) < 70


def test_seed_bootstrap_tests_and_intervals() -> None:
    rng = np.random.default_rng(3)
    n = 400
    same = [{i: bool(x) for i, x in enumerate(rng.random(n) < 0.7)} for _ in range(3)]
    better = [{i: bool(x) for i, x in enumerate(rng.random(n) < 0.85)} for _ in range(3)]
    boot = SeedBootstrap({"a": same, "b": better, "a2": same}, replicates=2000)
    c = boot.compare("b", "a")
    assert c.difference == pytest.approx(boot.estimate("b") - boot.estimate("a"))
    assert c.low < c.difference < c.high and c.low > 0 and c.p_value < 0.01
    assert boot.compare("a", "a2").p_value == 1.0  # identical runs: no difference at all
    low, high = boot.interval("a")
    assert low < boot.estimate("a") < high
    # seeds that disagree widen the interval: the seed spread is part of the uncertainty
    spread = [{i: bool(x) for i, x in enumerate(rng.random(n) < p)} for p in (0.55, 0.7, 0.85)]
    wide = SeedBootstrap({"steady": same, "spread": spread}, replicates=2000)
    w = wide.interval("spread")
    s = wide.interval("steady")
    assert (w[1] - w[0]) > 1.5 * (s[1] - s[0])
    assert bootstrap_p(0.1, np.array([0.2, 0.1, -0.1])) == pytest.approx(1.0)
    assert bootstrap_p(0.0, np.array([0.2])) == 1.0
    # enough replicates for Holm's first step with many tests
    assert replicates_for(10, 0.05) == 10_000 and replicates_for(1000, 0.05) == 80_000


def test_advice_at_a_budget_on_plain_values() -> None:
    rng = np.random.default_rng(11)
    means = {16: 0.60, 64: 0.72, 256: 0.86}
    runs = _simulate(rng, means, 0.70, n=600)
    runs["zs"] = [{i: bool(x) for i, x in enumerate(rng.random(600) < 0.55)}]
    runs["base"] = [{i: i % 2 == 0 for i in range(600)}]
    boot = SeedBootstrap(runs, replicates=2000)
    candidates = [
        Candidate("ft", (16, 64, 256), ("ft16", "ft64", "ft256")),
        Candidate("fs", (5,), ("fs",)),
        Candidate("zs", (0,), ("zs",)),
    ]
    a = advise_at(boot, candidates, 10, "base")
    assert a.pick == "fs" and a.basis == "measured with 5 labels"
    assert ("ft", "needs at least 16 labelled examples, 10 available") in a.excluded
    # fine-tuning takes over near 51 labels (the true curves cross there): the answer changes
    assert a.change_to == "ft" and 16 <= a.change_at <= 128
    assert a.change_low <= a.change_at <= a.change_high
    b = advise_at(boot, candidates, 100, "base")
    assert b.pick == "ft" and b.basis == "interpolated between the 64- and 256-label runs"
    assert b.change_at == math.inf and b.runner_up == "fs" and b.share_best > 0.9
    assert advise_at(boot, candidates, 1000, "base").change_at is None  # beyond the budgets
    # zero labels: zero-shot is the only candidate, and it does not beat the baseline clearly
    # enough, or it does; either way nothing that needs labels is picked
    z = advise_at(boot, candidates, 0, "base")
    assert z.pick in (None, "zs")


def test_seed_group_key_ignores_only_the_seed(curve_store: ResultsStore) -> None:
    recs = [r for r in curve_store.experiments() if r.method == "finetune"]
    keys = {(r.config.train_limit, seed_group_key(r.config)) for r in recs}
    assert len({k for _, k in keys}) == 3  # three sizes, each one configuration over 3 seeds


# ---------------------------------------------------------------------------------------------
# the report


def test_seed_groups_show_mean_and_range(data: ReportData) -> None:
    s = data.section("t")
    assert s.seeded
    names = [e.name for e in s.entries]
    assert "minilm · finetune · labels 64" in names and not any("seed" in n for n in names)
    ft64 = next(e for e in s.entries if e.name == "minilm · finetune · labels 64")
    assert len(ft64.seeds) == 3 and ft64.accuracy == pytest.approx(0.72)
    assert ft64.ci_low < 0.72 < ft64.ci_high
    assert [e.name for e in ft64.seeds] == [
        f"minilm · finetune · labels 64 · seed {i}" for i in (1, 2, 3)
    ]
    table = accuracy_table(data)
    row = next(r for r in table.rows if r[0].text == "minilm · finetune · labels 64")
    assert row[1].text.startswith("72.0 [") and row[1].note.startswith("3 seeds: 70.0–74.0")
    # a configuration run once keeps its Wilson interval and has no range
    zs = next(e for e in s.entries if e.method == "zero-shot")
    assert not zs.seeds and zs.ci_low == pytest.approx(zs.metrics.accuracy_ci_low)


def test_seeded_comparisons_use_the_bootstrap_and_mcnemar_for_single_runs(
    data: ReportData,
) -> None:
    s = data.section("t")
    kinds = {
        frozenset((s.name_of(c.a), s.name_of(c.b))): type(c).__name__ for c in s.verdict.comparisons
    }
    ft256, fs = "minilm · finetune · labels 256", "smollm2-135m · few-shot"
    e16, e64 = "minilm · embed-logreg · labels 16", "minilm · embed-logreg · labels 64"
    assert kinds[frozenset((ft256, fs))] == "SeededComparison"
    assert kinds[frozenset((e16, e64))] == "PairedComparison"  # two single runs: McNemar
    c = next(c for c in s.verdict.comparisons if {s.name_of(c.a), s.name_of(c.b)} == {ft256, fs})
    assert isinstance(c, SeededComparison) and c.significant
    assert s.name_of(c.better) == ft256  # type: ignore[arg-type]
    table = comparisons_table(s)
    assert "A − B, points [95% interval]" in table.headers
    assert any(r[6].text == "bootstrap, 3 vs 3 seeds" for r in table.rows)
    assert any(r[6].text.startswith("McNemar exact") for r in table.rows)
    # 86% (3 seeds) against zero-shot's 80% (one run) on 200 examples: not separable
    assert s.verdict.leader == next(e.id for e in s.entries if e.name == ft256)
    assert s.verdict.status == "tie"
    assert [s.name_of(i) for i in s.verdict.tied_with] == ["smollm2-135m · zero-shot"]
    # the 50% embed-logreg run does not beat the 50% baseline; the 3-seed 72% does
    assert not s.beats_baseline(next(e.id for e in s.entries if e.name == e16))
    assert s.beats_baseline(
        next(e.id for e in s.entries if e.name == "minilm · finetune · labels 64")
    )


def test_curve_section_numbers(data: ReportData) -> None:
    cs = data.section("t").curve
    assert cs is not None
    curve = cs.curve
    # lines in the registry's order (embed-logreg, setfit, finetune), named by what differs
    assert [line.name for line in curve.lines] == ["minilm · embed-logreg", "minilm · finetune"]
    ft = curve.lines[1]
    assert ft.sizes == [16, 64, 256] and ft.means == pytest.approx([0.60, 0.72, 0.86])
    assert {r.name: r.labels for r in curve.references} == {
        "smollm2-135m · few-shot": 5,
        "smollm2-135m · zero-shot": 0,
    }
    fs = curve.crossing("minilm · finetune", "smollm2-135m · few-shot")
    zs = curve.crossing("minilm · finetune", "smollm2-135m · zero-shot")
    assert fs is not None and zs is not None
    assert fs.labels == pytest.approx(FT_VS_FS) and fs.low <= FT_VS_FS <= fs.high
    assert zs.labels == pytest.approx(FT_VS_ZS) and zs.advantage == pytest.approx(FT_VS_ZS)
    assert fs.advantage == pytest.approx(FT_VS_FS - 5)
    never = curve.crossing("minilm · embed-logreg", "smollm2-135m · few-shot")
    assert never is not None and never.labels == math.inf
    assert curve.baseline == pytest.approx(0.5)
    assert (
        "minilm · finetune overtakes smollm2-135m · few-shot (70.0%) at about 51 labels "
        "(95% interval [" in " ".join(cs.sentences)
    )
    assert any(
        s.startswith("minilm · embed-logreg does not reach smollm2-135m · few-shot")
        for s in cs.sentences
    )
    table = curve_table(cs)
    assert table.headers == ["labels", "minilm · embed-logreg", "minilm · finetune"]
    assert [c.text for c in table.rows[1]] == ["64", "55.0", "72.0"]
    assert table.rows[1][2].note == "3 seeds: 70.0–74.0" and not table.rows[1][1].note


def test_curve_figure_draws_the_numbers(data: ReportData) -> None:
    cs = data.section("t").curve
    assert cs is not None
    d = curve_data("t", cs)
    ft = next(line for line in d.lines if line.name == "minilm · finetune")
    assert ft.x == [16, 64, 256] and ft.mean == pytest.approx([60.0, 72.0, 86.0])
    assert ft.low == pytest.approx([58.0, 70.0, 84.0]) and ft.high == pytest.approx(
        [62.0, 74.0, 88.0]
    )
    zero = next(m for m in d.marks if m.name == "smollm2-135m · zero-shot")
    assert zero.x == 0 and zero.prompted and d.baseline == pytest.approx(50.0)
    fig = draw_curve(d)
    ax = fig.axes[0]
    assert ax.get_xscale() == "symlog" and ax.get_xlim()[0] < 0 < ax.get_xlim()[1]
    assert "0" in [t.get_text() for t in ax.get_xticklabels()]
    plotted = [
        list(line.get_ydata()) for line in ax.get_lines() if list(line.get_xdata()) == [16, 64, 256]
    ]
    assert [60.0, 72.0, 86.0] in [[pytest.approx(v) for v in y] for y in plotted] or any(
        y == pytest.approx([60.0, 72.0, 86.0]) for y in plotted
    )
    # the accuracy axis starts at 0 or marks its break
    assert ax.get_ylim()[0] == 0 or any(line.get_gid() == AXIS_BREAK for line in ax.get_lines())


def test_accuracy_axes_start_at_zero_or_mark_the_break(data: ReportData) -> None:
    bars = draw_accuracy_bars(accuracy_bars_data(data), {})
    assert bars.axes[0].get_ylim()[0] == 0
    fig = draw_tradeoff([tradeoff_data(data.section("t"))], {})
    ax = fig.axes[0]
    assert ax.get_ylim()[0] == 0 or any(line.get_gid() == AXIS_BREAK for line in ax.get_lines())


def test_report_shows_the_curve(curve_store: ResultsStore, tmp_path: Path) -> None:
    written = build_report(curve_store, tmp_path / "out", ReportOptions())
    assert written["figures/curve_t.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = written["report.md"].read_text(encoding="utf-8")
    assert "## How many labels is a prompt worth?" in md
    assert "![Label-budget curve: t](figures/curve_t.png)" in md
    assert "overtakes smollm2-135m · few-shot (70.0%) at about 51 labels" in md
    assert "| labels | minilm · embed-logreg | minilm · finetune |" in md
    assert "| 64 | 55.0 | 72.0 (3 seeds: 70.0–74.0) |" in md
    assert "Data advantage of each prompt" in md
    assert "±" not in md
    html = written["report.html"].read_text(encoding="utf-8")
    assert 'id="labels"' in html and "How many labels is a prompt worth?" in html
    # every run is listed in the experiments table, with its seed
    assert md.count("| minilm | finetune |") == 9


def test_advice_reads_the_curve_at_the_users_labels(curve_store: ResultsStore) -> None:
    advice = collect(curve_store, ReportOptions(labels=10)).section("t").advice
    la = advice.at_labels
    assert la is not None and la.pick == "smollm2-135m · zero-shot"  # 80% with no labels
    assert la.change_to == "minilm · finetune"
    assert la.change_at == pytest.approx(FT_VS_ZS, rel=0.02)
    text = " ".join(advice.at_labels_lines)
    assert text.startswith("At 10 labels, use smollm2-135m · zero-shot: 80.0% (95% interval [")
    assert "minilm · finetune overtakes smollm2-135m · zero-shot at about 140 labels" in text
    later = collect(curve_store, ReportOptions(labels=200)).section("t").advice.at_labels
    assert later is not None and later.pick == "minilm · finetune"
    assert later.basis == "interpolated between the 64- and 256-label runs"
    assert later.change_at == math.inf
    # no --labels: no curve advice; no curve: today's advice only
    assert collect(curve_store, ReportOptions()).section("t").advice.at_labels is None


def test_no_curve_without_two_sizes(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "b.db")
    common = {"task": "t", "dataset_key": KEY, "labels": LABELS, "gold": GOLD}
    store.save_examples(
        KEY, [(i, Example(f"text {i}", g)) for i, g in enumerate(GOLD)], "t", [50, 50]
    )
    add_experiment(
        store,
        model="minilm",
        method="finetune",
        wrong=_wrong(0.8, 0),
        train_limit=64,
        training=TrainingRecord(labels_used=64),
        **common,
    )
    add_experiment(store, model="smollm2-135m", method="zero-shot", wrong=_wrong(0.6, 0), **common)
    s = collect(store, ReportOptions(labels=100)).section("t")
    assert s.curve is None and s.advice.at_labels is None and not s.seeded
    assert s.advice.pick is not None and s.advice.pick.name == "minilm · finetune"
