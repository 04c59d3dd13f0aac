"""A time limit for each of a stream's waits, on one timer.

Relaying a stream waits for each upstream event within a limit that moves with every event
(the first token's, then the idle timeout's). ``asyncio.timeout`` around each wait makes, and
cancels, a timer per event: with many streams at once that was a tenth of the router's CPU per
relayed chunk (``bench/streams.py``). :class:`WaitLimit` keeps one timer: moving the limit is
a field written, and the timer, when it goes off before the limit it finds, sets itself again.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

__all__ = ["WaitLimit"]


class WaitLimit:
    """``with limit.within(delay): await ...`` raises TimeoutError when the wait outlasts
    ``delay`` seconds (loop time), as ``async with asyncio.timeout(delay)`` would: the waiting
    task is cancelled, and the cancellation, if it is ours, becomes TimeoutError. Waits may
    come from different tasks, one at a time. :meth:`close` drops the timer."""

    __slots__ = ("_cancelling", "_expiring", "_handle", "_loop", "_set_for", "_task", "_when")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[object] | None = None
        self._when = 0.0  # loop time the current wait must end by; 0: no wait under way
        self._handle: asyncio.TimerHandle | None = None
        self._set_for = 0.0  # when the timer goes off
        self._expiring = False
        self._cancelling = 0

    def within(self, delay: float) -> WaitLimit:
        """This limit for one wait of at most ``delay`` seconds from now (a ``with`` block)."""
        self._when = self._loop.time() + delay
        return self

    def __enter__(self) -> None:
        task = asyncio.current_task()
        assert task is not None, "WaitLimit used outside a task"
        self._task = task
        self._cancelling = task.cancelling()
        if self._handle is None or self._when < self._set_for:
            self._arm()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._when = 0.0
        if self._expiring:
            self._expiring = False
            assert self._task is not None
            if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
                raise TimeoutError from exc

    def close(self) -> None:
        """Drop the timer (the stream is over)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _arm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._set_for = self._when
        self._handle = self._loop.call_at(self._when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        if not self._when:
            return  # between waits: the next one sets the timer again
        if self._loop.time() < self._when:
            self._arm()  # the limit moved on since the timer was set
            return
        assert self._task is not None
        self._expiring = True
        self._task.cancel()
