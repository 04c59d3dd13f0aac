"""``llmrouter eval-router``'s output: the policy table as text, JSON or CSV, and the files of
``--out`` (report.txt, report.json, policies.csv, cost_quality.png) and ``--chart``."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path
from typing import Any, TextIO

from llmrouter.learned.evaluate import EqualQuality, PolicyResult, Report
from llmrouter.wording import counted

__all__ = ["report_json", "write_csv", "write_outputs", "write_text"]

_COLUMNS = (
    "policy",
    "total_cost_usd",
    "mean_cost_usd",
    "avg_quality",
    "strongest_share",
    "gap_recovered",
    "cost_vs_strongest",
)


def write_outputs(
    report: Report, form: str, out: TextIO, *, chart: str = "", out_dir: str = ""
) -> list[Path]:
    """Print the report to ``out`` in ``form`` (text, json or csv), then write the chart to
    ``chart`` and the report files to ``out_dir`` (created; its chart unless ``chart`` is
    given). Returns the files written. Raises OSError when one cannot be written."""
    {"text": write_text, "json": _write_json, "csv": write_csv}[form](report, out)
    written: list[Path] = []
    if out_dir:
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for name, writer in (
            ("report.txt", write_text),
            ("report.json", _write_json),
            ("policies.csv", write_csv),
        ):
            buffer = io.StringIO()
            writer(report, buffer)
            (folder / name).write_text(buffer.getvalue(), encoding="utf-8")
            written.append(folder / name)
        if not chart:
            chart = str(folder / "cost_quality.png")
    if chart:
        from llmrouter.learned.chart import write_chart

        write_chart(report, Path(chart))
        written.append(Path(chart))
    return written


def _pct(fraction: float) -> str:
    return f"{100 * fraction:.1f}%"


def _calls(report: Report, policy: PolicyResult) -> str:
    return "/".join(str(policy.calls[m]) for m in report.models)


def _table(rows: list[list[str]], out: TextIO) -> None:
    """Aligned columns: the first left, the numbers right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for r, row in enumerate(rows):
        cells = [
            cell.ljust(w) if i == 0 or r == 0 or i == len(row) - 1 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.write("  ".join(cells).rstrip() + "\n")


def write_text(report: Report, out: TextIO) -> None:
    """The report as a reader sees it: the set, the policy table, the equal-quality lines."""
    out.write(
        f"{report.source}: {counted(report.prompts, 'prompt')} labelled for every model "
        f"({', '.join(report.models)})"
    )
    if report.dropped:
        lacking = ", ".join(f"{m} {n}" for m, n in sorted(report.missing.items()))
        out.write(f"; {counted(report.dropped, 'prompt')} dropped, lacking a label of: {lacking}")
    out.write("\n")
    out.write(
        f"cheapest model: {report.cheapest}; strongest (highest average quality): "
        f"{report.strongest}; embeddings: {report.embedder}; learned and static:per-category "
        f"by {report.folds}-fold cross-validation (seed {report.seed})\n\n"
    )
    rows = [
        [
            "policy",
            "cost_usd",
            "mean_cost_usd",
            "avg_quality",
            "to_strongest",
            "gap_recovered",
            "cost_vs_strongest",
            f"calls ({'/'.join(report.models)})",
            "note",
        ]
    ]
    for p in report.policies:
        rows.append(
            [
                p.name,
                f"{p.total_cost_usd:.6f}",
                f"{p.mean_cost_usd:.8f}",
                f"{p.quality:.4f}",
                _pct(p.strongest_share),
                _pct(p.gap_recovered),
                _pct(p.cost_vs_strongest),
                _calls(report, p),
                p.note,
            ]
        )
    _table(rows, out)
    out.write(
        "\ncost_usd: the chosen answers' cost, in all; to_strongest: share of prompts sent to "
        f"{report.strongest}; gap_recovered: (quality - {report.cheapest}'s) / "
        f"({report.strongest}'s - {report.cheapest}'s)\n\nequal quality:\n"
    )
    for eq in report.equal_quality:
        out.write(f"  {_equal_text(eq)}\n")


def _equal_text(eq: EqualQuality) -> str:
    base = (
        f"versus {eq.baseline} (quality {eq.baseline_quality:.4f}, "
        f"cost ${eq.baseline_cost_usd:.6f}): "
    )
    if eq.learned is None or eq.learned_cost_usd is None or eq.learned_quality is None:
        return base + "no learned threshold reaches its quality"
    text = (
        f"{eq.learned} reaches quality {eq.learned_quality:.4f} at ${eq.learned_cost_usd:.6f}, "
        f"saving {eq.saving_pct:.1f}%"
    )
    if eq.interpolated_cost_usd is not None and eq.interpolated_saving_pct is not None:
        text += (
            f"; interpolated between thresholds, ${eq.interpolated_cost_usd:.6f} "
            f"(saving {eq.interpolated_saving_pct:.1f}%)"
        )
    return base + text


def report_json(report: Report) -> dict[str, Any]:
    """The report as JSON values: fractions as fractions, costs in USD."""
    data = dataclasses.asdict(report)
    for policy in data["policies"]:
        policy["avg_quality"] = policy.pop("quality")
    return data


def _write_json(report: Report, out: TextIO) -> None:
    json.dump(report_json(report), out, indent=2)
    out.write("\n")


def write_csv(report: Report, out: TextIO) -> None:
    """One row per policy: the numbers of the table (fractions), its threshold, its calls per
    model (``calls_<model>``) and note."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [*_COLUMNS, "kind", "threshold", *(f"calls_{m}" for m in report.models), "note"]
    )
    for p in report.policies:
        writer.writerow(
            [
                p.name,
                f"{p.total_cost_usd:.9g}",
                f"{p.mean_cost_usd:.9g}",
                f"{p.quality:.6f}",
                f"{p.strongest_share:.6f}",
                f"{p.gap_recovered:.6f}",
                f"{p.cost_vs_strongest:.6f}",
                p.kind,
                "" if p.threshold is None else f"{p.threshold:g}",
                *(p.calls[m] for m in report.models),
                p.note,
            ]
        )
