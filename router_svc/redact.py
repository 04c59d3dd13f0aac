"""What of an upstream's error message may reach callers, logs, spans and the ledger.

Upstream error bodies are written by someone else and sometimes quote what we sent: the
``Authorization`` header, the ``x-api-key``, the prompt. :func:`upstream_message` is the one
place where such a message becomes part of one of our errors; every adapter (HTTP error bodies
and in-stream error events alike) goes through it. It runs on the error path only.

Removed, each replaced by ``[redacted]``:

* every credential the router sent to that upstream (:class:`Credentials`, built from the
  client's fixed headers), exactly and as it reads URL-encoded or JSON-escaped, in any letter
  case, and any part of it 8 characters or longer (a truncated or partly masked key:
  ``Zq9xLm2Pw8Rt...``, ``Zq9xLm2P*********Jk4``);
* key-shaped strings whoever they belong to: ``Bearer <token>``, ``sk-…`` (OpenAI, Anthropic,
  OpenRouter), ``AIza…`` (Google), ``xai-``/``gsk_``/``hf_``/``ghp_``-style prefixed tokens,
  AWS access key ids, JWTs, and the values of ``api_key=``/``x-api-key:``-style pairs;
* runs of 16 or more characters quoted from the request's content (prompts never leave the
  process unless content capture is on): messages, tool descriptions, and the string leaves
  (16 characters or longer, at most 1000 per document) of the extras, the response schema and
  each tool's parameters.

If one of our credentials (or 8 characters of one) is still there in some other spelling (once
percent-encoding and JSON escapes are undone, in any case), the whole message is withheld.

The work is bounded whatever the sizes: a message is cut to :data:`RAW_LIMIT` characters
before redaction (only its first :data:`MESSAGE_LIMIT` are ever shown), and quotes are found
with a dictionary of the message's 8-character pieces, looked up at every 8th position of the
request's content: time linear in message plus content, not their product.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus

from .chat import ChatRequest

__all__ = [
    "MESSAGE_LIMIT",
    "NO_CREDENTIALS",
    "RAW_LIMIT",
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
# Longest upstream message redacted, in characters; the rest is dropped unread (the classifying
# regexes and the MESSAGE_LIMIT shown need far less).
RAW_LIMIT = 8192
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
# A run this long shared with a credential counts as a quote of it; also the piece length of
# the quote search (a 16-character quote always holds a piece at a multiple of 8 of the content).
_PIECE = 8
# Candidate quote checks (one 16-character comparison each) per message; beyond it, every
# remaining piece shared with the content is cut as if it were a quote (safe side).
_QUOTE_CHECKS = 100_000
# String leaves taken from each JSON document of a request (extras, schemas): the quote search
# walks them like any content; documents are bounded in size by the request checks.
_LEAVES = 1000


@dataclass(frozen=True)
class Credentials:
    """The secrets one upstream client sends, and every spelling of them we cut out.

    Built once per client (``from_headers``); empty for clients that send none.
    """

    # The secret values themselves (a header's value, or the token after "Bearer ").
    secrets: tuple[str, ...] = ()
    # Exact, URL-encoded and JSON-escaped spellings, as one alternation (longest first),
    # matched in any letter case.
    pattern: re.Pattern[str] | None = None
    # Every 8-character piece of every spelling, lower-cased (pieces with white space left
    # out: "Bearer Zq9x" must not make "bearer t" a piece).
    pieces: frozenset[str] = frozenset()

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
        pieces = frozenset(
            piece.lower()
            for s in spellings
            for piece in (s[i : i + _PIECE] for i in range(len(s) - _PIECE + 1))
            if not any(c.isspace() for c in piece)
        )
        return cls(tuple(sorted(secrets)), re.compile(alternation, re.IGNORECASE), pieces)


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
    if credentials.pieces:
        text = _masked(text, _shared_pieces(text, credentials.pieces))
    text = _BEARER.sub(_bearer, text)
    text = _KEY_SHAPES.sub(REDACTED, text)
    text = _PAIR.sub(lambda m: f"{m[1]}{m[2]}{REDACTED}", text)
    if credentials.secrets:
        plain = _unescaped(text)
        lowered = plain.lower()
        if any(secret.lower() in lowered for secret in credentials.secrets) or any(
            _shared_pieces(plain, credentials.pieces)
        ):
            return WITHHELD
    return text


def _shared_pieces(text: str, pieces: frozenset[str]) -> bytearray:
    """1 for each character of ``text`` in an 8-character run that is one of ``pieces``
    (compared lower-cased), else 0."""
    marks = bytearray(len(text))
    for i in range(len(text) - _PIECE + 1):
        if text[i : i + _PIECE].lower() in pieces:
            marks[i : i + _PIECE] = b"\x01" * _PIECE
    return marks


def _masked(text: str, marks: bytearray) -> str:
    """``text`` with each run of marked characters replaced by one :data:`REDACTED`."""
    out: list[str] = []
    pos = 0
    while (start := marks.find(1, pos)) >= 0:
        end = marks.find(0, start)
        end = len(text) if end < 0 else end
        out += (text[pos:start], REDACTED)
        pos = end
    return "".join(out) + text[pos:] if out else text


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


def redact_quotes(text: str, request: ChatRequest, prefill: str = "") -> str:
    """``text`` without quotes (runs of 16 or more characters) of ``request``'s content or of
    ``prefill`` (the answer so far that a continuation sent as the final assistant message).

    Upstream error messages sometimes echo the prompt, or the assistant message they refuse;
    they reach callers, logs and traces, which must never hold content unless capture is on.
    """
    texts = _texts(request)
    if prefill:
        texts.append(prefill)
    content = "\n".join(texts)
    if len(content) < _QUOTE_CHARS or len(text) < _QUOTE_CHARS:
        return text
    # Where each 8-character piece of the message starts.
    starts: dict[str, list[int]] = {}
    for i in range(len(text) - _PIECE + 1):
        starts.setdefault(text[i : i + _PIECE], []).append(i)
    # A quote of 16 characters at content[q:] holds the piece at the multiple of 8 in
    # [q, q + 8]: only those pieces are looked up, so the content is walked once, by 8s.
    hits = [
        j for j in range(0, len(content) - _PIECE + 1, _PIECE) if content[j : j + _PIECE] in starts
    ]
    quoted = bytearray(len(text))
    checks = _QUOTE_CHECKS
    for n, j in enumerate(hits):
        if checks <= 0:
            # Pathological repetition: cut every piece the rest of the content shares instead.
            for piece in {content[k : k + _PIECE] for k in hits[n:]}:
                for t in starts[piece]:
                    quoted[t : t + _PIECE] = b"\x01" * _PIECE
            break
        for t in starts[content[j : j + _PIECE]]:
            checks -= _PIECE + 1
            # The 16-character windows of the message holding this piece, aligned with the
            # same windows of the content.
            for d in range(_PIECE + 1):
                i, q = t - d, j - d
                if (
                    i >= 0
                    and q >= 0
                    and i + _QUOTE_CHARS <= len(text)
                    and content.startswith(text[i : i + _QUOTE_CHARS], q)
                ):
                    quoted[i : i + _QUOTE_CHARS] = b"\x01" * _QUOTE_CHARS
    return _masked(text, quoted)


def _texts(request: ChatRequest) -> list[str]:
    texts = []
    for message in request.messages:
        texts.append(message.content)
        texts.extend(part.text for part in message.parts)
        texts.extend(call.arguments for call in message.tool_calls)
    texts.extend(tool.description for tool in request.tools)
    # Client text inside JSON the router passes on: the string leaves of the extras, of each
    # tool's parameters and of the response schema (enum values, descriptions, documents).
    for document in (
        request.extra_body,
        request.response_format.json_schema if request.response_format else "",
        *(tool.parameters_json for tool in request.tools),
    ):
        texts.extend(_leaves(document))
    return [t for t in texts if t]


def _leaves(document: str) -> list[str]:
    """The string leaves of the JSON text ``document`` that could hold a quote (at least
    :data:`_QUOTE_CHARS` characters), at most :data:`_LEAVES` of them; none when it is not
    JSON (the router checked it already; this runs on the error path only)."""
    if len(document) < _QUOTE_CHARS:
        return []
    try:
        parsed = json.loads(document)
    except ValueError:
        return [document]
    found: list[str] = []
    stack: list[Any] = [parsed]
    while stack and len(found) < _LEAVES:
        item = stack.pop()
        if isinstance(item, str):
            if len(item) >= _QUOTE_CHARS:
                found.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def upstream_message(
    text: str,
    credentials: Credentials,
    request: ChatRequest | None = None,
    limit: int | None = MESSAGE_LIMIT,
    prefill: str = "",
) -> str:
    """An upstream's error ``text`` fit for our errors: credentials and key shapes removed
    (:func:`scrub`), then quotes of ``request`` and of the continuation's ``prefill``
    (:func:`redact_quotes`), then cut to ``limit``
    characters (None: uncut). Redaction comes first, so a cut never leaves the start of a key
    behind; only a ``text`` longer than :data:`RAW_LIMIT` is cut before, and loses the word
    that cut splits."""
    if len(text) > RAW_LIMIT:
        end = RAW_LIMIT
        while end and not text[end - 1].isspace():
            end -= 1
        text = text[:end]
    text = scrub(text, credentials)
    if request is not None:
        text = redact_quotes(text, request, prefill)
    return text if limit is None else text[:limit]
