"""Upstream error dialects: which of our errors a non-2xx answer is, read from its status and body.

The servers put behind a router word the same failure differently: a context overflow is
OpenAI's ``context_length_exceeded`` code, llama.cpp's ``exceed_context_size_error`` type (once
with HTTP 500), vLLM's and SGLang's prose in a 400, Gemini's ``INVALID_ARGUMENT`` inside a list;
a bad key is a 401 almost everywhere but a 400 ``API_KEY_INVALID`` from Gemini; OpenRouter's
moderation block is a 403 that is no credential problem. :func:`parse` reads any of these bodies
into one :class:`ErrorBody`; :data:`RULES` is the table of dialects (each row citing where its
shape is published or reported), read top to bottom: the first row whose status, code and message
match gives the error class, and with none :func:`by_status` decides.

Nothing here builds a message: the caller shows only the redacted message
(:mod:`router_svc.redact`), never the codes or the matched-only ``extra`` text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from ..errors import (
    AuthFailed,
    BadUpstreamRequest,
    ContentFiltered,
    ContextLengthExceeded,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)

__all__ = ["RULES", "ErrorBody", "Rule", "by_status", "find", "parse"]

# Text read from a body only to match on (never shown), in characters.
_EXTRA_LIMIT = 2000
# What an upstream's ``param`` / ``code`` must look like to be passed on: a field path
# (``messages[0].content``, ``reasoning_effort``) or an identifier, never free text.
_PARAM = re.compile(r"[A-Za-z_][A-Za-z0-9_.\[\]-]{0,79}")
_IDENTIFIER = re.compile(r"[a-z][a-z0-9_.-]{0,63}")


@dataclass(frozen=True, slots=True)
class ErrorBody:
    """What an error body says, whatever its dialect."""

    codes: frozenset[str]
    """Lower-cased ``error.code`` / ``type`` / ``status``, Azure's ``innererror.code``, Google's
    ``details[].reason``, Anthropic's ``details.error_code`` and ``metadata.<key>`` for each key
    of OpenRouter's ``error.metadata``."""
    message: str
    """The human message: ``error.message``, a plain ``error`` string, ``message`` or FastAPI's
    ``detail`` (unredacted: the caller redacts it before matching or showing it)."""
    extra: str = ""
    """Text only matched, never shown: OpenRouter's ``metadata.raw`` (the provider's own error)."""
    param: str = ""
    """OpenAI's ``error.param``: the request field at fault, when it is shaped like a field
    path (so never the caller's text); "" otherwise."""
    code: str = ""
    """``error.code`` when it is a short identifier (e.g. ``unsupported_value``); "" else."""

    @property
    def text(self) -> str:
        """Codes, message and extra as one string for message patterns."""
        return " ".join((*sorted(self.codes), self.message, self.extra))


EMPTY = ErrorBody(frozenset(), "")


def _code(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return ""
    return str(value).strip().lower()


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def parse(body: bytes) -> ErrorBody:
    """The codes and message of an error ``body`` in any known dialect (``EMPTY`` if none)."""
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return EMPTY
    # Gemini's OpenAI-compatible endpoint wraps its error object in a one-element list.
    if isinstance(data, list) and data:
        data = data[0]
    if not isinstance(data, dict):
        return EMPTY
    error = data.get("error")
    obj: dict[str, Any] = error if isinstance(error, dict) else data
    message = _str(error) or _str(obj.get("message"))
    message = message or _str(data.get("detail")) or _str(data.get("message"))
    codes = {_code(obj.get(key)) for key in ("code", "type", "status")}
    inner = obj.get("innererror")
    if isinstance(inner, dict):
        codes.add(_code(inner.get("code")))
    details = obj.get("details")
    for detail in details if isinstance(details, list) else [details]:
        if isinstance(detail, dict):
            codes.add(_code(detail.get("reason")))
            codes.add(_code(detail.get("error_code")))
    extra = ""
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        codes.update(f"metadata.{_code(key)}" for key in metadata)
        raw = metadata.get("raw")
        extra = raw if isinstance(raw, str) else orjson.dumps(raw).decode() if raw else ""
    codes.discard("")
    param = _str(obj.get("param"))
    code = _code(obj.get("code"))
    return ErrorBody(
        frozenset(codes),
        message,
        extra[:_EXTRA_LIMIT],
        param if _PARAM.fullmatch(param) else "",
        code if _IDENTIFIER.fullmatch(code) else "",
    )


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the dialect table: when it matches, the answer is a ``kind``."""

    dialect: str
    """The server whose published or reported error shape this row reads."""
    kind: type[ProviderError]
    statuses: frozenset[int]
    """HTTP statuses it applies to (empty: any)."""
    codes: frozenset[str]
    """Lower-case codes of which one must be among the body's (empty: any)."""
    message: re.Pattern[str] | None
    """Searched in the body's codes, message and extra text (None: any)."""
    source: str
    """Where the shape is documented or reported."""

    def matches(self, status: int, body: ErrorBody) -> bool:
        """Whether a ``status`` answer with ``body`` is this row's error."""
        if self.statuses and status not in self.statuses:
            return False
        if self.codes and not self.codes & body.codes:
            return False
        return self.message is None or self.message.search(body.text) is not None


def _rule(
    dialect: str,
    kind: type[ProviderError],
    statuses: tuple[int, ...] | frozenset[int] = (),
    codes: tuple[str, ...] = (),
    message: str = "",
    *,
    source: str,
) -> Rule:
    pattern = re.compile(message, re.IGNORECASE) if message else None
    return Rule(
        dialect,
        kind,
        frozenset(statuses),
        frozenset(c.lower() for c in codes),
        pattern,
        source,
    )


# Client errors that may carry a context or filter message (auth, payment, timeout and rate
# statuses never do: they are decided by status).
_CLIENT = frozenset(range(400, 500)) - {401, 402, 403, 408, 429}

RULES: tuple[Rule, ...] = (
    # --- context window -------------------------------------------------------------------
    # llama.cpp server: {"error": {"code": 400, "type": "exceed_context_size_error",
    # "n_prompt_tokens": .., "n_ctx": ..}}; HTTP 500 before ggml-org/llama.cpp#16486.
    _rule(
        "llama.cpp",
        ContextLengthExceeded,
        (*_CLIENT, 500),
        ("exceed_context_size_error",),
        source="https://github.com/ggml-org/llama.cpp/pull/15780 (and oobabooga/textgen#7257)",
    ),
    # OpenAI / Azure OpenAI: 400 {"error": {"type": "invalid_request_error",
    # "code": "context_length_exceeded", "message": "This model's maximum context length ..."}}.
    _rule(
        "openai",
        ContextLengthExceeded,
        _CLIENT,
        ("context_length_exceeded",),
        source="https://developers.openai.com/docs/guides/error-codes; bytedance/deer-flow#310",
    ),
    # vLLM: 400 {"object": "error", "type": "BadRequestError", "code": 400, "message": "This
    # model's maximum context length is N tokens. However, you requested M tokens ..."}.
    _rule(
        "vllm",
        ContextLengthExceeded,
        _CLIENT,
        message=r"maximum context length",
        source="https://github.com/vllm-project/vllm/issues/20409; ogx-ai/ogx#4534",
    ),
    # vLLM before it checked the prompt: the room left for the answer went negative.
    _rule(
        "vllm",
        ContextLengthExceeded,
        _CLIENT,
        message=r"max_tokens must be at least 1, got -\d+",
        source="https://github.com/vllm-project/vllm/issues/4667; "
        "developer.mittwald.de/docs/v2/platform/aihosting/api-endpoints/errors",
    ),
    # SGLang: 400 {"object": "error", "type": "BadRequestError", "message": "The input (N
    # tokens) is longer than the model's context length (M tokens)."}, or "Input length (N
    # tokens) exceeds the maximum allowed length (M tokens)".
    _rule(
        "sglang",
        ContextLengthExceeded,
        _CLIENT,
        message=r"longer than the model's context length|exceeds the maximum allowed length",
        source="https://github.com/QwenLM/Qwen3/issues/1321; sgl-project/sglang#4048",
    ),
    # Anthropic: 400 {"type": "error", "error": {"type": "invalid_request_error", "message":
    # "prompt is too long: N tokens > M maximum"}} (or "input length and `max_tokens` exceed
    # context limit: ...").
    _rule(
        "anthropic",
        ContextLengthExceeded,
        _CLIENT,
        ("invalid_request_error",),
        r"prompt is too long|exceed context limit",
        source="https://github.com/sojohnnysaid/project-guide/issues/2; boldsoftware/exe.dev#62",
    ),
    # Mistral: 400 "Prompt contains N tokens ..., too large for model with M maximum context
    # length".
    _rule(
        "mistral",
        ContextLengthExceeded,
        _CLIENT,
        message=r"too large for model with \d+ maximum context length",
        source="https://krater.ai/troubleshoot/mistral/context-length-exceeded",
    ),
    # Gemini (OpenAI-compatible endpoint): [{"error": {"code": 400, "status":
    # "INVALID_ARGUMENT", "message": "The input token count (N) exceeds the maximum number of
    # tokens allowed (M)."}}].
    _rule(
        "gemini",
        ContextLengthExceeded,
        _CLIENT,
        message=r"input token count \(\d+\) exceeds the maximum number of tokens",
        source="https://github.com/google-gemini/gemini-cli/issues/6678 (and #4231)",
    ),
    # Any dialect: the generic phrases once matched for every 4xx (OpenRouter passes on the
    # provider's own "maximum context length" wording in error.message or metadata.raw).
    _rule(
        "any",
        ContextLengthExceeded,
        _CLIENT,
        message=r"context.length|maximum context|too many tokens|exceeds the context window"
        r"|input length",
        source="https://openrouter.ai/docs/api/reference/errors-and-debugging (metadata.raw); "
        "the phrases of the rows above",
    ),
    # --- authentication (before the content rows: a 401/403 is decided here) --------------
    # Gemini: a bad key is 400 INVALID_ARGUMENT with reason API_KEY_INVALID, not a 401.
    _rule(
        "gemini",
        AuthFailed,
        (400, 401, 403),
        ("api_key_invalid",),
        source="https://github.com/cequence-io/openai-scala-client/issues/109",
    ),
    # --- content filter -------------------------------------------------------------------
    # OpenRouter: 403 "Your chosen model requires moderation and your input was flagged";
    # error.metadata = {reasons, flagged_input, provider_name, model_slug}. flagged_input is
    # the caller's own text: it is matched on its key, never read.
    _rule(
        "openrouter",
        ContentFiltered,
        (400, 403),
        ("metadata.reasons", "metadata.flagged_input"),
        source="https://openrouter.ai/docs/api/reference/errors-and-debugging (Moderation Errors)",
    ),
    # Azure OpenAI: 400 {"error": {"code": "content_filter", "innererror": {"code":
    # "ResponsibleAIPolicyViolation", "content_filter_result": {...}}}}.
    _rule(
        "azure",
        ContentFiltered,
        _CLIENT,
        ("content_filter", "responsibleaipolicyviolation"),
        source="https://learn.microsoft.com/en-us/answers/questions/5896505; "
        "api-evangelist/microsoft-azure innerErrorCode schema",
    ),
    # OpenAI: 400 invalid_request_error code "content_policy_violation"; any dialect's
    # "content filter"/"safety" wording in a client error.
    _rule(
        "any",
        ContentFiltered,
        _CLIENT,
        message=r"content.filter|content_policy|responsible ai|safety system",
        source="https://www.developersdigest.tech/errors/api/azure-openai/400-content-filter",
    ),
    # --- quota and credit (billing, not rate) ---------------------------------------------
    # OpenAI: 429 {"error": {"type": "insufficient_quota", "code": "insufficient_quota",
    # "message": "You exceeded your current quota, please check your plan and billing
    # details."}}: a 429 that waiting does not cure.
    _rule(
        "openai",
        QuotaExhausted,
        (429,),
        ("insufficient_quota",),
        source="https://platform.openai.com/docs/guides/error-codes/api-errors "
        "(429 - You exceeded your current quota)",
    ),
    # Anthropic 402 billing_error ("Errors": 402 - billing_error); OpenRouter 402 "Your
    # account or API key has insufficient credits" ("Errors and Debugging": 402).
    _rule(
        "anthropic/openrouter",
        QuotaExhausted,
        (402,),
        source="https://docs.anthropic.com/en/api/errors; "
        "https://openrouter.ai/docs/api/reference/errors-and-debugging",
    ),
    # --- rate limits ----------------------------------------------------------------------
    # Every dialect: 429 (OpenAI rate_limit_exceeded, Azure code "429",
    # Anthropic rate_limit_error, Gemini [{"error": {"status": "RESOURCE_EXHAUSTED"}}],
    # Mistral {"message": "Requests rate limit exceeded"}, OpenRouter, Ollama's cloud).
    _rule(
        "any",
        RateLimited,
        (429,),
        source="https://developers.openai.com/docs/guides/error-codes; jasonacox/TinyLLM#17; "
        "n4ze3m/page-assist#406; https://docs.ollama.com/api/errors",
    ),
    # --- overloaded / unavailable ---------------------------------------------------------
    # Anthropic: 529 {"type": "error", "error": {"type": "overloaded_error"}}; any 5xx else.
    _rule(
        "anthropic",
        UpstreamUnavailable,
        codes=("overloaded_error",),
        source="https://docs.llmgateway.io/troubleshooting/anthropic-529-overloaded",
    ),
)


def find(status: int, body: ErrorBody) -> Rule | None:
    """The first row of :data:`RULES` matching a ``status`` answer with ``body``."""
    for row in RULES:
        if row.matches(status, body):
            return row
    return None


def by_status(status: int) -> type[ProviderError]:
    """The error a ``status`` answer is when no row matched: 401/403 credentials or account
    (402, no credit, is a row above), 408 timeout, 404 and 5xx unavailable, any other 4xx
    the request's fault."""
    if status == 429:
        return RateLimited
    if status in (401, 402, 403):
        return AuthFailed
    if status == 408:
        return UpstreamTimeout
    if status >= 500 or status == 404:
        return UpstreamUnavailable
    return BadUpstreamRequest
