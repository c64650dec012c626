"""Turn the report's data into report.md, report.html and challenge.html with jinja2 templates.

Tables are built once here as plain strings (:class:`Table`) and rendered by both the Markdown
and the HTML template, so the two files always state the same numbers. Dataset text is untrusted:
HTML autoescaping is on, Markdown cells are escaped by :func:`md_cell`, and the challenge page
receives its data as escaped JSON (:func:`script_json`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from bakeoff.curves import Crossing, interval_text, round_labels
from bakeoff.metrics import format_accuracy
from bakeoff.printable import printable
from bakeoff.report.analysis import (
    Answer,
    CurveSection,
    Entry,
    HardExample,
    ReportData,
    SeededComparison,
    TaskSection,
)
from bakeoff.report.figures import FIGURE_DPI, FigureFiles, column_order, slug, verdict_line

FIGURE_CSS_PX_PER_INCH = 100

# ---------------------------------------------------------------------------------------------
# formatting


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def acc_ci(e: Entry) -> str:
    """'87.6 [85.2, 89.7]': accuracy and its 95% interval (not symmetric, so both ends), as
    ``bakeoff results`` prints it. For a seed group: the mean over seeds and its bootstrap
    interval."""
    return format_accuracy(e.accuracy, e.ci_low, e.ci_high)


def seed_range(e: Entry) -> str:
    """'3 seeds: 82.0–86.7' (the range of a seed group's accuracies), '' for one run."""
    if not e.seeds:
        return ""
    accs = e.seed_accuracies
    return f"{len(accs)} seeds: {pct(min(accs))}–{pct(max(accs))}"


#: units a column of durations can be written in: name, hours per unit
_DURATION_UNITS = (("s", 1 / 3600), ("min", 1 / 60), ("h", 1.0), ("days", 24.0))


def duration_unit(hours: list[float]) -> tuple[str, float]:
    """One unit for a whole column of durations (the largest value's, as :func:`duration`
    would choose it), so the column can be read and compared down its length."""
    finite = [h for h in hours if math.isfinite(h) and h > 0]
    top = max(finite) if finite else 0.0
    if top * 3600 < 120:
        return _DURATION_UNITS[0]
    if top < 2:
        return _DURATION_UNITS[1]
    if top < 72:
        return _DURATION_UNITS[2]
    return _DURATION_UNITS[3]


def in_unit(hours: float, unit: tuple[str, float]) -> str:
    return num(hours / unit[1]) if math.isfinite(hours) else "—"


def duration(hours: float) -> str:
    if not math.isfinite(hours):
        return "—"
    seconds = hours * 3600
    if seconds < 120:
        return f"{seconds:.3g} s"
    if hours < 2:
        return f"{seconds / 60:.3g} min"
    if hours < 72:
        return f"{hours:.3g} h"
    return f"{hours / 24:,.3g} days"


def usd(x: float) -> str:
    if not math.isfinite(x):
        return "—"
    if x == 0 or x >= 0.01:
        return f"${x:,.2f}"
    return f"${x:.2g}"


def num(x: float) -> str:
    """Three significant figures, thousands separated: 61,031 / 277 / 12.3 / 0.045."""
    if not math.isfinite(x):
        return "—"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def p_value(p: float | None) -> str:
    if p is None:
        return "—"
    return (
        "< 0.0001" if p < 1e-4 else f"{p:.2g}" if p < 0.01 else f"{p:.3f}".rstrip("0").rstrip(".")
    )


#: characters that would start Markdown syntax: always-special ones, '<' opening a tag, '&'
#: opening an entity, '_' at a word edge (intraword underscores are literal in GFM)
def p_phrase(p: float | None, name: str = "Holm-adjusted p") -> str:
    """'Holm-adjusted p = 0.03' or 'Holm-adjusted p < 0.0001'."""
    text = p_value(p)
    return f"{name} {text}" if text.startswith("<") else f"{name} = {text}"


_MD_SPECIAL = re.compile(
    r"([\\`*\[\]|~>])|(<(?=[A-Za-z/!?]))|(&(?=#|\w+;))|((?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))"
)


def md_cell(text: Any, limit: int | None = None) -> str:
    """Escape text for a Markdown table cell or line: one line, no markup, no raw HTML."""
    s = " ".join(str(text).split())
    if limit is not None and len(s) > limit:
        s = s[: limit - 1].rstrip() + "…"
    return _MD_SPECIAL.sub(lambda m: "&amp;" if m.group(0) == "&" else "\\" + m.group(0), s)


def md_table(t: Table) -> str:
    """A GitHub-flavoured Markdown table; cells in the top group are bold."""

    def cell(c: Cell) -> str:
        text = md_cell(c.text)
        text = f"**{text}**" if c.kind in ("win", "top") else text
        return f"{text} ({md_cell(c.note)})" if c.note else text

    lines = [
        "| " + " | ".join(md_cell(h) for h in t.headers) + " |",
        "|" + "|".join("---:" if n else "---" for n in t.numeric) + "|",
    ]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines)


def shown(value: Any) -> Any:
    """Every value a template prints, with control characters from the data shown as escapes
    (``\\x1b``): an ANSI escape in a label must not act on a terminal showing report.md, nor
    make report.html invalid. Markup (CSS, scripts, :func:`script_json`) is ours and passes."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return printable(value, keep_newlines=True)
    return value


def _shown_json(value: Any) -> Any:
    """:func:`shown` for every string inside the challenge page's data."""
    if isinstance(value, str):
        return printable(value, keep_newlines=True)
    if isinstance(value, dict):
        return {_shown_json(k): _shown_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_shown_json(v) for v in value]
    return value


def script_json(payload: Any) -> Markup:
    """JSON safe inside <script type="application/json">: no '</script>', no HTML-significant
    characters, no JS line terminators; every replacement is a valid JSON string escape."""
    s = json.dumps(_shown_json(payload), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for ch, esc in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        s = s.replace(ch, esc)
    return Markup(s)


def csp_hash(script: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()


@dataclass(frozen=True)
class InlineImage:
    uri: str
    #: CSS pixels: figures are saved at 160 dpi and shown at 100 px per inch (sharp on 2x screens)
    width: int


def inline_png(png: Path) -> InlineImage:
    """A PNG as a data: URI (report.html must open from disk with no other file)."""
    raw = png.read_bytes()
    pixel_width = int.from_bytes(raw[16:20], "big")  # IHDR width
    return InlineImage(
        "data:image/png;base64," + base64.b64encode(raw).decode("ascii"),
        round(pixel_width * FIGURE_CSS_PX_PER_INCH / FIGURE_DPI),
    )


# ---------------------------------------------------------------------------------------------
# tables shared by both outputs


@dataclass
class Cell:
    text: str
    #: "" | "win" (sole winner) | "top" (in the top group) | "muted" | "bad"
    kind: str = ""
    title: str = ""
    #: a qualifier shown after the text: in parentheses in Markdown, on its own line in HTML
    note: str = ""


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Cell]]
    #: right-align (numeric) columns
    numeric: list[bool] = field(default_factory=list)
    #: rows that start a new group (e.g. a new task), drawn with a rule above them in HTML
    group_starts: set[int] = field(default_factory=set)


def grouped(rows: list[list[Cell]]) -> tuple[list[list[Cell]], set[int]]:
    """Blank a first column that repeats the row above (tables sorted by task read better)."""
    starts, previous = set(), None
    for i, row in enumerate(rows):
        if row[0].text == previous:
            row[0] = Cell("")
        else:
            previous = row[0].text
            starts.add(i)
    return rows, starts


def _c(text: Any, kind: str = "", title: str = "") -> Cell:
    return Cell(str(text), kind, title)


def accuracy_table(data: ReportData) -> Table:
    """Rows: experiments (named by what sets them apart), then each task's majority-class
    baseline; columns: tasks; cells: accuracy [95% interval] (+ invalid rate)."""
    tasks = [s.task for s in data.sections]
    rows: dict[str, dict[str, Cell]] = {}
    info: dict[str, Entry] = {}
    for s in data.sections:
        top = set(s.verdict.top_group) if s.verdict.status not in ("alone", "baseline") else set()
        for e in s.entries:
            notes = []
            if e.n_invalid:
                notes.append(f"{pct(e.invalid_rate)}% invalid")
            if e.record.config.eval_limit:
                notes.append(f"n={e.n}")
            if e.id in s.below_baseline:
                notes.append("below the baseline")
            elif not s.beats_baseline(e.id):
                notes.append("not better than the baseline")
            if e.seeds:
                notes.insert(0, seed_range(e))
            kind = (
                "win"
                if s.verdict.status == "winner" and e.id == s.verdict.leader
                else ("top" if e.id in top else "")
            )
            title = f"95% interval [{pct(e.ci_low)}, {pct(e.ci_high)}], n = {e.n}" + (
                f"; mean over {len(e.seeds)} seeds, interval by bootstrap over examples and seeds"
                if e.seeds
                else ""
            )
            rows.setdefault(e.name, {})[s.task] = Cell(
                ("★ " if kind == "win" else "") + acc_ci(e), kind, title, ", ".join(notes)
            )
            info.setdefault(e.name, e)
    out = []
    for name in column_order(data.entries):
        out.append([_c(name)] + [rows[name].get(t, _c("—", "muted")) for t in tasks])
    baseline_row = [_c("majority class (baseline)", "muted")]
    for s in data.sections:
        b = s.baseline
        if b is None:
            baseline_row.append(_c("—", "muted"))
        else:
            low, high = b.interval
            baseline_row.append(
                Cell(
                    f"{pct(b.accuracy)} [{pct(low)}, {pct(high)}]",
                    "muted",
                    f"always answering '{b.label_name}', the train split's commonest label",
                    f"always '{b.label_name}'",
                )
            )
    if any(s.baseline for s in data.sections):
        out.append(baseline_row)
    return Table(["experiment", *tasks], out, [False] + [True] * len(tasks))


def speed_table(data: ReportData) -> Table:
    train_unit = duration_unit([e.train_time_s / 3600 for e in data.entries])
    rows = []
    for s in data.sections:
        for e in sorted(s.entries, key=lambda e: -e.throughput):
            rows.append(
                [
                    _c(s.task),
                    _c(e.name),
                    _c(num(e.throughput)),
                    _c(e.timings.batch_size if e.timings else ""),
                    _c(f"{num(e.latency_ms('median'))} / {num(e.latency_ms('p95'))}"),
                    _c(f"{num(e.peak_memory_mb)} ({e.memory_kind})"),
                    _c(e.device),
                    _c(in_unit(e.train_time_s / 3600, train_unit) if e.train_time_s else "—"),
                ]
            )
    rows, starts = grouped(rows)
    return Table(
        [
            "task",
            "experiment",
            "examples/s",
            "batch",
            "latency ms (p50 / p95)",
            "peak memory MB",
            "device",
            f"training ({train_unit[0]})",
        ],
        rows,
        [False, False, True, True, True, True, False, True],
        starts,
    )


def invalid_table(data: ReportData) -> Table | None:
    rows = []
    for s in data.sections:
        for e in s.entries:
            if not e.n_invalid:
                continue
            raws = []
            for r in e.rows:
                if not 0 <= r.pred < len(s.label_names) and r.raw is not None and r.raw not in raws:
                    raws.append(r.raw)
            sample = ", ".join(repr(x[:40]) for x in raws[:3]) or "—"
            rows.append(
                [
                    _c(s.task),
                    _c(e.name),
                    _c(e.n_invalid),
                    _c(f"{pct(e.invalid_rate)}%", "bad"),
                    _c(sample),
                ]
            )
    if not rows:
        return None
    rows, starts = grouped(rows)
    return Table(
        ["task", "experiment", "invalid", "rate", "e.g. answers"],
        rows,
        [False, False, True, True, False],
        starts,
    )


def _points(x: float) -> str:
    return f"{100 * x:+.1f}"


def comparisons_table(s: TaskSection) -> Table:
    """Every pair of the task's experiments. Where configurations were run with several seeds,
    the difference of mean accuracies and which test produced each p are shown instead of the
    discordant counts (which only McNemar's test reads)."""
    rows = []
    for c in sorted(s.verdict.comparisons, key=lambda c: (c.p_holm is None, c.p_holm or 0)):
        a, b = s.name_of(c.a), s.name_of(c.b)
        if not c.comparable:
            result, kind = "not compared", "muted"
        elif c.significant:
            result, kind = ("A better" if c.better == c.a else "B better"), ""
        else:
            result, kind = "tied", "muted"
        if not s.seeded:
            rows.append(
                [
                    _c(a),
                    _c(b),
                    _c(c.n or "—"),
                    _c(c.a_only if c.comparable else "—"),
                    _c(c.b_only if c.comparable else "—"),
                    _c(p_value(c.p_value)),
                    _c(p_value(c.p_holm)),
                    _c(result, kind),
                ]
            )
            continue
        if isinstance(c, SeededComparison):
            diff = f"{_points(c.difference)} [{_points(c.low)}, {_points(c.high)}]"
            test = f"bootstrap, {c.seeds_a} vs {c.seeds_b} seeds"
        elif c.comparable:
            diff = _points(c.accuracy_a - c.accuracy_b)
            test = f"McNemar exact, {c.a_only} vs {c.b_only} discordant"
        else:
            diff, test = "—", "—"
        rows.append(
            [
                _c(a),
                _c(b),
                _c(c.n or "—"),
                _c(diff),
                _c(p_value(c.p_value)),
                _c(p_value(c.p_holm)),
                _c(test),
                _c(result, kind),
            ]
        )
    if not s.seeded:
        return Table(
            [
                "A",
                "B",
                "examples",
                "only A right",
                "only B right",
                "p (exact)",
                "p (Holm)",
                "result",
            ],
            rows,
            [False, False, True, True, True, True, True, False],
        )
    return Table(
        ["A", "B", "examples", "A − B, points [95% interval]", "p", "p (Holm)", "test", "result"],
        rows,
        [False, False, True, True, True, True, False, False],
    )


# ---------------------------------------------------------------------------------------------
# the label-budget curve


def curve_table(cs: CurveSection) -> Table:
    """Rows: training-set sizes; columns: trained methods; cells: mean accuracy over seeds and,
    with several seeds, their range."""
    lines = cs.curve.lines
    sizes = sorted({p.labels for line in lines for p in line.points})
    rows = []
    for x in sizes:
        row = [_c(f"{x:,}")]
        for line in lines:
            p = next((q for q in line.points if q.labels == x), None)
            if p is None:
                row.append(_c("—", "muted"))
            elif p.seeds > 1:
                row.append(
                    Cell(
                        pct(p.mean),
                        title=f"95% interval [{pct(p.low)}, {pct(p.high)}]",
                        note=f"{p.seeds} seeds: {pct(p.seed_min)}–{pct(p.seed_max)}",
                    )
                )
            else:
                row.append(Cell(pct(p.mean), title=f"95% interval [{pct(p.low)}, {pct(p.high)}]"))
        rows.append(row)
    return Table(["labels", *(line.name for line in lines)], rows, [True] * (1 + len(lines)))


def crossing_cell(c: Crossing | None) -> Cell:
    """Labels a trained method needs to match a prompt: '180 [60, 420]' (never within the
    budgets tried: '> 1,000'; already at the smallest: '≤ 16')."""
    if c is None:
        return _c("—", "muted")
    interval = interval_text(c.low, c.high, c.smallest, c.largest)
    if c.labels == math.inf:
        text = f"> {c.largest:,}"
        return _c(text if c.low == math.inf else f"{text} {interval}", "muted")
    if c.labels == -math.inf:
        text = f"≤ {c.smallest:,}"
        return _c(text if c.high == -math.inf else f"{text} {interval}")
    return _c(f"{round_labels(c.labels)} {interval}")


def advantage_table(cs: CurveSection) -> Table:
    """Rows: prompted configurations (the labels they use, their accuracy); columns: how many
    labels each trained method needs to match them (their data advantage)."""
    curve = cs.curve
    rows = []
    for ref in curve.references:
        acc = Cell(pct(ref.mean), title=f"95% interval [{pct(ref.low)}, {pct(ref.high)}]")
        if ref.seeds > 1:
            acc.note = f"{ref.seeds} seeds: {pct(ref.seed_min)}–{pct(ref.seed_max)}"
        rows.append(
            [_c(ref.name), _c(f"{ref.labels:,}"), acc]
            + [crossing_cell(curve.crossing(line.name, ref.name)) for line in curve.lines]
        )
    return Table(
        ["prompted", "labels it uses", "accuracy %"]
        + [f"labels {line.name} needs to match it" for line in curve.lines],
        rows,
        [False, True, True] + [True] * len(curve.lines),
    )


def cost_table(data: ReportData) -> Table:
    run_unit = duration_unit([e.cost.hours_per_million for e in data.entries])
    train_unit = duration_unit([e.cost.train_hours for e in data.entries])
    rows = []
    for s in data.sections:
        for e in sorted(s.entries, key=lambda e: e.cost.usd_per_million):
            rows.append(
                [
                    _c(s.task),
                    _c(e.name),
                    _c(num(e.throughput)),
                    _c(e.device),
                    _c(in_unit(e.cost.hours_per_million, run_unit)),
                    _c(usd(e.cost.usd_per_million)),
                    _c(in_unit(e.cost.train_hours, train_unit) if e.train_time_s else "—"),
                    _c(usd(e.cost.train_usd) if e.train_time_s else "—"),
                ]
            )
    rows, starts = grouped(rows)
    return Table(
        [
            "task",
            "experiment",
            "examples/s",
            "device",
            f"time per 1M ({run_unit[0]})",
            "cost per 1M",
            f"training time ({train_unit[0]})",
            "training cost",
        ],
        rows,
        [False, False, True, False, True, True, True, True],
        starts,
    )


def protocol(eval_split: str) -> str:
    """How a number was produced: the evaluation split, or K-fold cross-validation."""
    folds = re.fullmatch(r"cv(\d+)", eval_split)
    return f"{folds.group(1)}-fold CV, every example out of fold" if folds else eval_split


def experiments_table(data: ReportData) -> Table:
    rows = []
    for s in data.sections:
        for e in (run for entry in s.entries for run in entry.runs):
            cfg = e.record.config
            used = e.labels_used
            warn = "; ".join(e.warnings)
            ece = e.record.metrics.ece if e.record.metrics is not None else None
            rows.append(
                [
                    _c(s.task),
                    _c(e.id),
                    _c(e.record.model),
                    _c(e.method),
                    _c(protocol(e.record.eval_split)),
                    _c(e.n),
                    _c("unknown" if used is None else f"{used:,}"),
                    _c(cfg.precision),
                    _c(cfg.seed),
                    _c("—" if ece is None else f"{ece:.3f}", "muted" if ece is None else ""),
                    _c(warn or "—", "bad" if warn else "muted"),
                ]
            )
    rows, starts = grouped(rows)
    return Table(
        [
            "task",
            "id",
            "model",
            "method",
            "eval split",
            "examples",
            "labels used",
            "precision",
            "seed",
            "ECE",
            "warnings",
        ],
        rows,
        [False, False, False, False, False, True, True, False, True, True, False],
        starts,
    )


def md_example(s: TaskSection, ex: HardExample, number: int) -> str:
    """One hard example as a Markdown list item: its text, the truth and every model's answer."""
    texts = [ex.text, ex.text_pair or ""]
    body = "<br>".join(f"**{md_cell(f)}:** {md_cell(t, 400)}" for f, t in zip(s.fields, texts))
    head = f"Gold: **{md_cell(ex.gold)}** · wrong: {ex.n_wrong} of {ex.n_answered}"
    if ex.encoder_answer:
        head += f" · encoders: {md_cell(ex.encoder_answer)} · LLMs: {md_cell(ex.llm_answer)}"
    answers = "; ".join(
        f"{md_cell(a.name)}: {md_cell(a.label)}"
        + (f" ({a.confidence:.2f})" if a.confidence is not None else "")
        + (" ✓" if a.correct else " ✗")
        for a in ex.answers
    )
    return f"{number}. {body}<br>\n   {head}<br>\n   {answers}"


def verdict_details(s: TaskSection) -> list[str]:
    """Plain sentences explaining a task's verdict with the numbers behind it."""
    v = s.verdict
    if v.leader is None:
        return []
    lines = [verdict_line(s) + "."]
    for other in v.beats + v.tied_with:
        c = v.comparison(v.leader, other)
        if isinstance(c, SeededComparison):
            sign = 1 if c.a == v.leader else -1
            low, high = sorted((sign * c.low, sign * c.high))
            seeds = (c.seeds_a, c.seeds_b) if sign == 1 else (c.seeds_b, c.seeds_a)
            verb = "beats" if other in v.beats else "tied with"
            lines.append(
                f"{verb} {s.name_of(other)}: {_points(sign * c.difference)} points "
                f"[{_points(low)}, {_points(high)}] (mean over {seeds[0]} vs {seeds[1]} seeds; "
                f"bootstrap over examples and seeds), {p_phrase(c.p_holm)}"
            )
    for other in v.beats:
        c = v.comparison(v.leader, other)
        if c and not isinstance(c, SeededComparison):
            lines.append(
                f"beats {s.name_of(other)}: right on {max(c.a_only, c.b_only)} examples the other missed vs "
                f"{min(c.a_only, c.b_only)}, {p_phrase(c.p_holm)}"
            )
    for other in v.tied_with:
        c = v.comparison(v.leader, other)
        if c and not isinstance(c, SeededComparison):
            lines.append(
                f"tied with {s.name_of(other)}: {c.a_only} vs {c.b_only} discordant examples, "
                f"{p_phrase(c.p_holm)}"
            )
    for other in v.not_beaten:
        lines.append(f"{s.name_of(other)} is better on the examples both scored")
    for other in v.not_comparable:
        lines.append(f"not compared with {s.name_of(other)} (different examples)")
    return lines


# ---------------------------------------------------------------------------------------------
# challenge payload


def _answer_json(a: Answer) -> dict[str, Any]:
    return {
        "name": a.name,
        "family": a.family,
        "label": a.label,
        "correct": a.correct,
        "confidence": None if a.confidence is None else round(a.confidence, 4),
    }


def balance_note(s: TaskSection, items: list[HardExample]) -> str:
    """What always pressing one key scores on the challenge: the share of its commonest label."""
    if not items:
        return ""
    counts = {label: sum(1 for ex in items if ex.gold == label) for label in s.label_names}
    counts = {k: v for k, v in counts.items() if v}
    top = max(counts.values())
    if len(set(counts.values())) == 1:
        return (
            f"The examples are balanced: {top} of each label, so always pressing one key "
            f"scores {100 * top / len(items):.0f}%."
        )
    return f"Always pressing one key scores at most {100 * top / len(items):.0f}% here."


def challenge_payload(data: ReportData) -> list[dict[str, Any]]:
    """Per task: the challenge examples (balanced by gold label, see
    :func:`bakeoff.report.analysis.challenge_examples`), with every model's answer."""
    chosen = data.options.challenge_tasks
    tasks = []
    for s in data.sections:
        if chosen and s.task not in chosen:
            continue
        items = s.challenge
        if not items:
            continue
        tasks.append(
            {
                "task": s.task,
                "description": s.description,
                "labels": s.label_names,
                "fields": list(s.fields),
                "note": balance_note(s, items),
                "models": [
                    {"name": e.name, "family": e.family, "accuracy": round(e.accuracy, 4), "n": e.n}
                    for e in s.entries
                ],
                "items": [
                    {
                        "idx": ex.idx,
                        "text": ex.text,
                        "text_pair": ex.text_pair,
                        "gold": s.label_names.index(ex.gold) if ex.gold in s.label_names else -1,
                        "why": (
                            f"{ex.n_wrong} of {ex.n_answered} models wrong"
                            + (
                                f"; encoders said {ex.encoder_answer}, LLMs said {ex.llm_answer}"
                                if ex.encoder_answer
                                else ""
                            )
                        ),
                        "answers": [_answer_json(a) for a in ex.answers],
                    }
                    for ex in items
                ],
            }
        )
    return tasks


# ---------------------------------------------------------------------------------------------
# rendering


def environment(autoescape: bool) -> Environment:
    env = Environment(
        loader=PackageLoader("bakeoff.report", "templates"),
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=shown,
    )
    env.filters.update(
        md=md_cell,
        md_table=md_table,
        pct=pct,
        acc_ci=acc_ci,
        usd=usd,
        num=num,
        duration=duration,
        p_value=p_value,
    )
    return env


def context(data: ReportData, figures: list[FigureFiles], out_dir: Path) -> dict[str, Any]:
    as_of = (
        datetime.fromtimestamp(data.as_of, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        if data.as_of
        else "unknown"
    )
    return {
        "data": data,
        "options": data.options,
        "as_of": as_of,
        "n_experiments": len(data.entries),
        "sections": data.sections,
        "figures": {f.key: f for f in figures},
        "confusions": [f for f in figures if f.key.startswith("confusion_")],
        "calibrations": [f for f in figures if f.key.startswith("calibration_")],
        "rel": lambda p: p.relative_to(out_dir).as_posix(),
        "accuracy_table": accuracy_table(data),
        "speed_table": speed_table(data),
        "invalid_table": invalid_table(data),
        "cost_table": cost_table(data),
        "experiments_table": experiments_table(data),
        "comparisons": {s.task: comparisons_table(s) for s in data.sections},
        "curves": [s for s in data.sections if s.curve is not None],
        "curve_tables": {
            s.task: curve_table(s.curve) for s in data.sections if s.curve is not None
        },
        "advantage_tables": {
            s.task: advantage_table(s.curve)
            for s in data.sections
            if s.curve is not None and s.curve.curve.references
        },
        "any_seeded": any(s.seeded for s in data.sections),
        "curve_figures": {s.task: f"curve_{slug(s.task)}" for s in data.sections},
        "replicates": max((s.replicates for s in data.sections), default=0),
        "verdicts": {s.task: verdict_details(s) for s in data.sections},
        "verdict_line": verdict_line,
        "md_example": md_example,
        "tied_names": lambda s: [
            s.name_of(i)
            for i in s.verdict.tied_with + s.verdict.not_beaten + s.verdict.not_comparable
        ],
        "has_challenge": bool(challenge_payload(data)),
    }


def render_markdown(ctx: dict[str, Any]) -> str:
    """report.md: figures are linked from figures/, so the folder travels with it."""
    return environment(False).get_template("report.md.j2").render(**ctx)


def render_html(ctx: dict[str, Any]) -> str:
    """report.html: CSS and figures inlined, so the one file opens anywhere, offline."""
    env = environment(True)
    css = env.loader.get_source(env, "report.css")[0]  # type: ignore[union-attr]
    images = {key: inline_png(f.png) for key, f in ctx["figures"].items()}
    return env.get_template("report.html.j2").render(**ctx, css=Markup(css), images=images)


def render_challenge(data: ReportData) -> str:
    """challenge.html: data as escaped JSON, code allowed to run only by its CSP hash."""
    env = environment(True)
    loader = env.loader
    assert loader is not None
    css = loader.get_source(env, "challenge.css")[0]
    js = loader.get_source(env, "challenge.js")[0]
    return env.get_template("challenge.html.j2").render(
        payload=script_json(challenge_payload(data)),
        css=Markup(css),
        js=Markup(js),
        script_hash=csp_hash(js),
    )
