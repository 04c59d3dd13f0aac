"""What of an upstream's error message may reach callers, logs, spans and the ledger.

Upstream error bodies are written by someone else and sometimes quote what we sent: the
``Authorization`` header, the ``x-api-key``, the prompt. :func:`upstream_message` is the one
place where such a message becomes part of one of our errors; every adapter (HTTP error bodies
and in-stream error events alike) goes through it. It runs on the error path only.

Removed, each replaced by ``[redacted]``:

* every credential the router sent to that upstream (:class:`Credentials`, built from the
  client's fixed headers), exactly and as it reads URL-encoded or JSON-escaped;
* key-shaped strings whoever they belong to: ``Bearer <token>``, ``sk-…`` (OpenAI, Anthropic,
  OpenRouter), ``AIza…`` (Google), ``xai-``/``gsk_``/``hf_``/``ghp_``-style prefixed tokens,
  AWS access key ids, JWTs, and the values of ``api_key=``/``x-api-key:``-style pairs;
* runs of 16 or more characters quoted from the request's content (prompts never leave the
  process unless content capture is on).

If one of our credentials is still there in some other spelling (once percent-encoding and
JSON escapes are undone), the whole message is withheld.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, quote_plus, unquote_plus

from .chat import ChatRequest

__all__ = [
    "MESSAGE_LIMIT",
    "NO_CREDENTIALS",
    "REDACTED",
    "WITHHELD",
    "Credentials",
    "redact_quotes",
    "scrub",
    "upstream_message",
]

REDACTED = "[redacted]"
WITHHELD = "[message withheld: it quoted a credential]"
# Longest upstream message kept in an error (after redaction).
MESSAGE_LIMIT = 200
# Header values that are never credentials; every other header a client sets counts as one.
_NOT_SECRET = frozenset(
    {"content-type", "accept", "user-agent", "anthropic-version", "anthropic-beta", "openai-beta"}
)
# Shorter values are not keys (and replacing them would shred every message).
_MIN_SECRET_CHARS = 4
_SCHEME = re.compile(r"(?i)(?:bearer|basic|token)\s+(\S+)")
_TOKEN_CHARS = r"A-Za-z0-9._~+/=-"
_BEARER = re.compile(rf"(?i)\b(bearer|basic)(\s+)([{_TOKEN_CHARS}]{{6,}})")
_KEY_SHAPES = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    r"sk-[A-Za-z0-9_-]{6,}"  # OpenAI, Anthropic (sk-ant-), OpenRouter (sk-or-)
    r"|AIza[0-9A-Za-z_-]{20,}"  # Google API keys
    r"|(?:xai-|pplx-|gsk_|hf_|r8_|ghp_|gho_|ghs_|github_pat_|glpat-)[A-Za-z0-9_-]{12,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"  # AWS access key ids
    r"|eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}"  # JWTs
    r")"
)
_PAIR = re.compile(
    r"(?i)\b(x-api-key|x-goog-api-key|api[-_]?key|access[-_]?token|authorization|password)"
    r"""(["']?\s*[:=]\s*["']?)"""
    r"(?!bearer\b|basic\b|\[redacted\])([^\s\"'&,;]{4,})"
)
_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_ESCAPE = re.compile(r"\\(.)")
_QUOTE_CHARS = 16


@dataclass(frozen=True)
class Credentials:
    """The secrets one upstream client sends, and every spelling of them we cut out.

    Built once per client (``from_headers``); empty for clients that send none.
    """

    # The secret values themselves (a header's value, or the token after "Bearer ").
    secrets: tuple[str, ...] = ()
    # Exact, URL-encoded and JSON-escaped spellings, as one alternation (longest first).
    pattern: re.Pattern[str] | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Credentials:
        """The credentials among ``headers``: every value but content negotiation and
        versioning headers; for ``Bearer``/``Basic`` values, the token too."""
        secrets: set[str] = set()
        for name, value in headers.items():
            if name.lower() in _NOT_SECRET:
                continue
            value = value.strip()
            scheme = _SCHEME.fullmatch(value)
            for secret in (value, scheme.group(1) if scheme else ""):
                if len(secret) >= _MIN_SECRET_CHARS:
                    secrets.add(secret)
        if not secrets:
            return cls()
        spellings = {s for secret in secrets for s in _spellings(secret)}
        alternation = "|".join(re.escape(s) for s in sorted(spellings, key=len, reverse=True))
        return cls(tuple(sorted(secrets)), re.compile(alternation))


def _spellings(secret: str) -> set[str]:
    """``secret`` as it may read in a message: exact, URL-encoded, JSON-escaped."""
    encoded = {quote(secret, safe=""), quote_plus(secret, safe="")}
    # Percent-encoding may use lower-case hex digits.
    encoded |= {re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower(), e) for e in encoded}
    escaped = {json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    escaped |= {e.replace("/", "\\/") for e in escaped}  # some servers escape "/" too
    return {secret, *encoded, *escaped}


NO_CREDENTIALS = Credentials()


def scrub(text: str, credentials: Credentials = NO_CREDENTIALS) -> str:
    """``text`` without ``credentials`` (in any spelling we know) and key-shaped strings;
    :data:`WITHHELD` when a credential survives in a spelling we could not cut out."""
    if credentials.pattern is not None:
        text = credentials.pattern.sub(REDACTED, text)
    text = _BEARER.sub(_bearer, text)
    text = _KEY_SHAPES.sub(REDACTED, text)
    text = _PAIR.sub(lambda m: f"{m[1]}{m[2]}{REDACTED}", text)
    if credentials.secrets:
        plain = _unescaped(text)
        if any(secret in plain for secret in credentials.secrets):
            return WITHHELD
    return text


def _bearer(match: re.Match[str]) -> str:
    token = match[3]
    # "Bearer token required" is prose; a token is long or holds a digit.
    if len(token) < 16 and not any(c.isdigit() for c in token):
        return match[0]
    return f"{match[1]}{match[2]}{REDACTED}"


def _unescaped(text: str) -> str:
    """``text`` with percent-encoding and JSON escapes undone (and backslashes dropped)."""
    text = unquote_plus(text)
    text = _UNICODE_ESCAPE.sub(lambda m: chr(int(m[1], 16)), text)
    return _ESCAPE.sub(r"\1", text)


def redact_quotes(text: str, request: ChatRequest) -> str:
    """``text`` without quotes (runs of 16 or more characters) of ``request``'s content.

    Upstream error messages sometimes echo the prompt; they reach callers, logs and traces,
    which must never hold content unless capture is on.
    """
    content = "\n".join(_texts(request))
    if len(content) < _QUOTE_CHARS or len(text) < _QUOTE_CHARS:
        return text
    quoted = [False] * len(text)
    for start in range(len(text) - _QUOTE_CHARS + 1):
        if text[start : start + _QUOTE_CHARS] in content:
            quoted[start : start + _QUOTE_CHARS] = [True] * _QUOTE_CHARS
    if not any(quoted):
        return text
    out: list[str] = []
    for i, char in enumerate(text):
        if not quoted[i]:
            out.append(char)
        elif i == 0 or not quoted[i - 1]:
            out.append(REDACTED)
    return "".join(out)


def _texts(request: ChatRequest) -> list[str]:
    texts = []
    for message in request.messages:
        texts.append(message.content)
        texts.extend(part.text for part in message.parts)
        texts.extend(call.arguments for call in message.tool_calls)
    texts.extend(tool.description for tool in request.tools)
    return [t for t in texts if t]


def upstream_message(
    text: str,
    credentials: Credentials,
    request: ChatRequest | None = None,
    limit: int | None = MESSAGE_LIMIT,
) -> str:
    """An upstream's error ``text`` fit for our errors: credentials and key shapes removed
    (:func:`scrub`), then quotes of ``request`` (:func:`redact_quotes`), then cut to ``limit``
    characters (None: uncut). Redaction comes first, so a cut never leaves the start of a key
    behind."""
    text = scrub(text, credentials)
    if request is not None:
        text = redact_quotes(text, request)
    return text if limit is None else text[:limit]
