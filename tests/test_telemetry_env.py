"""Span export settings read from OTEL_BSP_* variables."""

from __future__ import annotations

import logging

import pytest

from llmrouter.telemetry import _positive


def test_batch_size_defaults_and_overrides(caplog: pytest.LogCaptureFixture) -> None:
    name = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"
    assert _positive({}, name, 64) == 64
    assert _positive({name: " 256 "}, name, 64) == 256
    with caplog.at_level(logging.WARNING):
        assert _positive({name: "lots"}, name, 64) == 64
        assert _positive({name: "-3"}, name, 64) == 64
    assert [r.getMessage() for r in caplog.records] == [
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE='lots' is not a positive integer; using 64",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE='-3' is not a positive integer; using 64",
    ]
