"""Virtual API keys (created at runtime through the router's admin API): the gateway's copy of
their digests, refreshed from the router so that a revocation takes effect within a second.

The router holds the keys in its admin store and answers ``ListApiKeyDigests`` from memory
with the store version; the gateway asks every :data:`REFRESH_INTERVAL_S` with the version it
has, and gets either ``unchanged`` or the whole set (digests of usable secrets with their
key's id, team, role, allowed models and limits). A version older than the copy (a router
replica not yet synced) is ignored. While the router cannot be reached the last set stays in
force, expiry still applies (each digest carries its end), and the failure is logged once (a
router still starting, never reached yet, gets about five seconds first).

A presented key's SHA-256 is looked up in a dict: the digest of a random 256-bit secret, so
the lookup's timing says nothing useful about other keys. Secrets never reach this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc

from gateway.errors import AuthenticationFailed
from llmrouter.v1 import router_admin_service_pb2 as pb

__all__ = ["EXPIRED", "REFRESH_INTERVAL_S", "VirtualKey", "VirtualKeys"]

log = logging.getLogger(__name__)

#: Seconds between two refreshes (a revocation reaches every gateway within this plus a call).
REFRESH_INTERVAL_S = 0.25
#: Seconds one refresh call may take.
_CALL_TIMEOUT_S = 2.0
# Failed refreshes in a row, before any success, that are not yet worth a warning: a gateway
# usually starts before its routers (about 5 s at REFRESH_INTERVAL_S).
_QUIET_FAILURES = 20
EXPIRED = "The API key provided has expired."


@dataclass(frozen=True, slots=True)
class VirtualKey:
    """What one accepted secret grants."""

    api_key_id: str
    team_id: str
    admin: bool
    # Caller.allowed_models entries; empty: everything.
    allowed_models: tuple[str, ...]
    rpm_limit: int | None
    tpm_limit: int | None
    # Epoch seconds after which the secret is refused; None: never.
    expire_s: float | None


class VirtualKeys:
    """The virtual keys a gateway accepts, by digest."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._by_digest: dict[bytes, VirtualKey] = {}
        self._version = 0
        self._failing = False
        self._failures = 0
        self._reached = False

    def __len__(self) -> int:
        return len(self._by_digest)

    @property
    def version(self) -> int:
        """The admin store version of the copy (0: none yet)."""
        return self._version

    def find(self, digest: bytes) -> VirtualKey | None:
        """The key whose secret has SHA-256 ``digest``; None when unknown (or revoked).

        Raises AuthenticationFailed (401) when the secret has expired.
        """
        key = self._by_digest.get(digest)
        if key is None:
            return None
        if key.expire_s is not None and self._clock() >= key.expire_s:
            raise AuthenticationFailed(EXPIRED)
        return key

    def apply(self, response: pb.ListApiKeyDigestsResponse) -> bool:
        """Take the router's answer; True when the copy changed."""
        if response.unchanged or response.version <= self._version:
            return False
        self._by_digest = {entry.sha256: _key(entry) for entry in response.api_keys}
        self._version = response.version
        return True

    async def refresh(self, stub: Any) -> None:
        """Ask the router once (``stub``: a RouterAdminServiceStub); failures are logged once
        and leave the copy as it was."""
        try:
            response = await stub.ListApiKeyDigests(
                pb.ListApiKeyDigestsRequest(known_version=self._version), timeout=_CALL_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as exc:
            self._failures += 1
            if not self._failing and (self._reached or self._failures >= _QUIET_FAILURES):
                self._failing = True
                log.warning(
                    "gateway: cannot refresh virtual keys from the router (%s); keeping the "
                    "last %d",
                    exc.code().name,
                    len(self._by_digest),
                )
            return
        if self._failing:
            log.warning("gateway: virtual keys refreshed from the router again")
        self._failing = False
        self._failures = 0
        self._reached = True
        self.apply(response)

    async def run(self, stub: Callable[[], Any], interval_s: float = REFRESH_INTERVAL_S) -> None:
        """Refresh every ``interval_s`` until cancelled (the first after ``interval_s``)."""
        while True:
            await asyncio.sleep(interval_s)
            with contextlib.suppress(Exception):
                await self.refresh(stub())


def _key(entry: pb.ApiKeyDigest) -> VirtualKey:
    return VirtualKey(
        api_key_id=entry.api_key_id,
        team_id=entry.team_id,
        admin=entry.role == pb.API_KEY_ROLE_ADMIN,
        allowed_models=tuple(entry.allowed_models),
        rpm_limit=entry.rpm_limit if entry.HasField("rpm_limit") else None,
        tpm_limit=entry.tpm_limit if entry.HasField("tpm_limit") else None,
        expire_s=entry.expire_time.ToNanoseconds() / 1e9 if entry.HasField("expire_time") else None,
    )
