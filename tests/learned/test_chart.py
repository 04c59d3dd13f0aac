"""The cost-quality chart: labels of policies drawn at one point do not overprint each other,
and the file is written in the format its extension names."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.text import Annotation

from llmrouter.learned.chart import chart_format, draw_chart, write_chart
from llmrouter.learned.evaluate import PolicyResult, Report


def policy(
    name: str, kind: str, cost: float, quality: float, threshold: float | None = None
) -> PolicyResult:
    return PolicyResult(
        name, kind, cost * 10, cost, quality, 0.0, 0.0, 0.0, {"cheap": 10}, threshold=threshold
    )


def report(*policies: PolicyResult) -> Report:
    return Report(
        "set.jsonl", 10, 0, {}, ("cheap", "strong"), "cheap", "strong", "strong", "strong",
        5, 0, "hashing", policies, (),
    )  # fmt: skip


# As reported: the cheapest model and a config chain starting with it sit at one point; the
# learned router's highest thresholds choose as the strongest model does.
SAME_POINT = report(
    policy("cheapest", "cheapest", 0.001, 0.6),
    policy("single:cheap", "single", 0.001, 0.6),
    policy("single:strong", "single", 0.01, 0.9),
    policy("static:config", "static", 0.001, 0.6),
    policy("static:per-category", "static", 0.002, 0.7),
    policy("learned@0.9", "learned", 0.01, 0.9, 0.9),
    policy("learned@0.95", "learned", 0.01, 0.9, 0.95),
    policy("learned@0.5", "learned", 0.001, 0.6, 0.5),
)


def test_labels_at_one_point_do_not_overlap() -> None:
    figure = draw_chart(SAME_POINT)
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    texts = [t for t in figure.axes[0].texts if t.get_text()]
    assert sorted(t.get_text() for t in texts) == [
        "Q=0.5", "Q=0.9-0.95", "cheap", "static:config", "static:per-category",
        "strong",
    ]  # fmt: skip
    boxes = {t.get_text(): t.get_window_extent(renderer) for t in texts}
    for a, box_a in boxes.items():
        for b, box_b in boxes.items():
            if a < b:
                assert not box_a.overlaps(box_b), (a, b)
    # Two labels of one point sit at different offsets from it.
    at_cheap = [t.xyann for t in texts if isinstance(t, Annotation) and t.xy == (0.001, 0.6)]
    assert len(at_cheap) == 3
    assert len(set(at_cheap)) == 3


@pytest.mark.parametrize(
    ("name", "head"),
    [
        ("chart.png", b"\x89PNG\r\n\x1a\n"),
        ("chart", b"\x89PNG\r\n\x1a\n"),
        ("chart.svg", b"<?xml"),
        ("chart.pdf", b"%PDF-"),
        ("chart.JPG", b"\xff\xd8\xff"),
    ],
)
def test_the_chart_is_written_in_its_extensions_format(
    tmp_path: Path, name: str, head: bytes
) -> None:
    write_chart(SAME_POINT, tmp_path / name)
    assert (tmp_path / name).read_bytes().startswith(head)


@pytest.mark.parametrize("name", ["chart.gif", "chart.pgf", "chart.txt"])
def test_an_extension_matplotlib_cannot_write_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match=r"^--chart: cannot write a \.\w+ chart .*\.png, \.svg"):
        chart_format(Path(name))
