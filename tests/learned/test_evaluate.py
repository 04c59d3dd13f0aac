"""The harness's arithmetic where the CLI tests do not reach it: folds, the quality gap when
there is none, the cost at equal quality between thresholds, the prompt-log join."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from llmrouter.cli.eval_router import parse_thresholds
from llmrouter.learned.evaluate import PolicyResult, _equal_quality, evaluate, fold_of
from llmrouter.learned.labelled import LabelledSetError, labelled_set, read_prompts, read_rows


def test_folds_are_seeded_and_balanced() -> None:
    folds = fold_of(23, 5, seed=7)
    assert np.array_equal(folds, fold_of(23, 5, seed=7))
    assert not np.array_equal(folds, fold_of(23, 5, seed=8))
    assert sorted(np.bincount(folds).tolist()) == [4, 4, 5, 5, 5]


def test_with_no_gap_a_policy_as_good_as_the_strongest_recovers_all_of_it(tmp_path: Path) -> None:
    # Both models score 1 on p and q, 0 on r and s: the cheapest (a) is also the strongest.
    rows = [
        {"prompt": p, "model": m, "score": s, "cost_usd": c}
        for p, s in (("p", 1.0), ("q", 1.0), ("r", 0.0), ("s", 0.0))
        for m, c in (("a", 1.0), ("b", 2.0))
    ]
    path = tmp_path / "flat.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = labelled_set(read_rows(path).rows, lambda m, p: None)
    vectors = np.eye(4, dtype=np.float32)
    report = evaluate(data, vectors, folds=2, thresholds=(0.5,))
    assert (report.cheapest, report.strongest) == ("a", "a")
    assert {p.name: p.gap_recovered for p in report.policies} == {
        "cheapest": 1.0,
        "single:a": 1.0,
        "single:b": 1.0,
        "static:per-category": 1.0,
        "learned@0.5": 1.0,
    }


def policy(name: str, cost: float, quality: float) -> PolicyResult:
    return PolicyResult(name, "learned", cost, cost, quality, 0.0, 0.0, 0.0, {})


def test_the_cost_at_a_baseline_quality_mixes_two_thresholds() -> None:
    baseline = PolicyResult("static", "static", 10.0, 10.0, 0.8, 0.0, 0.0, 0.0, {})
    learned = [policy("l@0.5", 2.0, 0.6), policy("l@0.7", 4.0, 0.7), policy("l@0.9", 6.0, 0.9)]
    found = _equal_quality(baseline, learned)
    # The cheapest threshold reaching .8 is l@0.9: 6 instead of 10, 40 % saved.
    assert (found.learned, found.learned_cost_usd, found.learned_quality) == ("l@0.9", 6.0, 0.9)
    assert found.saving_pct == pytest.approx(40.0)
    # Mixes reaching .8: l@0.7 and l@0.9 half and half: 5; l@0.5 a third and l@0.9 two
    # thirds: 2/3 + 4 = 4.667, the cheaper: 53.3 % saved.
    assert found.interpolated_cost_usd == pytest.approx(2.0 / 3 + 4.0)
    assert found.interpolated_saving_pct == pytest.approx(100 * (1 - (2.0 / 3 + 4.0) / 10))
    none = _equal_quality(baseline, learned[:2])
    assert (none.learned, none.saving_pct, none.interpolated_cost_usd) == (None, None, None)


def test_thresholds_as_a_range_or_a_list() -> None:
    assert parse_thresholds("0.5:0.95:0.05") == tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
    assert parse_thresholds("0.9,0.5,0.9") == (0.5, 0.9)
    for bad in ("0.5:1:0", "x", "1.5", ""):
        with pytest.raises(ValueError, match="--thresholds"):
            parse_thresholds(bad)


def test_rows_by_request_id_take_their_prompt_from_the_log(tmp_path: Path) -> None:
    log = tmp_path / "prompts.jsonl"
    log.write_text(
        json.dumps({"request_id": "r1", "prompt": "hello", "id": "p1"})
        + "\n"
        + json.dumps({"request_id": "r2", "prompt": "hello again"})
        + "\n"
    )
    scores = tmp_path / "scores.jsonl"
    scores.write_text(
        "".join(
            json.dumps({"request_id": r, "model": "a", "score": 1.0, "source": "user"}) + "\n"
            for r in ("r1", "r2", "r3")
        )
    )
    read = read_rows(scores, read_prompts(log))
    assert read.unmatched == 1
    assert [(r.prompt_id, r.prompt, r.line) for r in read.rows] == [
        ("p1", "hello", 1),
        ("hello again", "hello again", 2),
    ]
    with pytest.raises(LabelledSetError, match=r"scores.jsonl:1: prompt: missing"):
        read_rows(scores)  # no log: a row needs its prompt
    log.write_text(
        json.dumps({"request_id": "r1", "prompt": "x"}) + "\n" + json.dumps({"request_id": "r1"})
    )
    with pytest.raises(LabelledSetError, match=r"prompts.jsonl:2: prompt: expected a non-empty"):
        read_prompts(log)
