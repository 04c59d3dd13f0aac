"""The upstream transport's resolver: names are vetted again at every new connection.

A base URL's host is checked when the URL is set (:func:`router_svc.urls.check_url`), but
aiohttp resolves it again when it opens a connection, and DNS may answer differently by then
(DNS rebinding: a public address for the check, 127.0.0.1 or 169.254.169.254 for the
connection). :class:`VettedResolver` sits between aiohttp and the real resolver and returns
only the addresses :func:`router_svc.urls.address_problem` admits; when none is left it raises
:class:`router_svc.urls.AddressRefused`, which aiohttp reports as a connection failure.

It runs where aiohttp resolves: once per new connection, its answer cached by the connector
for ``ttl_dns_cache`` seconds; pooled connections do not resolve at all. Literal IP addresses
never reach a resolver: they are checked, once and for good, when the URL is set.

Cost (``bench/connect.py``, 2-core box): vetting a two-address answer takes ~3 µs (address
classification is cached); a new connection by name costs ~1.2-2 ms either way (the
``getaddrinfo`` thread hop and TCP), within noise of the unvetted resolver.
"""

from __future__ import annotations

import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from ..urls import AddressPolicy, AddressRefused, Resolve, address_problem

__all__ = ["HookResolver", "VettedResolver", "resolver_for"]


class HookResolver(AbstractResolver):
    """aiohttp's resolver interface over a :data:`router_svc.urls.Resolve` function (the same
    hook the admin check uses, so tests can script what DNS answers)."""

    def __init__(self, resolve: Resolve) -> None:
        self._resolve = resolve

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The hook's addresses for ``host``, as aiohttp's results."""
        results: list[ResolveResult] = []
        for text in await self._resolve(host):
            kind = socket.AF_INET6 if ":" in text else socket.AF_INET
            if family not in (socket.AF_UNSPEC, kind):
                continue
            results.append(
                ResolveResult(
                    hostname=host,
                    host=text,
                    port=port,
                    family=kind,
                    proto=0,
                    flags=socket.AI_NUMERICHOST,
                )
            )
        if not results:
            raise OSError(f"{host!r} has no address")
        return results

    async def close(self) -> None:
        """Nothing to release."""


class VettedResolver(AbstractResolver):
    """Returns the ``underlying`` resolver's answers minus the addresses ``policy`` refuses.

    Raises :class:`router_svc.urls.AddressRefused` when every answer is refused (and lets
    the underlying resolver's ``OSError`` through when the name does not resolve).
    """

    def __init__(self, policy: AddressPolicy, underlying: AbstractResolver) -> None:
        self._allowed = policy.allowed
        self._underlying = underlying

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Vetted addresses for ``host``:``port``."""
        answers = await self._underlying.resolve(host, port, family)
        name = host.rstrip(".")
        kept: list[ResolveResult] = []
        refused: list[str] = []
        for answer in answers:
            problem = address_problem(self._allowed, name, port, answer["host"])
            if problem:
                refused.append(problem)
            else:
                kept.append(answer)
        if not kept:
            raise AddressRefused(
                f"host {name!r} resolved to {', '.join(refused) or 'nothing'}, which the "
                "router does not call unless allowed_private_hosts lists it"
            )
        return kept

    async def close(self) -> None:
        """Close the underlying resolver."""
        await self._underlying.close()


def resolver_for(policy: AddressPolicy) -> VettedResolver:
    """The vetting resolver for ``policy``: over its hook, or the system resolver. Call it
    inside the running event loop (aiohttp's default resolver binds it)."""
    underlying = HookResolver(policy.resolve) if policy.resolve else DefaultResolver()
    return VettedResolver(policy, underlying)
