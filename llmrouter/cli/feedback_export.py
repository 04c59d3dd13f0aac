"""``llmrouter feedback export``: the stored scores of answers (users' feedback, evaluation
judges' grades) as JSONL, one object per score, for ``llmrouter eval-router``::

    {"request_id": "...", "model": "mid", "category": "code", "score": 0.75,
     "source": "user", "time": "2026-12-01T06:15:49.123456+00:00"}

Read from the metrics service's ``ListFeedback`` (paged by its sequence cursor), reached as
``llmrouter costs`` reaches it (:func:`llmrouter.cli.costs.metrics_target`: the config's
address, TLS and read token; ``--metrics`` and ``--token-env`` override). The ledger holds no
prompt: join the lines with your own prompt log by ``request_id`` (``eval-router --prompts``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from collections.abc import AsyncIterator, Sequence
from typing import TextIO

import grpc

from llmrouter.config import ConfigError
from llmrouter.request_ids import FEEDBACK_SOURCE_PATTERN
from llmrouter.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from llmrouter.wording import counted

from .costs import MetricsTarget, _failure, metrics_target, since_time

__all__ = ["run"]

_PROG = "llmrouter feedback export"
# ListFeedback's largest page.
_PAGE = 5000


def _wanted(source: str, sources: Sequence[str]) -> bool:
    if not sources:
        return True
    return any(source.startswith(s) if s.endswith(":") else source == s for s in sources)


async def _pages(
    target: MetricsTarget, timeout_s: float
) -> AsyncIterator[metrics_service_pb2.Feedback]:
    async with target.open(target.address) as channel:
        stub = metrics_service_pb2_grpc.MetricsServiceStub(channel)
        cursor = 0
        while True:
            page: metrics_service_pb2.ListFeedbackResponse = await stub.ListFeedback(
                metrics_service_pb2.ListFeedbackRequest(after_sequence=cursor, page_size=_PAGE),
                timeout=timeout_s,
            )
            for item in page.feedback:
                yield item
            if not page.feedback or page.last_sequence <= cursor:
                return
            cursor = page.last_sequence


async def _export(
    target: MetricsTarget,
    out: TextIO,
    since: dt.datetime | None,
    sources: Sequence[str],
    timeout_s: float,
) -> int:
    written = 0
    async for item in _pages(target, timeout_s):
        time = item.time.ToDatetime(dt.UTC)
        if (since is not None and time < since) or not _wanted(item.source, sources):
            continue
        row = {
            "request_id": item.request_id,
            "model": item.model,
            "category": item.category,
            "score": item.score,
            "source": item.source,
            "time": time.isoformat(),
        }
        out.write(json.dumps(row) + "\n")
        written += 1
    return written


def run(args: argparse.Namespace) -> int:
    """Write the export to stdout; returns the exit status (2: bad flags or config, 1: the
    service could not be reached or refused)."""
    try:
        since = since_time(args.since, dt.datetime.now(dt.UTC)) if args.since else None
        for source in args.source:
            if not FEEDBACK_SOURCE_PATTERN.fullmatch(source):
                raise ValueError(
                    f"--source: expected 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', ':' "
                    f"and '-' (as scores are stored: user, judge:<model>, judge:), got {source!r}"
                )
        target = metrics_target(args.config, args.metrics or "", args.token_env)
    except (ValueError, ConfigError) as exc:
        print(f"{_PROG}: {exc}", file=sys.stderr)
        return 2
    try:
        written = asyncio.run(_export(target, sys.stdout, since, args.source, args.timeout))
    except grpc.aio.AioRpcError as exc:
        for line in _failure(exc, target, args.timeout):
            print(f"{_PROG}: {line}", file=sys.stderr)
        return 1
    print(f"{_PROG}: {counted(written, 'score')}", file=sys.stderr)
    return 0
