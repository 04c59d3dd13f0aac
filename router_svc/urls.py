"""Which provider base URLs the router may call: http(s) to public hosts, or allow-listed ones.

A base URL set at runtime could otherwise point the router, carrying a provider's API key and
the callers' prompts, at a cloud metadata service or an internal host (SSRF). Refused: schemes
other than http and https, user info in the URL, and hosts that are (or, for URLs set through
the admin API, resolve to) loopback, private, link-local, shared (CGNAT), multicast, reserved or
unspecified addresses, as well as ``localhost`` and internal-only names (``*.internal``,
``*.local``, single-label names), unless ``allowed_private_hosts`` lists the host, its address
or a network holding it. Local providers such as Ollama on localhost are allow-listed there.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "AllowList",
    "Resolve",
    "UrlRefused",
    "check_url",
    "check_url_static",
    "parse_allow_list",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# Host name -> the addresses it resolves to.
Resolve = Callable[[str], Awaitable[Sequence[str]]]

_SCHEMES = ("http", "https")
# Names that only ever mean this machine or an internal network.
_INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa", ".lan")
_INTERNAL_NAMES = frozenset({"localhost", "localhost.localdomain", "metadata.google.internal"})
# Old inet_aton spellings of IPv4 addresses (127.1, 0x7f000001, 2130706433) that resolvers
# still honour.
_LEGACY_IPV4 = re.compile(r"(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]+|[0-9]+)){0,3}")
_RESOLVE_TIMEOUT_S = 3.0


class UrlRefused(ValueError):
    """A base URL the router will not call; the message says why."""


@dataclass(frozen=True)
class AllowList:
    """Hosts that may be private: exact names and addresses, and networks."""

    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    def allows(self, host: str, address: IPAddress | None) -> bool:
        """Whether ``host`` (or its ``address``) is allow-listed."""
        if host in self.names:
            return True
        return address is not None and any(
            address.version == net.version and address in net for net in self.networks
        )


def parse_allow_list(entries: Iterable[str]) -> AllowList:
    """``allowed_private_hosts`` entries as an AllowList; UrlRefused names a bad entry."""
    names: set[str] = set()
    networks: list[IPNetwork] = []
    for i, raw in enumerate(entries):
        entry = raw.strip().lower().strip("[]")
        if not entry:
            raise UrlRefused(f"[{i}]: empty entry")
        if "/" in entry:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise UrlRefused(f"[{i}]: not a network: {raw!r}") from None
            continue
        address = _as_address(entry)
        if address is not None:
            networks.append(ipaddress.ip_network(address))
        names.add(entry.rstrip("."))
    return AllowList(frozenset(names), tuple(networks))


def check_url_static(url: str, allowed: Iterable[str] | AllowList = ()) -> str:
    """Refuse ``url`` on its text alone (scheme, user info, literal addresses, internal names).

    Returns the host, for :func:`check_url` to resolve.
    """
    allow = allowed if isinstance(allowed, AllowList) else parse_allow_list(allowed)
    if not isinstance(url, str) or not url.strip():
        raise UrlRefused("a base URL is required")
    if any(c.isspace() or ord(c) < 0x20 for c in url):
        raise UrlRefused("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"not a valid URL ({exc})") from None
    if parts.scheme.lower() not in _SCHEMES:
        raise UrlRefused(f"only http and https URLs are allowed, got {parts.scheme or 'none'!r}")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("must not carry credentials (user:password@); use api_key_env")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UrlRefused("has no host")
    if port == 0:
        raise UrlRefused("port 0 is not a port one can connect to")
    address = _as_address(host)
    if allow.allows(host, address):
        return host
    if address is not None:
        problem = _non_public(address)
        if problem:
            raise UrlRefused(_refusal(host, problem))
        return host
    if host in _INTERNAL_NAMES or host.endswith(_INTERNAL_SUFFIXES):
        raise UrlRefused(_refusal(host, "an internal-only name"))
    if "." not in host:
        raise UrlRefused(_refusal(host, "a single-label (internal) name"))
    return host


async def check_url(
    url: str,
    allowed: Iterable[str] | AllowList = (),
    *,
    resolve: Resolve | None = None,
    timeout_s: float = _RESOLVE_TIMEOUT_S,
) -> None:
    """:func:`check_url_static`, then refuse host names that do not resolve or resolve to a
    non-public address (every address counts: one private answer is enough to refuse)."""
    allow = allowed if isinstance(allowed, AllowList) else parse_allow_list(allowed)
    host = check_url_static(url, allow)
    if _as_address(host) is not None or allow.allows(host, None):
        return
    lookup = resolve or _resolve
    try:
        async with asyncio.timeout(timeout_s):
            addresses = await lookup(host)
    except (OSError, TimeoutError):
        raise UrlRefused(f"host {host!r} does not resolve") from None
    if not addresses:
        raise UrlRefused(f"host {host!r} does not resolve")
    for text in addresses:
        address = _as_address(text)
        if address is None:
            raise UrlRefused(f"host {host!r} resolves to something that is not an address")
        if allow.allows(host, address):
            continue
        problem = _non_public(address)
        if problem:
            raise UrlRefused(_refusal(host, f"resolving to {problem} {address}"))


async def _resolve(host: str) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def _as_address(host: str) -> IPAddress | None:
    """``host`` as an IP address, including legacy IPv4 spellings; None for names."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        if not _LEGACY_IPV4.fullmatch(host):
            return None
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return mapped
    return address


def _non_public(address: IPAddress) -> str:
    """Why ``address`` is not a public unicast address ("" when it is)."""
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local (cloud metadata)"
    if address.is_unspecified:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if address.is_private:
        return "private"
    if address.is_reserved or not address.is_global:
        return "reserved or shared"
    return ""


def _refusal(host: str, problem: str) -> str:
    return (
        f"host {host!r} is {problem}; the router only calls public hosts unless "
        "allowed_private_hosts lists it"
    )
