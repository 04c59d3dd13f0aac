"""Which provider base URLs the router may call: http(s) to public hosts, or allow-listed ones.

A base URL set at runtime could otherwise point the router, carrying a provider's API key and
the callers' prompts, at a cloud metadata service or an internal host (SSRF). Refused: schemes
other than http and https, user info in the URL, and hosts that are (or, for URLs set through
the admin API, resolve to) loopback, private, site-local, link-local, shared (CGNAT), multicast,
reserved or unspecified addresses (an IPv4 address embedded in IPv6 as mapped, 6to4 or DNS64
``64:ff9b::/96`` is judged as that IPv4 address), as well as ``localhost`` and internal-only
names (``*.internal``, ``*.local``, single-label names), unless ``allowed_private_hosts``
lists the host, its address or a network holding it (an entry may name a port:
``localhost:11434``, ``10.0.0.5:8000``, ``[::1]:8080``, ``10.0.0.0/8:8000`` admit that port
only). Local providers such as Ollama on localhost are allow-listed there.

A name is vetted again each time a connection is opened (:class:`AddressPolicy`, used by the
upstream transport's resolver): a DNS answer that changed since the check (DNS rebinding) to a
refused address makes that connection fail with :class:`AddressRefused`.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = [
    "AddressPolicy",
    "AddressRefused",
    "AllowList",
    "Resolve",
    "Unresolvable",
    "UrlRefused",
    "address_problem",
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


class Unresolvable(UrlRefused):
    """A base URL whose host name does not resolve (now: DNS may be down, or the name wrong)."""


class AddressRefused(OSError):
    """At connect time, a host name resolved only to addresses the router may not call.

    An ``OSError`` so that aiohttp reports it as a connection failure (its
    ``ClientConnectorDNSError`` keeps it as ``os_error``); ``strerror`` says why.
    """

    def __init__(self, message: str) -> None:
        super().__init__(errno.EPERM, message)


@dataclass(frozen=True)
class AllowList:
    """Hosts that may be private: exact names and addresses, and networks, each for any port
    (``None``) or for one port."""

    # (lower-case name or address text, port or None).
    names: frozenset[tuple[str, int | None]] = frozenset()
    # (network, port or None); single addresses are /32 or /128 networks.
    networks: tuple[tuple[IPNetwork, int | None], ...] = ()

    def allows(self, host: str, address: IPAddress | None, port: int | None = None) -> bool:
        """Whether ``host`` (or its ``address``) is allow-listed for ``port`` (an entry with
        a port never admits an unknown port)."""
        host = host.rstrip(".").lower()
        if (host, None) in self.names or (port is not None and (host, port) in self.names):
            return True
        return address is not None and any(
            address.version == net.version and address in net and allowed in (None, port)
            for net, allowed in self.networks
        )


def parse_allow_list(entries: Iterable[str]) -> AllowList:
    """``allowed_private_hosts`` entries as an AllowList; UrlRefused names a bad entry.

    Entries: a name, an address or a network, optionally followed by ``:port`` (IPv6 in
    brackets when a port follows: ``[::1]:8080``).
    """
    names: set[tuple[str, int | None]] = set()
    networks: list[tuple[IPNetwork, int | None]] = []
    for i, raw in enumerate(entries):
        entry, port = _split_port(raw.strip().lower(), f"[{i}]", raw)
        if not entry:
            raise UrlRefused(f"[{i}]: empty entry")
        if "/" in entry:
            try:
                networks.append((ipaddress.ip_network(entry, strict=False), port))
            except ValueError:
                raise UrlRefused(f"[{i}]: not a network: {raw!r}") from None
            continue
        address = _as_address(entry)
        if address is not None:
            networks.append((ipaddress.ip_network(address), port))
        names.add((entry.rstrip("."), port))
    return AllowList(frozenset(names), tuple(networks))


def _split_port(entry: str, where: str, raw: str) -> tuple[str, int | None]:
    """(host part, port or None) of an allow-list entry."""
    if entry.startswith("["):
        host, closed, rest = entry[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise UrlRefused(f"{where}: not a host: {raw!r}")
        return host, _entry_port(rest[1:], where, raw) if rest else None
    if entry.count(":") != 1:  # a name, IPv4, or a bare IPv6 address / network
        return entry, None
    host, _, port = entry.partition(":")
    return host, _entry_port(port, where, raw)


def _entry_port(text: str, where: str, raw: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UrlRefused(f"{where}: not a port: {raw!r}")
    return int(text)


@dataclass(frozen=True)
class AddressPolicy:
    """Where upstream connections may go: what :func:`address_problem` admits, with names
    resolved by ``resolve``. The upstream transport applies it at every new connection."""

    # Private hosts allowed (``allowed_private_hosts``, parsed).
    allowed: AllowList = field(default_factory=AllowList)
    # Host name -> addresses; None uses the system resolver (aiohttp's default).
    resolve: Resolve | None = None


def address_problem(allow: AllowList, host: str, port: int | None, text: str) -> str:
    """Why ``host`` (on ``port``) must not be reached at the address ``text`` ("" when it
    may: allow-listed, or a public unicast address)."""
    address, problem = _classified(text)
    if address is None:
        return f"something that is not an address ({text!r})"
    if allow.allows(host, address, port):
        return ""
    return f"{problem} {address}" if problem else ""


@functools.lru_cache(maxsize=1024)
def _classified(text: str) -> tuple[IPAddress | None, str]:
    """(address, why it is not public) of an address text; cached, since ``ipaddress``'s
    range checks cost ~20 us per address and DNS answers repeat."""
    address = _as_address(text)
    return address, _non_public(address) if address is not None else ""


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
    if allow.allows(host, address, _effective_port(parts.scheme, port)):
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
    """:func:`check_url_static`, then refuse host names that do not resolve
    (:class:`Unresolvable`) or resolve to a non-public address (every address counts: one
    private answer is enough to refuse)."""
    allow = allowed if isinstance(allowed, AllowList) else parse_allow_list(allowed)
    host = check_url_static(url, allow)
    parts = urlsplit(url)
    port = _effective_port(parts.scheme, parts.port)
    if _as_address(host) is not None or allow.allows(host, None, port):
        return
    lookup = resolve or _resolve
    try:
        async with asyncio.timeout(timeout_s):
            addresses = await lookup(host)
    except (OSError, TimeoutError):
        raise Unresolvable(f"host {host!r} does not resolve") from None
    if not addresses:
        raise Unresolvable(f"host {host!r} does not resolve")
    for text in addresses:
        problem = address_problem(allow, host, port, text)
        if problem:
            raise UrlRefused(_refusal(host, f"resolving to {problem}"))


def _effective_port(scheme: str, port: int | None) -> int:
    """The port a URL connects to (its scheme's default when it names none)."""
    if port is not None:
        return port
    return 443 if scheme.lower() == "https" else 80


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
        mapped = address.ipv4_mapped or address.sixtofour or _nat64(address)
        if mapped is not None:
            return mapped
    return address


# RFC 6052's well-known NAT64 prefix: a DNS64 resolver answers 64:ff9b::a.b.c.d for a.b.c.d.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _nat64(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a NAT64 address stands for (its last 32 bits), else None."""
    if address not in _NAT64:
        return None
    return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)


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
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        # fec0::/10, deprecated (RFC 3879) but still routed inside some networks.
        return "site-local"
    if address.is_reserved or not address.is_global:
        return "reserved or shared"
    return ""


def _refusal(host: str, problem: str) -> str:
    return (
        f"host {host!r} is {problem}; the router only calls public hosts unless "
        "allowed_private_hosts lists it"
    )
