"""Keeps the quality estimates current: reads the metrics service's score sums (QueryQuality)
at start and every ``refresh_s``, never on the request path.

The metrics service keeps the sums of the current scores per model x category x source kind
in the transaction that stores each score (a replaced score taken out), so one read is a few
rows however many scores exist, and exact: nothing to replay from ListFeedback, nothing to
remember per score here. While the metrics service does not answer, the last estimates stay
in use; the failure is logged once, and its end once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

from .estimates import QualityEstimates, ScoreSums

__all__ = ["QualityFollower", "ReadSums"]

log = logging.getLogger(__name__)

#: One read of the sums: (model, category) -> ScoreSums (router_svc.translate.quality).
ReadSums = Callable[[], Awaitable[Mapping[tuple[str, str], ScoreSums]]]


class QualityFollower:
    """Refreshes ``estimates`` from ``read`` every ``estimates.config.refresh_s`` seconds."""

    def __init__(self, estimates: QualityEstimates, read: ReadSums) -> None:
        self._estimates = estimates
        self._read = read
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        # Successful reads and failed ones (tests, logs).
        self.reads = 0
        self.failures = 0

    async def refresh(self) -> bool:
        """Read the sums once and update the estimates; False when the read failed."""
        config = self._estimates.config
        try:
            async with asyncio.timeout(config.timeout_s):
                sums = await self._read()
        except Exception as exc:
            self.failures += 1
            if not self._failing:
                self._failing = True
                log.warning(
                    "quality: cannot read feedback sums from the metrics service (%s); "
                    "keeping the last estimates",
                    _why(exc),
                )
            return False
        if self._failing:
            self._failing = False
            log.warning("quality: the metrics service answers again")
        await self._estimates.update(sums)
        self.reads += 1
        return True

    def start(self) -> None:
        """Read now and then every ``refresh_s``, in the background."""
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="llmrouter-quality")

    async def _loop(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self._estimates.config.refresh_s)

    async def stop(self) -> None:
        """Stop the background reads."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def _why(exc: Exception) -> str:
    """A gRPC call's status name (with the key to check when the credential was refused), or
    the exception's type."""
    code = getattr(exc, "code", None)
    if not callable(code):
        return type(exc).__name__
    name = str(getattr(code(), "name", code()))
    if name in ("PERMISSION_DENIED", "UNAUTHENTICATED"):
        return f"{name}: the token of router.metrics_token_env needs the read scope"
    return name
