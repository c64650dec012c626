"""The report's figures: each has a ``*_data`` function (the numbers) and a ``draw_*`` function.

Keeping the numbers apart from matplotlib lets tests check exactly what is plotted without
parsing images, and keeps the drawing code free of logic. Figures are written as PNG (embedded in
report.html) and SVG (for slides and papers), with the Agg backend so no display is needed.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.artist import Artist  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

from bakeoff.methods import get_method_spec  # noqa: E402
from bakeoff.printable import printable  # noqa: E402
from bakeoff.report.analysis import (  # noqa: E402
    CurveSection,
    Entry,
    ReportData,
    TaskSection,
    method_order,
)

#: Okabe-Ito: distinguishable with the common colour-vision deficiencies
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#332288", "#999933"]
FIGURE_DPI = 160
STATUS_COLORS = {
    "": "#ffffff",
    "winner": "#1a7f37",
    "alone": "#8fd19e",
    "leader": "#8fd19e",
    "tied": "#d2f4da",
    "behind": "#eef0f3",
    "n/c": "#fff4d6",
}
STATUS_LABELS = {
    "winner": "winner: significantly better than every other",
    "leader": "most accurate, but tied",
    "tied": "not significantly different from the most accurate",
    "behind": "significantly behind the most accurate",
    "n/c": "not comparable (different examples)",
}
STYLE: dict[RcKeyType, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 9.5,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#57606a",
    "axes.labelcolor": "#24292f",
    "xtick.color": "#57606a",
    "ytick.color": "#57606a",
    "svg.hashsalt": "bakeoff",
    "svg.fonttype": "path",
    # labels and names are the user's text: '$' is a dollar, never mathtext ('$\frac{$' in a
    # label made matplotlib raise)
    "text.parse_math": False,
}


def column_order(entries: Sequence[Entry]) -> list[str]:
    """Experiment names across tasks: encoders first, then zero-shot, then few-shot; by model,
    then by the labels used (a label-budget curve's sizes in increasing order)."""
    seen: dict[str, tuple[int, str, int]] = {}
    for e in entries:
        seen.setdefault(e.name, (method_order(e.method), e.model, e.labels_used or 0))
    return sorted(seen, key=lambda n: (*seen[n], n))


def colors_for(names: Sequence[str]) -> dict[str, str]:
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "task"


#: gid of the marks drawn where an accuracy axis does not start at 0
AXIS_BREAK = "axis-break"


def accuracy_floor(lowest: float) -> float:
    """Where an axis of accuracy points (%) starts: 0, unless everything drawn is above 40%;
    then at a multiple of 10 at least 5 points below the lowest value, and the cut is marked
    (:func:`mark_axis_break`). Bars always start at 0: their length is the value."""
    if not math.isfinite(lowest) or lowest < 40:
        return 0.0
    return float(math.floor((lowest - 5) / 10) * 10)


def mark_axis_break(ax: Axes, floor: float) -> None:
    """Two slashes across the bottom of the y axis when it starts above 0, and the floor named
    in its label, so a cut axis is never read as starting at 0."""
    if floor <= 0:
        return
    d = 0.012
    for y in (0.018, 0.04):
        ax.plot(
            (-d, d),
            (y - d, y + d),
            transform=ax.transAxes,
            color="#24292f",
            linewidth=1.1,
            clip_on=False,
            gid=AXIS_BREAK,
            zorder=5,
        )
    label = ax.get_ylabel()
    cut = f"axis starts at {floor:g}"
    ax.set_ylabel(f"{label[:-1]}; {cut})" if label.endswith(")") else f"{label} ({cut})")


# ---------------------------------------------------------------------------------------------
# scorecard


@dataclass
class ScorecardData:
    tasks: list[str]
    columns: list[str]
    #: per task and column: winner, leader, tied, behind, n/c, alone, or "" (not run)
    status: list[list[str]]
    #: accuracy in percent, None where not run
    accuracy: list[list[float | None]]
    #: one line per task: who wins, or who is tied
    verdicts: list[str]
    #: some configuration was run with several seeds (its pairs use the seed bootstrap)
    seeded: bool = False


def verdict_line(section: TaskSection) -> str:
    v = section.verdict
    if v.leader is None:
        return "no predictions to compare"
    leader = section.name_of(v.leader)
    if v.status == "alone":
        return f"{leader} (only experiment)"
    if v.status == "winner":
        return f"winner: {leader}"
    if v.status == "baseline":
        # the scorecard must not read as a near-win when nothing beats answering one label
        return f"nothing beats the majority-class baseline (most accurate: {leader})"
    tied = [section.name_of(i) for i in v.tied_with + v.not_beaten + v.not_comparable]
    return f"no single winner: {leader} tied with {', '.join(tied)}"


def scorecard_data(data: ReportData) -> ScorecardData:
    columns = column_order(data.entries)
    status, accuracy = [], []
    for s in data.sections:
        v = s.verdict
        row_status = {c: "" for c in columns}
        row_acc: dict[str, float | None] = {c: None for c in columns}
        for e in s.entries:
            row_acc[e.name] = 100 * e.accuracy
            if e.id == v.leader:
                row_status[e.name] = {"winner": "winner", "alone": "alone"}.get(v.status, "leader")
            elif e.id in v.tied_with:
                row_status[e.name] = "tied"
            elif e.id in v.beats:
                row_status[e.name] = "behind"
            else:
                row_status[e.name] = "n/c"
        status.append([row_status[c] for c in columns])
        accuracy.append([row_acc[c] for c in columns])
    return ScorecardData(
        [s.task for s in data.sections],
        columns,
        status,
        accuracy,
        [verdict_line(s) for s in data.sections],
        any(s.seeded for s in data.sections),
    )


def _two_lines(name: str) -> str:
    """'model · method' as two lines, so column labels can stay horizontal; the settings that
    set an experiment apart ('labels 64', 'seed 2') each get a line of their own below."""
    return printable(name).replace(" · ", "\n")


def draw_scorecard(d: ScorecardData) -> Figure:
    codes = list(STATUS_COLORS)
    n_rows, n_cols = len(d.tasks), len(d.columns)
    present = [k for k in STATUS_LABELS if any(k in row for row in d.status)]
    width = min(14.0, max(6.0, 1.2 + 1.45 * n_cols))
    # column labels of more than two lines (model, method, then each setting) need more room
    extra = 0.16 * max([c.count(" · ") - 1 for c in d.columns] + [0])
    height = 1.3 + extra + 0.55 * n_rows + 0.22 * len(present)
    fig = plt.figure(figsize=(width, height))
    legend_h = (0.22 * len(present) + 0.15) / height
    ax = fig.add_axes(
        (
            0.9 / width,
            legend_h + 0.05 / height,
            1 - 1.0 / width,
            1 - legend_h - (1.15 + extra) / height,
        )
    )
    grid = [[codes.index(s) for s in row] for row in d.status]
    cmap = ListedColormap([STATUS_COLORS[c] for c in codes])
    ax.imshow(grid, cmap=cmap, vmin=-0.5, vmax=len(codes) - 0.5, aspect="auto")
    for i in range(n_rows):
        for j in range(n_cols):
            acc, st = d.accuracy[i][j], d.status[i][j]
            if acc is None:
                ax.text(j, i, "—", ha="center", va="center", color="#8c959f")
                continue
            star = "★ " if st == "winner" else ""
            ax.text(
                j,
                i,
                f"{star}{acc:.1f}",
                ha="center",
                va="center",
                fontsize=11,
                fontweight="bold" if st in ("winner", "leader", "alone") else "normal",
                color="white" if st == "winner" else "#24292f",
            )
    ax.set_xticks(range(n_cols), [_two_lines(c) for c in d.columns], fontsize=9)
    ax.set_yticks(range(n_rows), d.tasks, fontweight="bold", fontsize=10)
    ax.xaxis.tick_top()
    ax.set_xticks([x - 0.5 for x in range(1, n_cols)], minor=True)
    ax.set_yticks([y - 0.5 for y in range(1, n_rows)], minor=True)
    ax.tick_params(which="both", length=0)
    ax.grid(which="minor", color="white", linewidth=4)
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.suptitle(
        "Who wins each task: accuracy %, paired McNemar exact tests, Holm-corrected"
        if not d.seeded
        else "Who wins each task: mean accuracy % over seeds, paired tests (McNemar exact; "
        "bootstrap over examples and seeds), Holm-corrected",
        x=0.01,
        ha="left",
        fontweight="bold",
        fontsize=11,
    )
    handles = [
        Patch(facecolor=STATUS_COLORS[k], edgecolor="#d0d7de", label=STATUS_LABELS[k])
        for k in present
    ]
    if handles:
        fig.legend(
            handles=handles,
            loc="lower left",
            frameon=False,
            fontsize=8.5,
            bbox_to_anchor=(0.01, 0.0),
            handlelength=1.6,
        )
    return fig


# ---------------------------------------------------------------------------------------------
# accuracy bars


@dataclass
class BarSeries:
    name: str
    x: list[float]
    #: accuracy in percent, and the distances from it to the interval's ends
    height: list[float]
    err_low: list[float]
    err_high: list[float]
    tasks: list[str]


@dataclass
class BarData:
    tasks: list[str]
    width: float
    series: list[BarSeries]


def accuracy_bars_data(data: ReportData) -> BarData:
    columns = column_order(data.entries)
    widest = max(len(s.entries) for s in data.sections)
    width = 0.8 / widest
    series = {c: BarSeries(c, [], [], [], [], []) for c in columns}
    for i, s in enumerate(data.sections):
        present = [e for c in columns for e in s.entries if e.name == c]
        start = i - width * len(present) / 2
        for j, e in enumerate(present):
            b = series[e.name]
            b.x.append(start + width * (j + 0.5))
            b.height.append(100 * e.accuracy)
            b.err_low.append(100 * (e.accuracy - e.ci_low))
            b.err_high.append(100 * (e.ci_high - e.accuracy))
            b.tasks.append(s.task)
    return BarData([s.task for s in data.sections], width, [b for b in series.values() if b.x])


def draw_accuracy_bars(d: BarData, colors: dict[str, str]) -> Figure:
    fig, ax = plt.subplots(
        figsize=(max(6.5, 1.0 + 1.6 * len(d.tasks) * max(1, len(d.series)) ** 0.5), 4.2)
    )
    for b in d.series:
        ax.bar(
            b.x,
            b.height,
            width=d.width * 0.92,
            color=colors.get(b.name, "#57606a"),
            label=b.name,
            yerr=[b.err_low, b.err_high],
            capsize=3,
            error_kw={"elinewidth": 1, "ecolor": "#24292f"},
        )
    ax.set_xticks(range(len(d.tasks)), d.tasks, fontweight="bold")
    ax.set_ylabel("accuracy (%), 95% interval")
    ax.set_ylim(0, 100)  # a bar's length is its value: never cut
    ax.grid(axis="y", color="#eaeef2")
    ax.set_axisbelow(True)
    ax.set_title("Accuracy by task", loc="left")
    ax.legend(frameon=False, fontsize=8.5, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# accuracy against latency


@dataclass
class TradeoffPoint:
    name: str
    method: str
    latency_ms: float
    p95_ms: float
    accuracy: float
    low: float
    high: float
    on_front: bool


@dataclass
class TradeoffData:
    task: str
    points: list[TradeoffPoint]
    #: the Pareto front (median latency, accuracy), fastest first
    front: list[tuple[float, float]]


def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """True for points no other point beats on both axes (lower latency, higher accuracy)."""
    flags = []
    for i, (lat, acc) in enumerate(points):
        dominated = any(
            (l2 <= lat and a2 >= acc) and (l2 < lat or a2 > acc)
            for j, (l2, a2) in enumerate(points)
            if j != i
        )
        flags.append(not dominated)
    return flags


def tradeoff_data(section: TaskSection) -> TradeoffData:
    raw = [(e.latency_ms("median"), 100 * e.accuracy) for e in section.entries]
    front = pareto_front(raw)
    points = [
        TradeoffPoint(
            e.name,
            e.method,
            e.latency_ms("median"),
            e.latency_ms("p95"),
            100 * e.accuracy,
            100 * e.ci_low,
            100 * e.ci_high,
            f,
        )
        for e, f in zip(section.entries, front)
    ]
    line = sorted((p.latency_ms, p.accuracy) for p in points if p.on_front)
    return TradeoffData(section.task, points, line)


def _label_points(ax: Axes, points: Sequence[TradeoffPoint]) -> None:
    """Name each point, nudging a label down until it overlaps none placed before it.

    Experiments with the same latency (zero- and few-shot of one model) would otherwise print
    their names on top of each other.
    """
    placed: list[tuple[float, float, float, float]] = []  # label boxes, in points
    to_points = 72.0 / ax.figure.dpi
    for p in sorted(points, key=lambda q: -q.accuracy):
        x, y = (v * to_points for v in ax.transData.transform((p.latency_ms, p.accuracy)))
        w, h = 4.7 * len(p.name) + 4, 10.0
        dy = 3.0
        box = (x + 7, y + dy, x + 7 + w, y + dy + h)
        for _ in range(2 * len(points)):
            box = (x + 7, y + dy, x + 7 + w, y + dy + h)
            if not any(
                box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed
            ):
                break
            dy -= h + 1
        placed.append(box)
        ax.annotate(
            p.name,
            (p.latency_ms, p.accuracy),
            textcoords="offset points",
            xytext=(7, dy),
            fontsize=8,
            color="#24292f",
            va="bottom",
        )


def draw_tradeoff(ds: Sequence[TradeoffData], colors: dict[str, str]) -> Figure:
    from matplotlib.lines import Line2D

    n = len(ds)
    cols = 1 if n == 1 else 2
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.4 * cols, 4.0 * rows + 0.6), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, d in zip(axes.flat, ds):
        lats = [p.latency_ms for p in d.points if p.latency_ms > 0] or [1.0]
        x_max = max([p.p95_ms for p in d.points] + lats) * 6
        for p in d.points:
            ax.errorbar(
                [p.latency_ms],
                [p.accuracy],
                yerr=[[p.accuracy - p.low], [p.high - p.accuracy]],
                xerr=[[0], [max(0.0, p.p95_ms - p.latency_ms)]],
                fmt=get_method_spec(p.method).marker,
                color=colors.get(p.name, "#57606a"),
                markersize=8,
                markeredgecolor="#24292f" if p.on_front else "white",
                markeredgewidth=1.4,
                elinewidth=0.9,
                capsize=2,
                zorder=3,
            )
        y_lo = accuracy_floor(min(p.low for p in d.points))
        if d.front:
            # the front as a staircase; everything right of and below it is dominated
            fx = [x for x, _ in d.front] + [x_max]
            fy = [y for _, y in d.front] + [d.front[-1][1]]
            ax.step(fx, fy, where="post", color="#1a7f37", linewidth=1.6, linestyle="--", zorder=2)
            ax.fill_between(
                fx, fy, y_lo, step="post", color="#8c959f", alpha=0.08, zorder=1, linewidth=0
            )
        ax.set_xscale("log")
        ax.set_xlim(min(lats) / 2, x_max)
        # 1-2-5 ticks written as plain numbers ('200', not '2 x 10^2')
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_ylim(y_lo, min(101.0, max(p.high for p in d.points) + 4))
        ax.set_xlabel("latency per example, ms (median, whisker to p95; log scale)")
        ax.set_ylabel("accuracy (%)")
        mark_axis_break(ax, y_lo)
        ax.grid(color="#eaeef2", which="major")
        ax.set_axisbelow(True)
        ax.set_title(d.task, loc="left")
    methods = sorted({p.method for d in ds for p in d.points}, key=method_order)
    handles: list[Artist] = [
        Line2D(
            [],
            [],
            linestyle="",
            marker=get_method_spec(m).marker,
            color="#8c959f",
            markersize=7,
            label=m,
        )
        for m in methods
    ]
    handles += [
        Line2D([], [], color="#1a7f37", linestyle="--", label="Pareto front (outlined points)"),
        Patch(facecolor="#8c959f", alpha=0.15, label="dominated: slower and less accurate"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, fontsize=8.5)
    fig.suptitle(
        "Accuracy against latency: up and to the left is better",
        x=0.01,
        ha="left",
        fontweight="bold",
    )
    fig.tight_layout(rect=(0, 0.6 / (4.0 * rows + 0.6), 1, 0.97))
    for ax, d in zip(axes.flat, ds):  # after layout, so label positions are final
        _label_points(ax, d.points)
    return fig


# ---------------------------------------------------------------------------------------------
# confusion matrices


#: a task with more classes shows only this many in its confusion matrices: a cell per pair of
#: 1,000 classes is a million cells nobody can read (and hours and gigabytes to draw)
MAX_CONFUSION_CLASSES = 20
#: matrices per figure at most (the most accurate experiments); more would not fit the limits below
MAX_CONFUSION_PANELS = 16
#: the figure never grows past this, in inches, whatever the number of classes or experiments
MAX_CONFUSION_WIDTH_IN = 24.0
MAX_CONFUSION_HEIGHT_IN = 40.0
#: tick labels are cut to this many characters, so long class names cannot widen the figure
MAX_TICK_CHARS = 18


@dataclass
class ConfusionData:
    name: str
    #: rows: gold label; columns: predicted label (plus 'other' when only some classes are shown
    #: and 'invalid' when any answer was invalid)
    matrix: list[list[int]]
    row_labels: list[str]
    col_labels: list[str]
    #: classes of the task; more than ``len(row_labels)`` when only the top ones are shown
    n_classes: int = 0
    #: evaluated examples whose gold class is not shown (their rows are left out)
    hidden_examples: int = 0

    def __post_init__(self) -> None:
        self.n_classes = self.n_classes or len(self.row_labels)

    @property
    def capped(self) -> bool:
        return self.n_classes > len(self.row_labels)


def confusion_classes(section: TaskSection, limit: int = MAX_CONFUSION_CLASSES) -> list[int]:
    """The classes a task's confusion matrices show, in label order: every class when there are
    at most ``limit``, else the ``limit`` with the most gold examples plus confusions (examples
    of the class answered wrongly, and wrong answers naming it), summed over the experiments.

    One selection for all of the task's experiments, so their matrices can be compared. Counted
    from the predictions in one pass: nothing here grows with the square of the classes.
    """
    n = len(section.label_names)
    if n <= limit:
        return list(range(n))
    weight = [0] * n
    for e in section.entries:
        for r in e.all_rows:
            if not 0 <= r.gold < n:
                continue
            weight[r.gold] += 1  # support
            if r.pred != r.gold:
                weight[r.gold] += 1  # missed
                if 0 <= r.pred < n:
                    weight[r.pred] += 1  # wrongly named
    top = sorted(range(n), key=lambda c: (-weight[c], c))[:limit]
    return sorted(top)


def _short(label: str) -> str:
    label = printable(label)
    return label if len(label) <= MAX_TICK_CHARS else label[: MAX_TICK_CHARS - 1] + "…"


def confusion_data(section: TaskSection, limit: int = MAX_CONFUSION_CLASSES) -> list[ConfusionData]:
    """Per experiment, counts of (gold, predicted) over the classes of :func:`confusion_classes`.

    When classes are left out, predictions of a left-out class go to an 'other' column, so each
    row still adds up to its class's examples; rows of left-out gold classes are not drawn and
    are counted in ``hidden_examples``.
    """
    labels = section.label_names
    n = len(labels)
    shown = confusion_classes(section, limit)
    position = {c: i for i, c in enumerate(shown)}
    capped = len(shown) < n
    rows_of = [[r for r in e.all_rows if r.gold in position] for e in section.entries]
    with_other = capped and any(
        0 <= r.pred < n and r.pred not in position for rows in rows_of for r in rows
    )
    with_invalid = any(not 0 <= r.pred < n for rows in rows_of for r in rows)
    cols = [labels[c] for c in shown] + (["other"] if with_other else [])
    cols += ["invalid"] if with_invalid else []
    other = len(shown)
    invalid = len(cols) - 1
    out = []
    for e, rows in zip(section.entries, rows_of):
        m = [[0] * len(cols) for _ in shown]
        for r in rows:
            if r.pred in position:
                col = position[r.pred]
            elif 0 <= r.pred < n:
                col = other
            else:
                col = invalid
            m[position[r.gold]][col] += 1
        hidden = sum(1 for r in e.all_rows if 0 <= r.gold < n and r.gold not in position)
        name = f"{e.name} ({len(e.seeds)} seeds, summed)" if e.seeds else e.name
        out.append(ConfusionData(name, m, [labels[c] for c in shown], cols, n, hidden))
    return out


@dataclass
class ConfusionLayout:
    """How the matrices of one task are laid out; every size is bounded by the module limits."""

    #: matrices drawn (the first ones: the most accurate experiments)
    panels: int
    cols: int
    rows: int
    #: inches per cell
    cell: float
    width: float
    height: float


def confusion_layout(ds: Sequence[ConfusionData]) -> ConfusionLayout:
    """Grid and size of the figure: at most 4 matrices a row, never beyond the size limits."""
    n_cols = len(ds[0].col_labels) if ds else 1
    n_rows = len(ds[0].row_labels) if ds else 1
    cell = 0.6 if max(n_cols, n_rows) <= 8 else 0.36
    w = 1.4 + cell * n_cols
    h = 1.3 + cell * n_rows
    top = 0.5 + (0.3 if _confusion_note(ds) else 0.0)  # title (and note) above the matrices
    per_row = max(1, min(4, int((MAX_CONFUSION_WIDTH_IN - 0.4) // w)))
    max_rows = max(1, int((MAX_CONFUSION_HEIGHT_IN - top) // h))
    panels = min(len(ds), per_row * max_rows, MAX_CONFUSION_PANELS)
    cols = max(1, min(panels, per_row))
    rows = max(1, math.ceil(panels / cols))
    return ConfusionLayout(
        panels,
        cols,
        rows,
        cell,
        min(MAX_CONFUSION_WIDTH_IN, w * cols + 0.4),
        min(MAX_CONFUSION_HEIGHT_IN, h * rows + top),
    )


def _confusion_note(ds: Sequence[ConfusionData], panels: int | None = None) -> str:
    """What the figure leaves out, in words ('' when it shows everything)."""
    parts = []
    if ds and ds[0].capped:
        d = ds[0]
        parts.append(
            f"the {len(d.row_labels)} classes with the most examples and confusions, of "
            f"{d.n_classes:,}" + ("; 'other' is any other class" if "other" in d.col_labels else "")
        )
    if panels is not None and panels < len(ds):
        parts.append(f"the {panels} most accurate of {len(ds)} experiments")
    return ("showing " + " and ".join(parts)) if parts else ""


def confusion_note(ds: Sequence[ConfusionData]) -> str:
    """The note the figure and its caption carry when classes or experiments are left out."""
    return _confusion_note(ds, confusion_layout(ds).panels if ds else None)


def draw_confusions(task: str, ds: Sequence[ConfusionData]) -> Figure:
    layout = confusion_layout(ds)
    note = confusion_note(ds)
    fig, axes = plt.subplots(
        layout.rows, layout.cols, figsize=(layout.width, layout.height), squeeze=False
    )
    for ax in axes.flat[layout.panels :]:
        ax.set_visible(False)
    small = layout.cell < 0.6
    for ax, d in zip(axes.flat, ds[: layout.panels]):
        norm = [[v / max(1, sum(row)) for v in row] for row in d.matrix]
        ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        for i, row in enumerate(d.matrix):
            for j, v in enumerate(row):
                if small and v == 0:
                    continue  # many cells: zeros are the white background
                ax.text(
                    j,
                    i,
                    str(v),
                    ha="center",
                    va="center",
                    fontsize=6.5 if small else 9,
                    color="white" if norm[i][j] > 0.55 else "#24292f",
                )
        ax.set_xticks(
            range(len(d.col_labels)),
            [_short(c) for c in d.col_labels],
            rotation=30 if not small else 60,
            ha="right",
            fontsize=7 if small else 8,
        )
        ax.set_yticks(
            range(len(d.row_labels)), [_short(r) for r in d.row_labels], fontsize=7 if small else 8
        )
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("gold", fontsize=8)
        ax.set_title(d.name, fontsize=9, loc="left")
        for spine in ax.spines.values():
            spine.set_visible(False)
    title = f"Confusion matrices: {task}"
    if not note:
        fig.suptitle(title, x=0.01, ha="left", fontweight="bold")
        fig.tight_layout()
        return fig
    # the note goes under the title; the matrices start below both
    fig.suptitle(title, x=0.01, y=1 - 0.1 / layout.height, ha="left", va="top", fontweight="bold")
    fig.text(0.01, 1 - 0.42 / layout.height, note, ha="left", va="top", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.7 / layout.height))
    return fig


# ---------------------------------------------------------------------------------------------
# label-budget curve


@dataclass
class CurveLineData:
    name: str
    method: str
    #: labels used at each size, and accuracy in percent: mean over seeds, seed min and max
    x: list[int]
    mean: list[float]
    low: list[float]
    high: list[float]
    seeds: list[int]


@dataclass
class CurveMarkData:
    """A configuration at one number of labels: a prompt (drawn with its level) or a trained
    method run at one size."""

    name: str
    method: str
    x: int
    mean: float
    low: float
    high: float
    seeds: int
    prompted: bool


@dataclass
class CrossingMarkData:
    line: str
    reference: str
    #: where the line reaches the reference's level, and the 95% interval (finite ends only)
    x: float
    low: float
    high: float
    level: float


@dataclass
class CurveData:
    task: str
    lines: list[CurveLineData]
    marks: list[CurveMarkData]
    baseline: float | None
    crossings: list[CrossingMarkData]
    floor: float


def curve_data(task: str, cs: CurveSection) -> CurveData:
    """The numbers the curve figure draws, in percent (seed ranges, not bootstrap intervals,
    as the bands: they show how much one run can differ from another)."""
    curve = cs.curve
    method_of = {name: group[0].method for name, group in cs.line_entries.items()}
    lines = [
        CurveLineData(
            line.name,
            method_of.get(line.name, ""),
            line.sizes,
            [100 * p.mean for p in line.points],
            [100 * p.seed_min for p in line.points],
            [100 * p.seed_max for p in line.points],
            [p.seeds for p in line.points],
        )
        for line in curve.lines
    ]
    marks = [
        CurveMarkData(
            lv.name,
            method_of.get(lv.name, ""),
            lv.labels,
            100 * lv.mean,
            100 * lv.seed_min,
            100 * lv.seed_max,
            lv.seeds,
            prompted,
        )
        for levels, prompted in ((curve.references, True), (curve.points, False))
        for lv in levels
    ]
    levels = {r.name: 100 * r.mean for r in curve.references}
    crossings = [
        CrossingMarkData(
            c.line,
            c.reference,
            c.labels,
            c.low if math.isfinite(c.low) else c.smallest,
            c.high if math.isfinite(c.high) else c.largest,
            levels[c.reference],
        )
        for c in curve.crossings
        if math.isfinite(c.labels)
    ]
    lowest = min(
        [v for line in lines for v in line.low]
        + [m.low for m in marks]
        + ([100 * curve.baseline] if curve.baseline is not None else [])
    )
    return CurveData(
        task,
        lines,
        marks,
        100 * curve.baseline if curve.baseline is not None else None,
        crossings,
        accuracy_floor(lowest),
    )


def _marker(method: str) -> str:
    try:
        return get_method_spec(method).marker
    except Exception:  # a method no longer registered: still draw its points
        return "o"


def draw_curve(d: CurveData) -> Figure:
    """Accuracy against labelled examples used: trained methods as lines with their seed range,
    prompts at their k (0 for zero-shot) with a dotted level to compare against, the majority
    baseline dashed, and each crossing marked with its 95% interval. The x axis is symlog:
    linear between 0 and 1, so 0 labels has a place, logarithmic beyond."""
    fig, ax = plt.subplots(figsize=(8.6, 4.6))
    names = [line.name for line in d.lines] + [m.name for m in d.marks]
    colors = colors_for(names)
    x_max = max([x for line in d.lines for x in line.x] + [m.x for m in d.marks] + [1]) * 1.6
    for line in d.lines:
        color = colors[line.name]
        if any(s > 1 for s in line.seeds):
            ax.fill_between(line.x, line.low, line.high, color=color, alpha=0.18, linewidth=0)
        seeds = max(line.seeds)
        ax.plot(
            line.x,
            line.mean,
            marker=_marker(line.method),
            color=color,
            linewidth=1.8,
            markersize=6,
            label=line.name + (f" (mean of {seeds} seeds, band: their range)" if seeds > 1 else ""),
            zorder=3,
        )
    for m in d.marks:
        color = colors[m.name]
        ax.errorbar(
            [m.x],
            [m.mean],
            yerr=[[m.mean - m.low], [m.high - m.mean]] if m.seeds > 1 else None,
            fmt=_marker(m.method),
            color=color,
            markersize=8,
            markeredgecolor="white",
            capsize=3,
            label=f"{m.name} ({m.x:,} labels)",
            zorder=4,
        )
        if m.prompted:
            ax.hlines(m.mean, m.x, x_max, colors=color, linestyles=":", linewidth=1.2, zorder=2)
    if d.baseline is not None:
        ax.axhline(
            d.baseline, color="#57606a", linestyle="--", linewidth=1.2, label="majority class"
        )
    for c in d.crossings:
        color = colors.get(c.line, "#24292f")
        ax.hlines(c.level, c.low, c.high, colors=color, linewidth=4, alpha=0.35, zorder=3)
        ax.plot([c.x], [c.level], marker="X", color=color, markeredgecolor="#24292f", zorder=5)
    ax.set_xscale("symlog", linthresh=1, linscale=0.35)
    ax.set_xlim(-0.15, x_max)
    ticks = [0.0] + [10.0**k for k in range(0, int(math.log10(x_max)) + 1)]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    tops = [v for line in d.lines for v in line.high] + [m.high for m in d.marks]
    ax.set_ylim(d.floor, min(100.0, max(tops + [d.baseline or 0.0]) + 5))
    ax.set_xlabel("labelled examples used (0 = zero-shot, few-shot at its k; log scale above 1)")
    ax.set_ylabel("accuracy (%)")
    mark_axis_break(ax, d.floor)
    ax.grid(color="#eaeef2")
    ax.set_axisbelow(True)
    ax.set_title(f"How many labels is a prompt worth? {d.task}", loc="left")
    handles, labels = ax.get_legend_handles_labels()
    if d.crossings:
        from matplotlib.lines import Line2D

        handles.append(
            Line2D([], [], marker="X", color="#8c959f", linestyle="", markeredgecolor="#24292f")
        )
        labels.append("crossing, bar: its 95% interval")
    ax.legend(
        handles, labels, frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0)
    )
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# calibration

#: the reliability diagram draws this many experiments per task, the most accurate first
MAX_CALIBRATION_LINES = 6


@dataclass
class CalibrationLine:
    name: str
    #: per non-empty bin: mean confidence, accuracy (both in %), and how many predictions
    confidence: list[float]
    accuracy: list[float]
    count: list[int]
    ece: float
    n: int


@dataclass
class CalibrationData:
    task: str
    lines: list[CalibrationLine]
    #: experiments with no probabilities (generation scoring) or beyond the cap
    left_out: list[str]


def calibration_data(section: TaskSection) -> CalibrationData:
    """Reliability bins per experiment (seed groups pooled over their seeds) from the stored
    per-label probabilities: 15 equal-width bins on the top-class probability, as the ECE."""
    from bakeoff.metrics import ece_from_bins, reliability_data

    lines: list[CalibrationLine] = []
    left_out: list[str] = []
    for e in section.entries:  # most accurate first
        bins = [b for b in reliability_data(e.all_rows) if b.count]
        if not bins or len(lines) >= MAX_CALIBRATION_LINES:
            left_out.append(e.name)
            continue
        lines.append(
            CalibrationLine(
                e.name,
                [100 * b.confidence for b in bins],  # type: ignore[operator]
                [100 * b.accuracy for b in bins],  # type: ignore[operator]
                [b.count for b in bins],
                ece_from_bins(bins) or 0.0,
                sum(b.count for b in bins),
            )
        )
    return CalibrationData(section.task, lines, left_out)


def calibration_note(d: CalibrationData) -> str:
    return (
        f"not drawn: {', '.join(d.left_out)} (no probabilities, or beyond {MAX_CALIBRATION_LINES})"
        if d.left_out
        else ""
    )


def draw_calibration(d: CalibrationData) -> Figure:
    """Reliability diagram: accuracy against mean confidence per confidence bin, one line per
    experiment (marker area by the bin's share of predictions), the diagonal as perfect
    calibration. Below the diagonal is overconfident, above it underconfident."""
    fig, ax = plt.subplots(figsize=(7.6, 4.6))
    colors = colors_for([line.name for line in d.lines])
    ax.plot([0, 100], [0, 100], color="#8c959f", linestyle="--", linewidth=1, label="calibrated")
    for line in d.lines:
        color = colors[line.name]
        sizes = [12 + 220 * c / max(1, line.n) for c in line.count]
        ax.plot(line.confidence, line.accuracy, color=color, linewidth=1.4, zorder=3)
        ax.scatter(
            line.confidence,
            line.accuracy,
            s=sizes,
            color=color,
            edgecolors="white",
            linewidths=0.6,
            zorder=4,
            label=f"{line.name} (ECE {line.ece:.3f})",
        )
    low = min([c for line in d.lines for c in line.confidence] + [50.0])
    start = 0.0 if low < 40 else 10 * math.floor(low / 10)
    ax.set_xlim(start, 101)
    ax.set_ylim(0, 101)
    ax.set_xlabel("confidence: the top label's probability (%), mean per bin")
    ax.set_ylabel("accuracy in the bin (%)")
    ax.grid(color="#eaeef2")
    ax.set_axisbelow(True)
    ax.set_title(f"Calibration: {d.task}", loc="left")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    note = calibration_note(d)
    if note:
        fig.text(0.01, 0.005, note, fontsize=7.5, color="#57606a", ha="left", va="bottom")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# writing


@dataclass
class FigureFiles:
    key: str
    title: str
    png: Path
    svg: Path
    #: what the figure leaves out, to show as its caption ('' when it shows everything)
    note: str = ""


def _printable_texts(fig: Figure) -> None:
    """Control characters from the data (labels, names) shown as escapes, never drawn raw:
    they have no glyph, and the SVG keeps each text in a comment where they make invalid XML.
    Tick labels are drawn again from their formatter: those from the data are made printable
    where they are set (:func:`_short`, :func:`_two_lines`)."""
    for text in fig.findobj(Text):
        text.set_text(printable(text.get_text(), keep_newlines=True))


def save(fig: Figure, folder: Path, stem: str) -> tuple[Path, Path]:
    """PNG at 2x for sharp screens, SVG with fixed ids and no date so reruns are byte-identical."""
    folder.mkdir(parents=True, exist_ok=True)
    png, svg = folder / f"{stem}.png", folder / f"{stem}.svg"
    _printable_texts(fig)
    fig.savefig(png, dpi=FIGURE_DPI, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(svg, bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return png, svg


def write_figures(data: ReportData, folder: Path) -> list[FigureFiles]:
    """Draw and save every figure; the returned list is in report order."""
    out = []
    with plt.rc_context(STYLE), warnings.catch_warnings():
        # a control character has no glyph; save() shows it escaped, so the warning (which
        # would print the raw character on the terminal) says nothing useful
        warnings.filterwarnings("ignore", message=r"Glyph \d+ \([\x00-\x1f\x7f-\x9f]")
        colors = colors_for(column_order(data.entries))
        out.append(
            FigureFiles(
                "scorecard",
                "Scorecard",
                *save(draw_scorecard(scorecard_data(data)), folder, "scorecard"),
            )
        )
        out.append(
            FigureFiles(
                "accuracy",
                "Accuracy with 95% intervals",
                *save(draw_accuracy_bars(accuracy_bars_data(data), colors), folder, "accuracy"),
            )
        )
        tradeoffs = [tradeoff_data(s) for s in data.sections]
        out.append(
            FigureFiles(
                "accuracy_latency",
                "Accuracy against latency",
                *save(draw_tradeoff(tradeoffs, colors), folder, "accuracy_latency"),
            )
        )
        for s in data.sections:
            if s.curve is None:
                continue
            stem = f"curve_{slug(s.task)}"
            out.append(
                FigureFiles(
                    stem,
                    f"Label-budget curve: {s.task}",
                    *save(draw_curve(curve_data(s.task, s.curve)), folder, stem),
                )
            )
        for s in data.sections:
            stem = f"confusion_{slug(s.task)}"
            matrices = confusion_data(s)
            note = confusion_note(matrices)
            out.append(
                FigureFiles(
                    stem,
                    f"Confusion matrices: {s.task}" + (f" ({note})" if note else ""),
                    *save(draw_confusions(s.task, matrices), folder, stem),
                    note=note,
                )
            )
        for s in data.sections:
            calibration = calibration_data(s)
            if not calibration.lines:
                continue
            stem = f"calibration_{slug(s.task)}"
            out.append(
                FigureFiles(
                    stem,
                    f"Calibration: {s.task}",
                    *save(draw_calibration(calibration), folder, stem),
                    note=calibration_note(calibration),
                )
            )
    return out
