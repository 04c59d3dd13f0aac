"""Admin changes pushed to every replica: an announcement on the shared state's pub/sub, and a
periodic version check that heals a missed one.

The replica that made a change publishes ``{"version": N}`` on channel ``admin`` of the
shared state (:mod:`llmrouter.shared_state`: Redis pub/sub when ``state.backend = "redis"``);
every replica hearing a version newer than its own reloads the overlays from the admin store,
within a round trip to each. Pub/sub delivery is at most once (a replica disconnected from
Redis misses it), so every replica also compares the store's version every
``admin_resync_interval_s``. Without Redis (embedded state) replicas sharing a store rely on
that resync alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from llmrouter.shared_state import SharedState, StateUnavailable

from .admin import Admin
from .admin_store import AdminStoreError

__all__ = ["CHANNEL", "AdminSync"]

log = logging.getLogger(__name__)

#: Channel of the shared state the announcements travel on.
CHANNEL = "admin"


class AdminSync:
    """Announce this replica's changes and apply the others' (start with :meth:`start`)."""

    def __init__(self, admin: Admin, state: SharedState, interval_s: float) -> None:
        self._admin = admin
        self._state = state
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._failing = False

    def start(self) -> None:
        """Listen for announcements, resync periodically, and announce ``admin``'s changes."""
        self._admin.announce = self.announce
        self._state.subscribe(CHANNEL, self._heard)
        self._task = asyncio.get_running_loop().create_task(
            self._resync_forever(), name="llmrouter-admin-resync"
        )

    async def announce(self, version: int) -> None:
        """Tell the other replicas that the store reached ``version`` (best effort: a replica
        that does not hear it catches up at its next resync)."""
        try:
            await self._state.publish(CHANNEL, json.dumps({"version": version}).encode())
        except StateUnavailable as exc:
            log.warning("admin: change %d not announced (%s); replicas resync", version, exc)

    def _heard(self, message: bytes) -> None:
        try:
            version = int(json.loads(message)["version"])
        except (ValueError, KeyError, TypeError):
            log.warning("admin: unreadable announcement on %r ignored", CHANNEL)
            return
        if version <= self._admin.version:
            return  # our own change, or one already applied
        task = asyncio.get_running_loop().create_task(self._refresh())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _refresh(self) -> None:
        try:
            await self._admin.refresh()
        except AdminStoreError as exc:
            if not self._failing:
                log.warning("admin: cannot read the admin store (%s); retrying", exc)
            self._failing = True
        else:
            if self._failing:
                log.warning("admin: admin store readable again")
            self._failing = False

    async def _resync_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self._refresh()

    async def stop(self) -> None:
        """Stop resyncing (the shared state's listeners stop when it closes)."""
        self._admin.announce = None
        for task in (self._task, *self._pending):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = None
