"""Budget periods: calendar day / week / month in UTC, or a rolling window of seconds.

Spending is counted in buckets (:attr:`Period.step_s` seconds wide, by wall-clock time since
the epoch): calendar periods in minutes, kept per period; a rolling window in 1/60ths of it,
a bucket counting whole while any part of it is in the window (so a rolling budget errs on
the side of refusing, by at most one bucket's spending).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from llmrouter.config import ConfigError

__all__ = ["CALENDAR", "Period", "parse_period"]

CALENDAR = ("day", "week", "month")
_ROLLING = "rolling:"


@dataclass(frozen=True)
class Period:
    """A parsed period: ``kind`` "day", "week", "month" or "rolling" (``seconds`` long)."""

    kind: str
    seconds: int = 0

    @property
    def rolling(self) -> bool:
        """Whether the period is a sliding window rather than a calendar period."""
        return self.kind == "rolling"

    @property
    def step_s(self) -> int:
        """Width of one counting bucket, in seconds."""
        return max(1, math.ceil(self.seconds / 60)) if self.rolling else 60

    def bounds(self, now: float) -> tuple[float, float]:
        """(start, end) in epoch seconds of the period holding ``now``: for a rolling window,
        the start of its oldest counted bucket and ``now``."""
        if self.rolling:
            return self.bucket(now - self.seconds) * self.step_s, now
        # The calendar period of the last call, while it lasts: asked on every attempt.
        known: tuple[float, float] | None = self.__dict__.get("_known")
        if known is not None and known[0] <= now < known[1]:
            return known
        found = self._calendar(now)
        self.__dict__["_known"] = found
        return found

    def _calendar(self, now: float) -> tuple[float, float]:
        at = datetime.fromtimestamp(now, UTC)
        day = at.replace(hour=0, minute=0, second=0, microsecond=0)
        if self.kind == "day":
            start, end = day, day + timedelta(days=1)
        elif self.kind == "week":
            start = day - timedelta(days=day.weekday())
            end = start + timedelta(days=7)
        else:
            start = day.replace(day=1)
            end = (start + timedelta(days=32)).replace(day=1)
        return start.timestamp(), end.timestamp()

    def bucket(self, now: float) -> int:
        """Index of the bucket holding epoch second ``now``."""
        return math.floor(now / self.step_s)

    def tag(self, now: float) -> str:
        """What distinguishes this period's counters from the next's ("r" for rolling)."""
        return "r" if self.rolling else str(int(self.bounds(now)[0]))

    def retry_after(self, now: float) -> float | None:
        """Seconds until the period ends (calendar); None for a rolling window, whose room
        comes back bit by bit."""
        return None if self.rolling else max(self.bounds(now)[1] - now, 1.0)


def parse_period(text: str) -> Period:
    """``text`` as a :class:`Period`; ConfigError naming ``period`` when it is none."""
    if text in CALENDAR:
        return Period(text)
    if text.startswith(_ROLLING):
        seconds = text[len(_ROLLING) :]
        if seconds.isdigit() and 0 < int(seconds) <= 366 * 86400:
            return Period("rolling", int(seconds))
    raise ConfigError(
        f"period: expected day, week, month or rolling:<seconds> (1 to 31622400), got {text!r}"
    )
