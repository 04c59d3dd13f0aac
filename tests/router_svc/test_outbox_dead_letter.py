"""One usage event the outbox cannot turn into a record never blocks the others, and is never
lost (issue 16: "usage records are never lost").

Before: an event with prompt_tokens = 2**63 (an upstream's count passed through) failed its
whole group commit (``ValueError: Value out of range`` building the record) on every flush:
"usage outbox: cannot write 7 records; keeping them in memory" forever, no later record written
or billed, all of them gone at the next restart.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from llmrouter.serving import GrpcServer
from router_svc.prom import RouterMetrics
from router_svc.registry import Registry
from router_svc.usage import UsageEvent, UsageOutbox, to_record

from .conftest import FakeMetrics
from .test_outbox import event

POISONS = [
    pytest.param({"prompt_tokens": 2**63}, id="beyond-int64"),
    pytest.param({"completion_tokens": 10**12 + 1}, id="beyond-the-bound"),
    pytest.param({"reasoning_tokens": -5}, id="negative"),
    pytest.param({"metadata": {"team": "\udc80"}}, id="not-utf8"),
]


@pytest.mark.parametrize("poison", POISONS)
async def test_a_poison_record_is_kept_apart_and_the_others_reach_the_ledger(
    tmp_path: Path,
    fake_metrics: tuple[FakeMetrics, GrpcServer],
    caplog: pytest.LogCaptureFixture,
    poison: dict[str, object],
) -> None:
    metrics, server = fake_metrics
    path = str(tmp_path / "o.sqlite3")
    outbox = UsageOutbox(path, f"127.0.0.1:{server.port}", flush_interval_s=0.01)
    prometheus = RouterMetrics(Registry([], {}), outbox)
    await outbox.start()
    bad = event(3, **poison)
    with caplog.at_level(logging.ERROR):
        for n in range(1, 7):
            outbox.submit(bad if n == 3 else event(n))
        await outbox.durable()  # the answers' barrier: released, every event on file
        await outbox.flush()
    # The good ones are in the ledger; the poison one is kept, logged and counted.
    assert sorted(metrics.records) == [f"req-{n}:1" for n in (1, 2, 4, 5, 6)]
    assert outbox.stats.dead_letters == 1
    assert outbox.stats.not_durable == 0
    assert "usage record req-3:1 cannot be built" in caplog.text
    assert b"llmrouter_outbox_dead_letters_total 1.0" in generate_latest(prometheus.registry)
    # Later records keep flowing.
    outbox.submit(event(7))
    await outbox.flush()
    assert "req-7:1" in metrics.records
    await outbox.close()

    # A restart loses nothing: the dead letter is still in the file, field for field.
    again = UsageOutbox(path, f"127.0.0.1:{server.port}", flush_interval_s=0.01)
    assert again.depth == 0
    assert again.dead_letters() == [bad]
    await again.start()
    await again.close()


def test_the_conversion_refuses_a_count_out_of_range_naming_it() -> None:
    """The record conversion is the gate before storage: a count the ledger must not hold is
    refused (never clamped into a made-up count), with the field named."""
    for name, value in (
        ("prompt_tokens", 2**63),
        ("cache_read_tokens", 10**12 + 1),
        ("completion_tokens", -1),
    ):
        with pytest.raises(ValueError, match=name):
            to_record(event(1, **{name: value}))
    at_the_bound: UsageEvent = event(1, prompt_tokens=10**12, completion_tokens=10**12)
    assert to_record(at_the_bound).total_tokens == 2 * 10**12
