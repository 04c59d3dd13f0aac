"""``llmrouter eval-router`` as a user runs it: a real process on JSONL files, its numbers
checked from first principles on a set small enough to work out by hand, the learned policy
against the best static chain on the shipped synthetic set, the chart a real PNG, bad rows
named by line and field (exit 2)."""

from __future__ import annotations

import csv
import io
import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = ROOT / "examples/learned/synthetic.jsonl"


def eval_router(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m llmrouter eval-router ARGS`` in ``cwd`` with our environment minus
    LLMROUTER_* (no config found by accident), plus ``env``."""
    child = {k: v for k, v in os.environ.items() if not k.startswith("LLMROUTER_")}
    child |= {"PYTHONPATH": str(ROOT)} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "llmrouter", "eval-router", *args],
        cwd=cwd,
        env=child,
        capture_output=True,
        text=True,
        timeout=120,
    )


def as_json(run: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    data: dict[str, Any] = json.loads(run.stdout)
    return data


def policies(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in report["policies"]}


def write_jsonl(path: Path, rows: list[dict[str, Any]] | list[str]) -> Path:
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows),
        encoding="utf-8",
    )
    return path


# Four prompts x two models, every prompt with the same vector, so that each of the three
# training neighbours of a prompt has similarity 1 (leave-one-out: --folds 4). "a" is cheap,
# "b" ten times dearer. A fifth prompt is graded for "a" only: dropped.
#            a: score cost   b: score cost   category
TINY = [
    ("alpha one", 1.0, 0.001, 1.0, 0.010, "x"),
    ("alpha two", 0.0, 0.001, 1.0, 0.010, "x"),
    ("beta one", 0.5, 0.002, 0.5, 0.020, "y"),
    ("beta two", 1.0, 0.002, 0.5, 0.020, "y"),
]


def tiny_rows(*, costs: bool = True) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for prompt, a, cost_a, b, cost_b, category in TINY:
        for model, score, cost in (("a", a, cost_a), ("b", b, cost_b)):
            row: dict[str, Any] = {"prompt": prompt, "model": model, "score": score}
            row |= {"category": category, "embedding": [1.0, 0.0]}
            if costs:
                row["cost_usd"] = cost
            rows.append(row)
    rows.append({"prompt": "gamma", "model": "a", "score": 1.0, "cost_usd": 0.001})
    rows[-1]["embedding"] = [0.0, 1.0]
    return rows


def test_the_numbers_of_a_tiny_set_from_first_principles(tmp_path: Path) -> None:
    labelled = write_jsonl(tmp_path / "tiny.jsonl", tiny_rows())
    report = as_json(
        eval_router(
            str(labelled),
            "--folds",
            "4",
            "--thresholds",
            "0.4,0.6",
            "--format",
            "json",
            cwd=tmp_path,
        )
    )
    assert (report["prompts"], report["dropped"], report["missing"]) == (4, 1, {"b": 1})
    # Mean cost: a 0.0015, b 0.015 -> cheapest a. Quality: a (1+0+.5+1)/4 = .625,
    # b (1+1+.5+.5)/4 = .75 -> strongest b. The gap is .75 - .625 = .125.
    assert (report["cheapest"], report["strongest"]) == ("a", "b")
    got = policies(report)
    # name: (total cost, mean cost, quality, share to b, gap recovered, cost / b's, calls a, b)
    expected = {
        "cheapest": (0.006, 0.0015, 0.625, 0.0, 0.0, 0.1, 4, 0),
        "single:a": (0.006, 0.0015, 0.625, 0.0, 0.0, 0.1, 4, 0),
        # .75 - .625 over the gap: 1; all of b's cost.
        "single:b": (0.06, 0.015, 0.75, 1.0, 1.0, 1.0, 0, 4),
        # Leave-one-out best model of the prompt's category on the other prompts:
        # alpha one: alpha two has a 0, b 1 -> b (1.0, $.010); alpha two: alpha one has a 1,
        # b 1, equal -> the cheaper a (0.0, $.001); beta one: beta two has a 1, b .5 -> a
        # (.5, $.002); beta two: beta one a .5, b .5 -> a (1.0, $.002). Cost .015, quality
        # 2.5/4 = .625 (gap recovered 0), one call of four to b, .015/.06 = .25 of b's cost.
        "static:per-category": (0.015, 0.00375, 0.625, 0.25, 0.0, 0.25, 3, 1),
        # Predicted quality = (sum of the 3 neighbours' scores x similarity 1 + 2 x the
        # model's mean on the other prompts of the category) / (3 + 2) (shrinkage 2):
        #   alpha one: a (0+.5+1 + 2x0)/5 = .3    b (1+.5+.5 + 2x1)/5 = .8
        #   alpha two: a (1+.5+1 + 2x1)/5 = .9    b (1+.5+.5 + 2x1)/5 = .8
        #   beta one:  a (1+0+1 + 2x1)/5 = .8     b (1+1+.5 + 2x.5)/5 = .7
        #   beta two:  a (1+0+.5 + 2x.5)/5 = .5   b (1+1+.5 + 2x.5)/5 = .7
        # Q=.4, cheapest (a) first when it reaches Q: b, a, a, a -> scores 1, 0, .5, 1 =
        # .625 at .010+.001+.002+.002 = .015 (as the static chain).
        "learned@0.4": (0.015, 0.00375, 0.625, 0.25, 0.0, 0.25, 3, 1),
        # Q=.6: b, a, a, and b for beta two (a's .5 is short of .6) -> scores 1, 0, .5, .5 =
        # .5 at .010+.001+.002+.020 = .033: below the cheapest model, (.5-.625)/.125 = -1.
        "learned@0.6": (0.033, 0.00825, 0.5, 0.5, -1.0, 0.55, 2, 2),
    }
    assert list(got) == list(expected)
    for name, (total, mean, quality, share, gap, versus, calls_a, calls_b) in expected.items():
        p = got[name]
        numbers = (
            p["total_cost_usd"],
            p["mean_cost_usd"],
            p["avg_quality"],
            p["strongest_share"],
            p["gap_recovered"],
            p["cost_vs_strongest"],
        )
        assert numbers == pytest.approx((total, mean, quality, share, gap, versus)), name
        assert p["calls"] == {"a": calls_a, "b": calls_b}, name
    assert got["single:b"]["note"] == "best single"
    assert got["static:per-category"]["note"] == "best static"
    static, single = report["equal_quality"]
    # At the static chain's quality .625, learned@0.4 (.625) costs as much: saving 0 %.
    assert static["baseline"] == "static:per-category"
    assert (static["learned"], static["saving_pct"]) == ("learned@0.4", pytest.approx(0.0))
    assert static["interpolated_cost_usd"] == pytest.approx(0.015)
    # No threshold reaches b's .75.
    assert single["baseline"] == "single:b"
    assert single["learned"] is None
    assert single["interpolated_cost_usd"] is None


def test_the_text_table_says_what_was_dropped_and_the_saving(tmp_path: Path) -> None:
    labelled = write_jsonl(tmp_path / "tiny.jsonl", tiny_rows())
    run = eval_router(str(labelled), "--folds", "4", "--thresholds", "0.4,0.6", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (
        "4 prompts labelled for every model (a, b); 1 prompt dropped, lacking a label of: b 1"
        in run.stdout
    )
    lines = {line.split()[0]: line.split() for line in run.stdout.splitlines() if line.strip()}
    # policy, cost_usd, mean_cost_usd, avg_quality, to_strongest, gap_recovered, vs, calls
    assert lines["learned@0.6"][1:8] == [
        "0.033000",
        "0.00825000",
        "0.5000",
        "50.0%",
        "-100.0%",
        "55.0%",
        "2/2",
    ]
    assert lines["single:b"][-2:] == ["best", "single"]
    assert (
        "versus static:per-category (quality 0.6250, cost $0.015000): learned@0.4 reaches "
        "quality 0.6250 at $0.015000, saving 0.0%" in run.stdout
    )
    assert (
        "versus single:b (quality 0.7500, cost $0.060000): no learned threshold reaches"
        in run.stdout
    )


def test_prices_from_flags_and_from_the_config_with_its_chains(tmp_path: Path) -> None:
    labelled = write_jsonl(tmp_path / "tiny.jsonl", tiny_rows(costs=False)[:-1])
    # Tokens of "alpha one" (9 characters): ceil(9/4) + 4 of framing = 7; "alpha two" 7;
    # "beta one" (8) 2 + 4 = 6; "beta two" 6. With 100 completion tokens, a at $1/$2 per
    # million: 7x1 + 100x2 = 207, 207, 206, 206 -> 826e-6; b at $10/$20: 2070+2070+2060+2060.
    run = eval_router(
        str(labelled),
        "--price",
        "a=1,2",
        "--price",
        "b=10,20",
        "--completion-tokens",
        "100",
        "--folds",
        "4",
        "--format",
        "json",
        cwd=tmp_path,
    )
    got = policies(as_json(run))
    assert got["single:a"]["total_cost_usd"] == pytest.approx(826e-6)
    assert got["single:b"]["total_cost_usd"] == pytest.approx(8260e-6)
    assert "static:config" not in got
    # The router's own price resolution over the config's models; "b" is an alias of "big".
    config = tmp_path / "llmrouter.toml"
    config.write_text(
        """
[router]
default_chain = ["a"]
[[router.providers]]
name = "sim"
kind = "simulated"
[[router.models]]
name = "a"
provider = "sim"
input_price_per_million = 1.0
output_price_per_million = 2.0
[[router.models]]
name = "big"
aliases = ["b"]
provider = "sim"
input_price_per_million = 10.0
output_price_per_million = 20.0
[[router.categories]]
name = "x"
chain = ["big", "a"]
[[router.categories]]
name = "y"
chain = ["a", "big"]
"""
    )
    run = eval_router(
        str(labelled),
        "--config",
        str(config),
        "--completion-tokens",
        "100",
        "--folds",
        "4",
        "--price",
        "b=0,0",
        "--format",
        "json",
        cwd=tmp_path,
    )
    got = policies(as_json(run))
    assert got["single:a"]["total_cost_usd"] == pytest.approx(826e-6)
    assert got["single:b"]["total_cost_usd"] == 0.0  # --price beats the config
    # Chains: x starts with big (= b): alpha one 1.0, alpha two 1.0; y with a: beta one .5,
    # beta two 1.0 -> 3.5/4.
    static = got["static:config"]
    assert static["avg_quality"] == pytest.approx(0.875)
    assert static["calls"] == {"a": 2, "b": 2}
    assert static["total_cost_usd"] == pytest.approx(412e-6)  # a on the two beta prompts


def test_a_chain_starting_with_an_ungraded_model_is_not_reported(tmp_path: Path) -> None:
    labelled = write_jsonl(tmp_path / "tiny.jsonl", tiny_rows()[:-1])
    config = tmp_path / "llmrouter.toml"
    config.write_text(
        '[router]\ndefault_chain = ["other"]\n[[router.providers]]\nname = "sim"\n'
        'kind = "simulated"\n[[router.models]]\nname = "other"\nprovider = "sim"\n'
    )
    run = eval_router(
        str(labelled), "--config", str(config), "--folds", "4", "--format", "json", cwd=tmp_path
    )
    assert "static:config" not in policies(as_json(run))
    assert (
        "static:config not reported: the chain of default_chain starts with 'other'" in run.stderr
    )


def test_the_learned_router_beats_the_best_static_chain_on_the_synthetic_set(
    tmp_path: Path,
) -> None:
    assert SYNTHETIC.stat().st_size < 300_000
    report = as_json(eval_router(str(SYNTHETIC), "--format", "json", cwd=tmp_path))
    assert report["prompts"] == 160
    assert report["dropped"] == 0
    assert (report["cheapest"], report["strongest"]) == ("cheap", "strong")
    got = policies(report)
    best_static = got[report["best_static"]]
    # The static chain per category beats the best single model (categories matter) ...
    assert best_static["avg_quality"] > got["single:strong"]["avg_quality"]
    # ... and a learned threshold matches its quality for less.
    versus_static, versus_single = report["equal_quality"]
    assert versus_static["baseline"] == report["best_static"]
    learned = got[versus_static["learned"]]
    assert learned["avg_quality"] >= best_static["avg_quality"]
    assert learned["total_cost_usd"] < best_static["total_cost_usd"]
    assert versus_static["saving_pct"] > 10
    assert versus_single["saving_pct"] > 40
    # Cheaper models take most calls at the lower thresholds, the strongest the rest.
    assert got["learned@0.7"]["strongest_share"] < 0.5 < best_static["strongest_share"]


def test_the_shipped_set_is_what_its_generator_writes() -> None:
    made = subprocess.run(
        [sys.executable, str(ROOT / "examples/learned/make_synthetic.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert made.stdout == SYNTHETIC.read_text(encoding="utf-8")


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's signature and IHDR chunk (PNG spec, 5.2 and 11.2.2)."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", head
    assert head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_chart_and_report_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = eval_router(
        str(SYNTHETIC),
        "--chart",
        str(tmp_path / "chart.png"),
        "--out",
        str(out),
        "--format",
        "csv",
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    assert [r["policy"] for r in rows][:5] == [
        "cheapest",
        "single:cheap",
        "single:mid",
        "single:strong",
        "static:per-category",
    ]
    assert len(rows) == 5 + 10  # ten thresholds 0.5 .. 0.95
    assert rows[-1]["threshold"] == "0.95"
    assert rows[-1]["kind"] == "learned"
    assert int(rows[0]["calls_cheap"]) == 160
    chart = tmp_path / "chart.png"
    assert png_size(chart) == (960, 660)  # 8 x 5.5 inches at 120 dpi
    assert 20_000 < chart.stat().st_size < 1_000_000
    assert sorted(p.name for p in out.iterdir()) == ["policies.csv", "report.json", "report.txt"]
    assert (out / "policies.csv").read_text() == run.stdout
    assert json.loads((out / "report.json").read_text())["prompts"] == 160
    assert "equal quality:" in (out / "report.txt").read_text()
    # Without --chart, --out holds the chart too.
    again = eval_router(str(SYNTHETIC), "--out", str(tmp_path / "again"), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert png_size(tmp_path / "again/cost_quality.png") == (960, 660)


def test_bad_rows_are_named_by_line_and_field(tmp_path: Path) -> None:
    good = {"prompt": "p", "model": "a", "score": 0.5, "cost_usd": 0.1}
    bad = write_jsonl(
        tmp_path / "bad.jsonl",
        [
            json.dumps(good),
            json.dumps(good | {"score": 1.5}),
            json.dumps({"prompt": "p", "score": 0.5}),
            "{not json",
            "",
            json.dumps(good | {"embedding": ["x"]}),
            json.dumps(good | {"cost_usd": -1}),
            json.dumps(good | {"score": True}),
            json.dumps(["a list"]),
            json.dumps(good | {"category": 3}),
        ],
    )
    run = eval_router(str(bad), cwd=tmp_path)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert run.stdout == ""
    assert run.stderr.splitlines() == [
        f"llmrouter eval-router: {bad}:2: score: expected a number in [0, 1], got 1.5",
        f"llmrouter eval-router: {bad}:3: model: missing",
        f"llmrouter eval-router: {bad}:4: not JSON "
        "(Expecting property name enclosed in double quotes)",
        f"llmrouter eval-router: {bad}:6: embedding: expected a non-empty list of finite numbers",
        f"llmrouter eval-router: {bad}:7: cost_usd: expected a number >= 0, got -1",
        f"llmrouter eval-router: {bad}:8: score: expected a number in [0, 1], got True",
        f"llmrouter eval-router: {bad}:9: not a JSON object",
        f"llmrouter eval-router: {bad}:10: category: expected a string, got int",
    ]


@pytest.mark.parametrize(
    ("rows", "flags", "message"),
    [
        # No cost and no price: named once per model, at its first line.
        (
            [
                {"prompt": "p", "model": "a", "score": 1, "cost_usd": 0.1},
                {"prompt": "p", "model": "b", "score": 1},
            ],
            [],
            "{file}:2: cost_usd: missing, and no price for model 'b' (give --price b=IN,OUT",
        ),
        (
            [
                {"prompt": "p", "model": "a", "score": 1, "cost_usd": 0.1, "embedding": [1, 0]},
                {"prompt": "q", "model": "a", "score": 1, "cost_usd": 0.1, "embedding": [1, 0, 0]},
                {"prompt": "p", "model": "b", "score": 1, "cost_usd": 0.1},
                {"prompt": "q", "model": "b", "score": 1, "cost_usd": 0.1},
            ],
            [],
            "{file}:2: embedding: 3 numbers, but line 1 has 2",
        ),
        (
            [{"prompt": "p", "model": "a", "score": 1, "cost_usd": 0.1}],
            [],
            "{file}: the rows grade 1 model; routing needs two",
        ),
        (
            [
                {"prompt": "p", "model": "a", "score": 1, "cost_usd": 0.1},
                {"prompt": "q", "model": "b", "score": 1, "cost_usd": 0.1},
            ],
            [],
            "{file}: no prompt is labelled for every model (a, b)",
        ),
        (
            [
                {"prompt": "p", "model": "a", "score": 1, "cost_usd": 0.1},
                {"prompt": "p", "model": "b", "score": 1, "cost_usd": 0.1},
            ],
            [],
            "--folds: 5 folds need at least 5 prompts, the set has 1",
        ),
        ([], ["--price", "a=1"], "--price: expected MODEL=IN,OUT (USD per million), got 'a=1'"),
        ([], ["--thresholds", "0.5:x:1"], "--thresholds: expected START:STOP:STEP or a comma"),
        ([], ["--thresholds", "0.5,1.5"], "--thresholds: expected values in [0, 1], got '0.5,1.5'"),
        ([], ["--embeddings-url", "http://127.0.0.1:9/v1"], "--embedding-model: required"),
        ([], ["--embedding-model", "m"], "--embedding-model: only used with --embeddings-url"),
        ([], ["--thresholds", "0.9:0.5:0.1"], "--thresholds: START 0.9 is above STOP 0.5"),
        ([], ["--thresholds", "0.5:0.4:0.05"], "--thresholds: START 0.5 is above STOP 0.4"),
        ([], ["--seed", "-1"], "--seed: expected a whole number >= 0, got -1"),
        ([], ["--k", "0"], "--k: expected a whole number >= 1, got 0"),
        ([], ["--timeout", "0"], "--timeout: expected seconds > 0, got 0"),
        ([], ["--chart", "x.gif"], "--chart: cannot write a .gif chart (x.gif); use one of .png"),
    ],
)
def test_unusable_input_exits_2_saying_why(
    tmp_path: Path, rows: list[dict[str, Any]], flags: list[str], message: str
) -> None:
    labelled = write_jsonl(
        tmp_path / "set.jsonl", rows or [{"prompt": "p", "model": "a", "score": 1}]
    )
    run = eval_router(str(labelled), *flags, cwd=tmp_path)
    assert run.returncode == 2, run.stdout
    assert "Traceback" not in run.stderr
    assert message.format(file=labelled) in run.stderr


def test_a_file_that_is_not_utf8_is_named_by_line(tmp_path: Path) -> None:
    good = json.dumps({"prompt": "p", "model": "a", "score": 0.5, "cost_usd": 0.1})
    labelled = tmp_path / "latin1.jsonl"
    labelled.write_bytes(b"\xff\xfe{}\n" + good.encode() + b"\n" + "caf\xe9".encode("latin-1"))
    run = eval_router(str(labelled), cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        f"llmrouter eval-router: {labelled}:1: not UTF-8 text (byte 0xff at column 1); "
        "save the file as UTF-8",
        f"llmrouter eval-router: {labelled}:3: not UTF-8 text (byte 0xe9 at column 4); "
        "save the file as UTF-8",
    ]


def test_no_request_id_in_the_prompt_log_says_so(tmp_path: Path) -> None:
    scores = write_jsonl(
        tmp_path / "scores.jsonl",
        [{"request_id": f"r{i}", "model": "a", "score": 1.0} for i in range(3)],
    )
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"request_id": "x", "prompt": "p"}])
    run = eval_router(str(scores), "--prompts", str(prompts), cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.splitlines()[-1] == (
        f"llmrouter eval-router: {scores}: 3 rows read, but none matched a prompt in "
        f"{prompts} (by request_id)"
    )


def test_a_reader_that_leaves_early_ends_the_command_quietly(tmp_path: Path) -> None:
    child = {k: v for k, v in os.environ.items() if not k.startswith("LLMROUTER_")}
    child["PYTHONPATH"] = str(ROOT)
    # `llmrouter eval-router ... --format csv | head -1`: the reader is gone before the
    # report is written.
    process = subprocess.Popen(
        [sys.executable, "-m", "llmrouter", "eval-router", str(SYNTHETIC), "--format", "csv"],
        cwd=tmp_path,
        env=child,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141
    assert err == ""


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    run = eval_router("nope.jsonl", cwd=tmp_path)
    assert run.returncode == 2
    assert "nope.jsonl" in run.stderr
    assert "Traceback" not in run.stderr


def test_exported_scores_joined_with_the_prompt_log(tmp_path: Path) -> None:
    # What `llmrouter feedback export` writes (no prompt), and the user's own prompt log: the
    # tiny set's four prompts, each replayed to both models (a request id per call), and one
    # score of an unlogged request.
    log, scores = [], []
    for n, (prompt, a, _, b, _, category) in enumerate(TINY):
        for model, score in (("a", a), ("b", b)):
            request_id = f"req-{n}-{model}"
            log.append({"request_id": request_id, "prompt": prompt, "id": f"p{n}"})
            scores.append(
                {
                    "request_id": request_id,
                    "model": model,
                    "category": category,
                    "score": score,
                    "source": "user",
                    "time": "2026-12-01T00:00:00+00:00",
                }
            )
    scores.append({"request_id": "req-unlogged", "model": "a", "score": 1.0, "source": "user"})
    run = eval_router(
        str(write_jsonl(tmp_path / "scores.jsonl", scores)),
        "--prompts",
        str(write_jsonl(tmp_path / "prompts.jsonl", log)),
        "--price",
        "a=1,2",
        "--price",
        "b=10,20",
        "--folds",
        "4",
        "--format",
        "json",
        cwd=tmp_path,
    )
    report = as_json(run)
    assert "1 row skipped: its request_id is not in" in run.stderr
    assert (report["prompts"], report["dropped"]) == (4, 0)
    got = policies(report)
    assert got["single:a"]["avg_quality"] == pytest.approx(0.625)
    assert got["single:b"]["avg_quality"] == pytest.approx(0.75)
    # Prompt tokens 7, 7, 6, 6 and 256 completion tokens at $1/$2 per million.
    assert got["single:a"]["total_cost_usd"] == pytest.approx((26 + 4 * 512) / 1e6)


def test_feedback_export_says_where_it_could_not_reach(tmp_path: Path) -> None:
    port = free_port()
    child = {k: v for k, v in os.environ.items() if not k.startswith("LLMROUTER_")}
    child["PYTHONPATH"] = str(ROOT)

    def export(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "llmrouter", "feedback", "export", *flags],
            cwd=tmp_path,
            env=child,
            capture_output=True,
            text=True,
            timeout=60,
        )

    down = export("--metrics", f"127.0.0.1:{port}", "--timeout", "5")
    assert down.returncode == 1
    assert down.stdout == ""
    assert down.stderr.startswith(
        f"llmrouter feedback export: cannot reach the metrics service at 127.0.0.1:{port} "
        "(address from --metrics): connection refused; is the stack running?"
    )
    bad = export("--since", "yesterday")
    assert bad.returncode == 2
    assert "llmrouter feedback export: --since: expected a number and a unit" in bad.stderr
    for since in ("99999999d", "3000000w", "99999999999999999999s"):
        far = export("--since", since)
        assert (far.returncode, far.stdout) == (2, ""), far.stderr
        assert far.stderr == (
            f"llmrouter feedback export: --since: {since!r} reaches back before year 1; "
            "give a shorter span\n"
        )
    for source in ("a b", "", "judge:" + "x" * 64):
        wrong = export("--source", source)
        assert wrong.returncode == 2, wrong.stderr
        assert wrong.stderr.startswith("llmrouter feedback export: --source: expected 1 to 64")
