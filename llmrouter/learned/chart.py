"""The cost-quality chart of an evaluation (``llmrouter eval-router --chart``): mean cost per
prompt against average quality, the learned router's thresholds as a line, single models and
static chains as points. Drawn with matplotlib's object API on the Agg canvas (a PNG file, no
display, no pyplot state)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from .evaluate import PolicyResult, Report

__all__ = ["write_chart"]

# Costs spanning more than this ratio are drawn on a logarithmic axis.
_LOG_RATIO = 20.0
# Threshold points closer than this (display pixels) share one label.
_NEAR_PX = 14.0


def write_chart(report: Report, path: Path, *, dpi: int = 120) -> None:
    """Write ``report``'s chart to ``path`` as a PNG. Raises OSError when it cannot."""
    figure = Figure(figsize=(8.0, 5.5), layout="constrained")
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
        for p in points:
            axes.annotate(
                p.name.split(":", 1)[1] if kind == "single" else p.name,
                (p.mean_cost_usd, p.quality),
                textcoords="offset points",
                xytext=(6, 6),
                fontsize=8,
                color=color,
            )
    costs = [p.mean_cost_usd for p in report.policies if p.mean_cost_usd > 0]
    if costs and max(costs) / min(costs) > _LOG_RATIO:
        axes.set_xscale("log")
        axes.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axes.xaxis.set_minor_formatter(NullFormatter())
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"${value:g}"))
    axes.autoscale_view()
    _label_thresholds(axes, learned)
    axes.set_xlabel("mean cost per prompt (USD)")
    axes.set_ylabel("average quality (score 0-1)")
    axes.set_title(
        f"Routing policies on {report.prompts} prompts: cost and quality "
        f"({report.folds}-fold cross-validation)",
        fontsize=10,
    )
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    figure.savefig(path, format="png", dpi=dpi)


def _label_thresholds(axes: Axes, learned: list[PolicyResult]) -> None:
    """Label each learned point with its threshold; points drawn nearly on top of each other
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
    for group in groups:
        low, high = group[0].threshold or 0.0, group[-1].threshold or 0.0
        axes.annotate(
            f"Q={low:g}" if low == high else f"Q={low:g}-{high:g}",
            (group[0].mean_cost_usd, group[0].quality),
            textcoords="offset points",
            xytext=(5, -11),
            fontsize=7,
            color="tab:blue",
        )
