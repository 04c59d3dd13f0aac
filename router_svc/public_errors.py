"""What a caller reads of an error: the router's failure messages without its provider ids and
upstream addresses.

A provider id ("oai", "azure-eu") and a base URL are deployment details: which vendor, which
account, which internal host serves a model. The messages the adapters build name both
("oai answered HTTP 400: ...", an upstream body quoting its own URL), and they are right to:
logs and spans are the operator's. :class:`PublicErrors` rewrites such a message for the
caller: each known provider id becomes "the upstream", each known base URL "[upstream URL]",
each of their hosts "[upstream host]", and any IP address literal "[address]" (resolved
addresses are no better known to the caller than host names). Nothing else in the text is
touched: no guessing at other names. ``router.expose_provider_in_errors = true`` turns the
rewriting off (a private deployment whose callers are its operators).
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

__all__ = ["PROVIDER_PHRASE", "PublicErrors"]

log = logging.getLogger(__name__)

PROVIDER_PHRASE = "the upstream"
_URL_PHRASE = "[upstream URL]"
_HOST_PHRASE = "[upstream host]"
_ADDRESS_PHRASE = "[address]"

# A URL goes on to the first character that cannot be part of it in running text.
_URL_TAIL = r"[^\s'\"<>()\[\]{},;]*"
# An IPv4 literal (each octet 0-255), not part of a longer dotted or word token (a version
# such as "llama-3.1.8.0" stays), with its port when one follows.
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\w.-])(?:{_OCTET}\.){{3}}{_OCTET}(?::\d{{1,5}})?(?![\w.]*\w)")
# Something shaped like an IPv6 literal (bracketed with a port, or bare); replaced only when
# it parses as one, so "12:30:45" stays.
_IPV6 = re.compile(
    r"(?<![\w:.])(\[)?([0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%\w+)?)(?(1)\](?::\d{1,5})?)"
    r"(?![\w:])"
)


def _ipv6(match: re.Match[str]) -> str:
    try:
        ipaddress.IPv6Address(match.group(2).partition("%")[0])
    except ValueError:
        return match.group(0)
    return _ADDRESS_PHRASE


def _host_port(url: str) -> tuple[str, str]:
    """``url``'s host (as written, brackets kept) and its ``host:port`` ("" when none)."""
    try:
        parts = urlsplit(url if "://" in url else f"//{url}")
    except ValueError:
        return "", ""
    netloc = parts.netloc.rpartition("@")[2]
    host = netloc
    if netloc.startswith("["):
        host = netloc[: netloc.find("]") + 1]
    elif ":" in netloc:
        host = netloc.partition(":")[0]
    return host, netloc if netloc != host else ""


class PublicErrors:
    """Rewrites error messages for callers (see the module's docstring).

    ``providers`` returns the (provider id, base URL) pairs in force; it is read on every
    rewrite, so a base URL changed through the admin RPCs is masked from then on (the pattern
    is rebuilt only when the pairs change). ``expose`` True returns every message unchanged.
    """

    def __init__(
        self, providers: Callable[[], Iterable[tuple[str, str]]], *, expose: bool = False
    ) -> None:
        self._providers = providers
        self.expose = expose
        self._key: tuple[tuple[str, str], ...] | None = None
        self._pattern: re.Pattern[str] | None = None
        self._phrases: dict[str, str] = {}

    def _compiled(self) -> tuple[re.Pattern[str] | None, dict[str, str]]:
        key = tuple(sorted(self._providers()))
        if key != self._key:
            self._pattern, self._phrases = _build(key)
            self._key = key
        return self._pattern, self._phrases

    def text(self, message: str) -> str:
        """``message`` as a caller may read it."""
        if self.expose or not message:
            return message
        pattern, phrases = self._compiled()
        if pattern is not None:
            message = pattern.sub(lambda m: phrases[m.lastgroup or ""], message)
        return _IPV6.sub(_ipv6, _IPV4.sub(_ADDRESS_PHRASE, message))

    def logged(self, message: str, what: str, *args: object) -> str:
        """``message`` as a caller may read it; when that hides something, the whole of it
        goes to the log at WARNING, after ``what % args`` (which should name the request)."""
        public = self.text(message)
        if public != message:
            log.warning(what + ": %s", *args, message)
        return public


def _build(pairs: tuple[tuple[str, str], ...]) -> tuple[re.Pattern[str] | None, dict[str, str]]:
    """One alternation over every URL, host and id of ``pairs``, longest first (a base URL
    before its host, "oai-eu" before "oai"), each a named group whose phrase replaces it."""
    terms: dict[str, str] = {}  # regex -> phrase
    for name, base_url in pairs:
        url = base_url.strip().rstrip("/")
        if "://" in url:
            terms[re.escape(url) + _URL_TAIL] = _URL_PHRASE
        host, host_port = _host_port(url)
        for literal in (host_port, host):
            if literal:
                # Not inside a longer host name ("api.example.com" in "eu.api.example.com").
                terms[rf"(?<![\w.-]){re.escape(literal)}(?![\w-]|\.\w)"] = _HOST_PHRASE
        if name:
            # A whole id only: not "oai" in "oai-gpt", "openrouter/x" or "boaister".
            terms[rf"(?<![\w./-]){re.escape(name)}(?![\w/-])"] = PROVIDER_PHRASE
    if not terms:
        return None, {}
    ordered = sorted(terms, key=len, reverse=True)
    groups = {f"t{i}": terms[regex] for i, regex in enumerate(ordered)}
    alternation = "|".join(f"(?P<t{i}>{regex})" for i, regex in enumerate(ordered))
    return re.compile(alternation), groups
