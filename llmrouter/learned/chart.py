"""The cost-quality chart of an evaluation (``llmrouter eval-router --chart``): mean cost per
prompt against average quality, the learned router's thresholds as a line, single models and
static chains as points. Drawn with matplotlib's object API on the Agg canvas (no display, no
pyplot state), saved in the format of the file's extension (:func:`chart_format`).

Labels are placed so that none covers another or a marker where one of a few spots around
its point allows: "cheap" and "static:config" at one point are stacked, not overprinted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from .evaluate import PolicyResult, Report

__all__ = ["CHART_FORMATS", "chart_format", "draw_chart", "write_chart"]

# Extensions --chart accepts (those the Agg canvas writes without LaTeX or raw buffers); a
# path without one is written as PNG.
CHART_FORMATS = ("png", "svg", "svgz", "pdf", "eps", "ps", "jpg", "jpeg", "tif", "tiff", "webp")

# Costs spanning more than this ratio are drawn on a logarithmic axis.
_LOG_RATIO = 20.0
# Threshold points closer than this (display pixels) share one label.
_NEAR_PX = 14.0


def chart_format(path: Path) -> str:
    """The format ``path``'s extension names (none: "png"). Raises ValueError naming
    ``--chart`` for an extension matplotlib cannot write here."""
    suffix = path.suffix.lower().lstrip(".")
    if not suffix:
        return "png"
    supported = FigureCanvasAgg.get_supported_filetypes()
    formats = [f for f in CHART_FORMATS if f in supported]
    if suffix not in formats:
        raise ValueError(
            f"--chart: cannot write a .{suffix} chart ({path}); use one of "
            + ", ".join(f".{f}" for f in formats)
        )
    return suffix


def write_chart(report: Report, path: Path, *, dpi: int = 120) -> None:
    """Write ``report``'s chart to ``path`` in the format of its extension. Raises ValueError
    for an extension :func:`chart_format` refuses, OSError when the file cannot be written."""
    form = chart_format(path)
    draw_chart(report, dpi=dpi).savefig(path, format=form, dpi=dpi)


def draw_chart(report: Report, *, dpi: int = 120) -> Figure:
    """``report``'s chart as a figure on the Agg canvas."""
    figure = Figure(figsize=(8.0, 5.5), layout="constrained", dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    learned = sorted(
        (p for p in report.policies if p.kind == "learned"), key=lambda p: p.threshold or 0.0
    )
    if learned:
        axes.plot(
            [p.mean_cost_usd for p in learned],
            [p.quality for p in learned],
            marker="o",
            markersize=4,
            color="tab:blue",
            label="learned router (label: quality threshold Q)",
        )
    labels: list[_Label] = []
    for kind, marker, color, label in (
        ("single", "s", "tab:gray", "single model"),
        ("static", "D", "tab:orange", "static chains"),
    ):
        points = [p for p in report.policies if p.kind == kind]
        if not points:
            continue
        axes.scatter(
            [p.mean_cost_usd for p in points],
            [p.quality for p in points],
            marker=marker,
            color=color,
            s=40,
            zorder=3,
            label=label,
        )
        labels.extend(
            _Label(
                p.name.split(":", 1)[1] if kind == "single" else p.name,
                p.mean_cost_usd,
                p.quality,
                color,
                8.0,
            )
            for p in points
        )
    costs = [p.mean_cost_usd for p in report.policies if p.mean_cost_usd > 0]
    if costs and max(costs) / min(costs) > _LOG_RATIO:
        axes.set_xscale("log")
        axes.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axes.xaxis.set_minor_formatter(NullFormatter())
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"${value:g}"))
    axes.autoscale_view()
    labels.extend(_threshold_labels(axes, learned))
    _place(
        axes,
        labels,
        [(p.mean_cost_usd, p.quality) for p in report.policies if p.kind != "cheapest"],
    )
    axes.set_xlabel("mean cost per prompt (USD)")
    axes.set_ylabel("average quality (score 0-1)")
    axes.set_title(
        f"Routing policies on {report.prompts} prompts: cost and quality "
        f"({report.folds}-fold cross-validation)",
        fontsize=10,
    )
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    return figure


@dataclass(frozen=True, slots=True)
class _Label:
    text: str
    x: float
    y: float
    color: str
    size: float


def _threshold_labels(axes: Axes, learned: list[PolicyResult]) -> list[_Label]:
    """A label of each learned point's threshold; points drawn nearly on top of each other
    (several thresholds choosing alike) share one label, "0.55-0.75"."""
    groups: list[list[PolicyResult]] = []
    for p in learned:
        if groups:
            first = groups[-1][0]
            (x0, y0), (x1, y1) = axes.transData.transform(
                [(first.mean_cost_usd, first.quality), (p.mean_cost_usd, p.quality)]
            )
            if abs(x1 - x0) < _NEAR_PX and abs(y1 - y0) < _NEAR_PX:
                groups[-1].append(p)
                continue
        groups.append([p])
    labels = []
    for group in groups:
        low, high = group[0].threshold or 0.0, group[-1].threshold or 0.0
        text = f"Q={low:g}" if low == high else f"Q={low:g}-{high:g}"
        labels.append(_Label(text, group[0].mean_cost_usd, group[0].quality, "tab:blue", 7.0))
    return labels


# Where a label may go, in points from its point (x < 0: the label ends there), tried in
# order; then further down, one line at a time.
_SPOTS = ((6, 4), (6, -12), (-6, 4), (-6, -12), (6, 14), (-6, 14), (6, -22), (-6, -22))
# Half the side of the square a marker covers, in points.
_MARKER_PT = 4.0


def _place(axes: Axes, labels: Sequence[_Label], points: Sequence[tuple[float, float]]) -> None:
    """Annotate each label at the first spot whose text box (estimated from its length) covers
    neither a label placed before nor a marker."""
    scale = axes.figure.dpi / 72.0  # display pixels per point
    to_px = axes.transData.transform
    markers = (
        [
            (
                x - _MARKER_PT * scale,
                y - _MARKER_PT * scale,
                x + _MARKER_PT * scale,
                y + _MARKER_PT * scale,
            )
            for x, y in to_px(points)
        ]
        if points
        else []
    )
    taken: list[tuple[float, float, float, float]] = []
    for label in labels:
        (x, y) = to_px((label.x, label.y))
        width, height = 0.6 * label.size * len(label.text), label.size
        spots = [*_SPOTS, *((6, -22 - 10 * n) for n in range(1, 20))]
        for dx, dy in spots:
            left = x + (dx if dx > 0 else dx - width) * scale
            box = (left, y + dy * scale, left + width * scale, y + (dy + height) * scale)
            if not any(_overlap(box, other) for other in (*taken, *markers)):
                break
        taken.append(box)
        axes.annotate(
            label.text,
            (label.x, label.y),
            textcoords="offset points",
            xytext=(dx, dy),
            ha="left" if dx > 0 else "right",
            va="bottom",
            fontsize=label.size,
            color=label.color,
        )


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
