"""The report: files, plotted numbers, tables, self-containment, cost, advice and errors."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bakeoff.data import Example
from bakeoff.errors import BakeoffError
from bakeoff.metrics import accuracy_interval
from bakeoff.records import TrainingRecord
from bakeoff.report import ReportOptions, build_report, report_command
from bakeoff.report.analysis import ReportData, collect, cost_per_million, daily_load
from bakeoff.report.figures import (
    accuracy_bars_data,
    confusion_data,
    draw_accuracy_bars,
    draw_tradeoff,
    pareto_front,
    scorecard_data,
    tradeoff_data,
)
from bakeoff.report.render import challenge_payload, md_cell, script_json
from bakeoff.store import ResultsStore
from tests.report_fixtures import (
    FT_TRAIN_S,
    IMG_PAYLOAD,
    SCRIPT_PAYLOAD,
    add_experiment,
    build_store,
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ResultsStore:
    return build_store(tmp_path_factory.mktemp("store") / "b.db")


@pytest.fixture(scope="module")
def written(store: ResultsStore, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_report(store, tmp_path_factory.mktemp("report") / "out", ReportOptions())


@pytest.fixture(scope="module")
def data(store: ResultsStore) -> ReportData:
    return collect(store, ReportOptions())


def _half(correct: int, n: int) -> str:
    low, high = accuracy_interval(correct, n)
    return f"{100 * correct / n:.1f} \\[{100 * low:.1f}, {100 * high:.1f}\\]"


def test_writes_every_output(written: dict[str, Path]) -> None:
    for name in ("report.md", "report.html", "challenge.html"):
        assert written[name].is_file() and written[name].stat().st_size > 0
    stems = ["scorecard", "accuracy", "accuracy_latency", "confusion_rte", "confusion_sst2"]
    for stem in stems:
        png, svg = written[f"figures/{stem}.png"], written[f"figures/{stem}.svg"]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "<svg" in svg.read_text(encoding="utf-8")[:2000]


def test_markdown_tables(written: dict[str, Path]) -> None:
    md = written["report.md"].read_text(encoding="utf-8")
    # accuracy +- 95% interval by model and method x task; rte winner starred, sst2 top group bold
    assert f"| minilm · finetune | **★ {_half(29, 30)}** | **{_half(36, 40)}** |" in md
    assert (
        f"| smollm2-135m · zero-shot | {_half(10, 30)} (not better than the baseline) | "
        f"{_half(20, 40)} (12.5% invalid, not better than the baseline) |"
    ) in md
    assert f"| smollm2-135m · few-shot | — | **{_half(34, 40)}** |" in md
    # the majority-class baseline is a row of its own
    assert (
        f"| majority class (baseline) | {_half(16, 30)} (always 'entailment') | "
        f"{_half(20, 40)} (always 'positive') |"
    ) in md
    # speed row: throughput, batch, latency p50 / p95, memory, device; one unit per column
    assert "| peak memory MB | device | training (h) |" in md
    assert (
        "| sst2 | minilm · finetune | 400 | 32 | 2.5 / 4 | 300 (RSS) | cpu · Test CPU 2-core | 2 |"
        in md
    )
    assert (
        "| rte | minilm · finetune | 350 | 32 | 3 / 5 | 310 (RSS) | cpu · Test CPU 2-core | 0.167 |"
        in md
    )
    # invalid answers, significance, winners, cost, advice and hard examples
    assert "| sst2 | smollm2-135m · zero-shot | 5 | 12.5% | 'maybe?' |" in md
    assert "- **rte**: winner: minilm · finetune" in md
    assert "- **sst2**: no single winner: minilm · finetune tied with smollm2-135m · few-shot" in md
    assert (
        "| minilm · finetune | smollm2-135m · few-shot | 40 | 4 | 2 | 0.688 | 0.688 | tied |" in md
    )
    assert "| time per 1M (h) | cost per 1M | training time (h) | training cost |" in md
    assert (
        "| sst2 | minilm · finetune | 400 | cpu · Test CPU 2-core | 0.694 | $0.69 | 2 | $2.00 |"
        in md
    )
    assert "**Use minilm · finetune.**" in md
    # dataset text is escaped: no raw HTML reaches the Markdown
    assert not re.search(r"(?<!\\)<(?:script|img)", md)
    assert r"\<script\>window.\_\_pwned=1\</script\>" in md


class _Refs(HTMLParser):
    """Every tag and every URL-bearing attribute of a page, as the browser would parse them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.refs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "poster", "action", "data"):
                self.refs.append((tag, name, value or ""))


def _parse(html: str) -> _Refs:
    parser = _Refs()
    parser.feed(html)
    return parser


def test_html_is_self_contained(written: dict[str, Path]) -> None:
    html = written["report.html"].read_text(encoding="utf-8")
    page = _parse(html)
    assert page.refs, "expected inline images and in-page links"
    for tag, _, ref in page.refs:
        assert ref.startswith(("data:", "#")) or (tag == "a" and ref == "challenge.html"), ref
    assert "script" not in page.tags and "iframe" not in page.tags
    assert "url(" not in html and "@import" not in html
    images = [ref for tag, _, ref in page.refs if tag == "img"]
    # scorecard, accuracy, accuracy vs latency, and per task (2) confusion and calibration
    assert len(images) == 7 and all(i.startswith("data:image/png;base64,") for i in images)
    # untrusted text is escaped, never markup
    assert SCRIPT_PAYLOAD not in html and "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert "<img src=x" not in html


def test_challenge_embeds_data_safely(written: dict[str, Path]) -> None:
    page = written["challenge.html"].read_text(encoding="utf-8")
    block = re.search(
        r'<script type="application/json" id="challenge-data">(.*?)</script>', page, re.S
    )
    assert block is not None
    raw = block.group(1)
    assert not set(raw) & {"<", ">", "&", "\u2028", "\u2029"}
    tasks = json.loads(raw)
    texts = [item["text"] for t in tasks for item in t["items"]]
    assert SCRIPT_PAYLOAD in texts and IMG_PAYLOAD in texts
    assert (
        "innerHTML" not in page
        and "insertAdjacentHTML" not in page
        and "document.write" not in page
    )
    parsed = _parse(page)
    assert all(ref.startswith("data:") for _, _, ref in parsed.refs)
    assert parsed.tags.count("script") == 2  # the JSON block and the page's own code, nothing else


def test_script_json_and_md_cell() -> None:
    payload = {"t": "</script><b>&amp;\u2028\u2029'\""}
    text = str(script_json(payload))
    assert json.loads(text) == payload and not set(text) & {"<", ">", "&", "\u2028", "\u2029"}
    assert md_cell("a | b\n*c* [x](y) <img> R&D &amp; x_y _z_") == (
        r"a \| b \*c\* \[x\](y) \<img\> R&D &amp;amp; x_y \_z\_"
    )
    assert md_cell("abcdef", limit=4) == "abc…"


def test_scorecard_data(data: ReportData) -> None:
    d = scorecard_data(data)
    assert d.tasks == ["rte", "sst2"]
    assert d.columns == ["minilm · finetune", "smollm2-135m · zero-shot", "smollm2-135m · few-shot"]
    assert d.status == [["winner", "behind", ""], ["leader", "behind", "tied"]]
    assert d.accuracy[1] == pytest.approx([90.0, 50.0, 85.0])
    assert d.accuracy[0][2] is None


def test_accuracy_bars_plot_the_intervals(data: ReportData) -> None:
    d = accuracy_bars_data(data)
    by_name = {s.name: s for s in d.series}
    ft = by_name["minilm · finetune"]
    assert ft.tasks == ["rte", "sst2"]
    assert ft.height == pytest.approx([100 * 29 / 30, 90.0])
    low, high = accuracy_interval(36, 40)
    assert ft.err_low[1] == pytest.approx(100 * (0.9 - low))
    assert ft.err_high[1] == pytest.approx(100 * (high - 0.9))
    assert by_name["smollm2-135m · few-shot"].tasks == ["sst2"]
    # what matplotlib drew is exactly these numbers
    fig = draw_accuracy_bars(d, {})
    heights = sorted(round(p.get_height(), 6) for p in fig.axes[0].patches)
    expected = sorted(round(h, 6) for s in d.series for h in s.height)
    assert heights == expected


def test_tradeoff_and_pareto_front(data: ReportData) -> None:
    assert pareto_front([(1, 50), (2, 60), (3, 55), (1, 40), (4, 90)]) == [
        True,
        True,
        False,
        False,
        True,
    ]
    sst2 = tradeoff_data(data.section("sst2"))
    front = {p.name: p.on_front for p in sst2.points}
    assert front == {
        "minilm · finetune": True,
        "smollm2-135m · few-shot": False,
        "smollm2-135m · zero-shot": False,
    }
    assert sst2.front == [(2.5, 90.0)]
    fig = draw_tradeoff([sst2], {})
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    # each errorbar container's data line holds one (latency, accuracy) point
    plotted = sorted(
        (float(c.lines[0].get_xdata()[0]), round(float(c.lines[0].get_ydata()[0]), 6))
        for c in ax.containers
    )
    assert plotted == sorted((p.latency_ms, round(p.accuracy, 6)) for p in sst2.points)


def test_confusion_counts_invalid_answers(data: ReportData) -> None:
    cms = {c.name: c for c in confusion_data(data.section("sst2"))}
    zs = cms["smollm2-135m · zero-shot"]
    assert zs.col_labels == ["negative", "positive", "invalid"]
    # gold negative: even idx; invalid on 0..4 -> negatives 0,2,4 and positives 1,3
    assert zs.matrix == [[10, 7, 3], [8, 10, 2]]
    assert cms["minilm · finetune"].matrix == [[18, 2, 0], [2, 18, 0]]
    rte = confusion_data(data.section("rte"))
    assert rte[0].col_labels == ["entailment", "not_entailment"]


def test_cost_math() -> None:
    c = cost_per_million(400.0, 2.5, FT_TRAIN_S)
    assert c.hours_per_million == pytest.approx(1e6 / 400 / 3600)
    assert c.usd_per_million == pytest.approx(2.5 * 1e6 / 400 / 3600)
    assert (c.train_hours, c.train_usd) == (pytest.approx(2.0), pytest.approx(5.0))
    load = daily_load(c, 2e7, 2.5, 30)
    assert load.device_hours == pytest.approx(2e7 / 400 / 3600)  # 13.9 h: one device keeps up
    assert load.devices == 1
    assert load.usd_over_horizon == pytest.approx(5.0 + 30 * 2.5 * 2e7 / 400 / 3600)
    assert daily_load(c, 2e8, 2.5, 30).devices == 6  # 138.9 device-hours a day


def _advice(
    store: ResultsStore, task: str = "sst2", **options: object
) -> tuple[str | None, str | None]:
    advice = collect(store, ReportOptions(**options)).section(task).advice  # type: ignore[arg-type]
    name = advice.pick.name if advice.pick else None
    return name, advice.alternative.name if advice.alternative else None


def test_advice_follows_the_constraints(store: ResultsStore) -> None:
    ft, zs, fs = "minilm · finetune", "smollm2-135m · zero-shot", "smollm2-135m · few-shot"
    # no constraints: the most accurate; few-shot is tied with it but costs more per example
    assert _advice(store) == (ft, None)
    # 10 labels rule out fine-tuning on 1,000; few-shot (5) beats zero-shot significantly
    assert _advice(store, labels=10) == (fs, None)
    # zero-shot scores 50%, exactly what always answering "positive" scores: never recommended
    assert _advice(store, labels=0) == (None, None)
    advice = collect(store, ReportOptions(labels=0)).section("sst2").advice
    assert "no experiment is significantly better than the majority-class baseline" in (
        advice.no_pick_reason
    )
    assert advice.suggestions and zs in [x.entry.name for x in advice.excluded]
    # a 100 ms p95 budget rules out few-shot (120 ms p95); zero-shot fits it but not the baseline
    assert _advice(store, labels=10, latency_budget_ms=100) == (None, None)
    # ... while its median (85 ms) fits, so a median budget keeps few-shot
    assert _advice(store, labels=10, latency_budget_ms=100, latency_stat="median") == (fs, None)
    assert _advice(store, latency_budget_ms=1) == (None, None)
    # low volume: two hours of training cost more than 30 days of few-shot, which the tests
    # cannot separate from fine-tuning, so it is offered; at high volume it is not cheaper
    assert _advice(store, daily_volume=100) == (ft, fs)
    assert _advice(store, daily_volume=1_000_000) == (ft, None)
    advice = collect(store, ReportOptions(daily_volume=100)).section("sst2").advice
    assert "$0.09 instead of $2.00 over 30 days" in advice.alternative_reason
    advice = collect(store, ReportOptions(labels=10)).section("sst2").advice
    assert [x.entry.name for x in advice.excluded] == [ft, zs]
    assert "needs 1,000 labelled examples, 10 available" in advice.excluded[0].reason
    assert "not significantly better than always answering 'positive'" in (
        advice.excluded[1].reason
    )


def test_advice_text_changes_with_options(store: ResultsStore, tmp_path: Path) -> None:
    a = build_report(store, tmp_path / "a", ReportOptions())["report.md"].read_text(
        encoding="utf-8"
    )
    b = build_report(
        store, tmp_path / "b", ReportOptions(labels=0, daily_volume=5000, price_per_hour=3)
    )
    md = b["report.md"].read_text(encoding="utf-8")
    assert "No constraints given" in a and "No constraints given" not in md
    assert "Your constraints: 0 labelled examples available; 5,000 examples per day" in md
    assert "**Use smollm2-135m · zero-shot.**" not in md
    assert "**Nothing to recommend:** no experiment is significantly better than the " in md
    assert "$3 per device-hour" in md


def test_challenge_payload_is_balanced_by_label(data: ReportData) -> None:
    tasks = {t["task"]: t for t in challenge_payload(data)}
    for t in tasks.values():
        golds = [item["gold"] for item in t["items"]]
        # equal numbers of each label: always pressing one key scores 1/2 on these tasks
        assert len(golds) == 12 and golds.count(0) == golds.count(1) == 6
        assert "always pressing one key scores 50%" in t["note"]
        # in a seeded shuffled order, not grouped by label
        assert golds != sorted(golds) and golds != sorted(golds, reverse=True)
        names = {m["name"] for m in t["models"]}
        assert all({a["name"] for a in item["answers"]} == names for item in t["items"])
    sst2 = tasks["sst2"]
    assert sst2["labels"] == ["negative", "positive"]
    # idx 0 and 1 (every model wrong) are the hardest of their labels, so they are shown
    worst = [item for item in sst2["items"] if item["idx"] in (0, 1)]
    assert len(worst) == 2 and all(not a["correct"] for w in worst for a in w["answers"])
    assert challenge_payload(data) == challenge_payload(data)  # the order is seeded


def test_challenge_balances_a_one_sided_set_of_hard_examples(tmp_path: Path) -> None:
    """A model that answers 'b' for everything makes every 'a' example hard; the challenge
    still shows as many 'b' examples, so pressing 'b' throughout scores half."""
    store = ResultsStore(tmp_path / "b.db")
    gold = [0] * 10 + [1] * 30
    common = {"task": "t", "dataset_key": "t:fp:validation", "labels": ["a", "b"], "gold": gold}
    store.save_examples(
        "t:fp:validation", [(i, Example(f"text {i}", g)) for i, g in enumerate(gold)], "t", [1, 3]
    )
    add_experiment(store, model="m", method="zero-shot", wrong=set(range(10)), **common)
    add_experiment(store, model="e", method="finetune", wrong=set(range(8)), **common)
    data = collect(store, ReportOptions(challenge_size=8))
    section = data.section("t")
    assert {ex.gold for ex in section.hard} == {"a"}
    golds = [ex.gold for ex in section.challenge]
    assert golds.count("a") == golds.count("b") == 4
    # within a label, the hardest first: the 'a' examples both models missed
    assert {ex.idx for ex in section.challenge if ex.gold == "a"} <= set(range(8))


def test_errors(tmp_path: Path, store: ResultsStore) -> None:
    empty = ResultsStore(tmp_path / "empty.db")
    with pytest.raises(BakeoffError, match="no finished experiments in .*run `bakeoff run` first"):
        build_report(empty, tmp_path / "out", ReportOptions())
    (tmp_path / "file").write_text("x")
    with pytest.raises(BakeoffError, match="is a file"):
        build_report(store, tmp_path / "file", ReportOptions())
    with pytest.raises(BakeoffError, match="--task boolq: no finished experiments"):
        build_report(store, tmp_path / "out", ReportOptions(challenge_tasks=("boolq",)))
    with pytest.raises(BakeoffError, match="--price-per-hour"):
        ReportOptions(price_per_hour=-1)


def test_command(tmp_path: Path, store: ResultsStore) -> None:
    app = typer.Typer()
    app.command("report")(report_command)
    app.command("noop")(lambda: None)  # keep 'report' a subcommand, as in bakeoff's CLI
    out = tmp_path / "rep"
    result = CliRunner().invoke(
        app,
        ["report", "--db", str(store.path), "--out", str(out), "--labels", "10", "--task", "sst2"],
    )
    assert result.exit_code == 0, result.output
    assert (out / "report.html").is_file() and "report.html" in result.output
    payload = re.search(
        r'id="challenge-data">(.*?)</script>', (out / "challenge.html").read_text("utf-8"), re.S
    )
    assert [t["task"] for t in json.loads(payload.group(1))] == ["sst2"]  # type: ignore[union-attr]
    missing = CliRunner().invoke(
        app, ["report", "--db", str(tmp_path / "nope.db"), "--out", str(out)]
    )
    assert isinstance(missing.exception, BakeoffError) and "no results store" in str(
        missing.exception
    )
    assert not (tmp_path / "nope.db").exists()


def test_labels_used_reads_the_training_record(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "b.db")
    gold = [0, 1, 0, 1]
    common = {
        "task": "t",
        "dataset_key": "t:fp:validation",
        "labels": ["a", "b"],
        "gold": gold,
        "wrong": set(),
    }
    shown = add_experiment(
        store, model="m", method="few-shot", training=TrainingRecord(labels_used=3), **common
    )
    zero = add_experiment(store, model="m3", method="zero-shot", **common)
    tuned = add_experiment(
        store,
        model="e",
        method="finetune",
        training=TrainingRecord(labels_used=80, train_time_s=1.0),
        **common,
    )
    data = collect(store, ReportOptions())
    used = {e.id: e.labels_used for e in data.entries}
    assert used == {shown: 3, zero: 0, tuned: 80}


def test_reliability_diagram_bins_the_stored_probabilities(
    data: ReportData, written: dict[str, Path]
) -> None:
    from bakeoff.metrics import expected_calibration_error
    from bakeoff.report.figures import calibration_data

    for task in ("rte", "sst2"):
        assert written[f"figures/calibration_{task}.png"].read_bytes()[:4] == b"\x89PNG"
    section = next(s for s in data.sections if s.task == "sst2")
    d = calibration_data(section)
    scored = [e for e in section.entries if any(r.scores for r in e.all_rows)]
    assert d.lines and len(d.lines) == min(len(scored), 6)
    for line in d.lines:
        entry = next(e for e in section.entries if e.name == line.name)
        rows = entry.all_rows
        want = expected_calibration_error(
            [r.scores for r in rows], [r.gold for r in rows], [r.pred for r in rows]
        )
        assert line.ece == pytest.approx(want)
        assert sum(line.count) == sum(1 for r in rows if r.scores)
        assert all(0 <= v <= 100 for v in line.confidence + line.accuracy)
    html = written["report.html"].read_text(encoding="utf-8")
    assert 'id="calibration"' in html and "ECE" in html
    assert "## Calibration" in written["report.md"].read_text(encoding="utf-8")


def test_scorecard_line_says_when_nothing_beats_the_baseline() -> None:
    """A task whose leader does not beat the majority class gets no "tied with" line that a
    reader could take for a short list of good options."""
    from types import SimpleNamespace

    from bakeoff.report.figures import verdict_line
    from bakeoff.stats import TaskVerdict

    names = {"a": "minilm · setfit", "b": "minilm · finetune"}
    section = SimpleNamespace(
        verdict=TaskVerdict("baseline", "a", 0.05, tied_with=["b"]), name_of=names.__getitem__
    )
    assert verdict_line(section) == (
        "nothing beats the majority-class baseline (most accurate: minilm · setfit)"
    )
    section.verdict = TaskVerdict("tie", "a", 0.05, tied_with=["b"])
    assert verdict_line(section) == (
        "no single winner: minilm · setfit tied with minilm · finetune"
    )
