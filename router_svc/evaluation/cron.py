"""Cron expressions of evaluation schedules, read with croniter (five fields, UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

from croniter import croniter  # type: ignore[import-untyped]  # ships no type information

from llmrouter.config import ConfigError

__all__ = ["check_schedule", "next_run"]


def check_schedule(expression: str) -> None:
    """Raise ConfigError naming ``schedule`` unless ``expression`` is a five-field cron
    expression croniter accepts."""
    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise ConfigError(
            "schedule: expected a cron expression of five fields (minute hour day month "
            f"weekday), e.g. '0 * * * *', got {expression!r}"
        )


def next_run(schedule: str, after: float) -> float:
    """Epoch seconds of the first time after ``after`` that the cron ``schedule`` names
    (UTC)."""
    start = datetime.fromtimestamp(after, UTC)
    return float(croniter(schedule, start).get_next(float))
