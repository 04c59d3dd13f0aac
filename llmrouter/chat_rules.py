"""The value rules of a chat request, each written once.

Three places apply them: the gateway on the JSON body (400 with OpenAI's wording, naming the
``param``), the router on ``ChatRequest`` (INVALID_ARGUMENT naming the field; internal services
call it directly) and the gateway's OpenAPI schema. Each derives its check, its enum map or its
schema value from the data here; the wording of the errors stays each side's own. The caps on
free text that ends up in the usage ledger are in :mod:`llmrouter.field_limits`.

Ranges follow OpenAI's chat completions reference (temperature 0..2, top_p 0..1, penalties
-2..2, up to 4 stop sequences); integer bounds are those of the ``ChatRequest`` field the value
goes to (``max_tokens`` is an int32, ``seed`` an int64).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from llmrouter.v1 import chat_pb2

__all__ = [
    "CACHE_CONTROL_TYPES",
    "CACHE_TTLS",
    "IMAGE_DETAILS",
    "MAX_TOKENS",
    "MIN_QUALITY",
    "PENALTY",
    "PREFERENCE_KEYS",
    "PREFERENCE_WEIGHT",
    "REASONING_EFFORTS",
    "RESPONSE_FORMATS",
    "ROLES",
    "SEED",
    "SERVICE_TIERS",
    "STOP_MAX_ITEMS",
    "TEMPERATURE",
    "TOOL_CHOICE_MODES",
    "TOP_LOGPROBS",
    "TOP_P",
    "UNSUPPORTED_DEFAULTS",
    "UNSUPPORTED_FIELDS",
    "N",
    "Range",
]


@dataclass(frozen=True, slots=True)
class Range:
    """Inclusive bounds of a numeric field; None leaves that side open. Integers, so the schema
    prints ``2``, not ``2.0``."""

    minimum: int | None = None
    maximum: int | None = None

    def __contains__(self, value: float) -> bool:
        # NaN is in no range (every comparison with it is false).
        return (self.minimum is None or self.minimum <= value) and (
            self.maximum is None or value <= self.maximum
        )

    def below(self, value: float) -> bool:
        """``value`` is under the minimum; NaN is not (``value in range`` refuses NaN)."""
        return self.minimum is not None and value < self.minimum

    def interval(self) -> str:
        """The bounds as ``[0, 2]``, for messages."""
        return f"[{self.minimum}, {self.maximum}]"


TEMPERATURE: Final = Range(0, 2)
TOP_P: Final = Range(0, 1)
# max_tokens and max_completion_tokens: positive, within ChatRequest.max_tokens (int32).
MAX_TOKENS: Final = Range(1, 2**31 - 1)
# ChatRequest.seed is an int64.
SEED: Final = Range(-(2**63), 2**63 - 1)
# presence_penalty and frequency_penalty.
PENALTY: Final = Range(-2, 2)
# One choice per request: a silent single answer to n > 1 would be a wrong answer.
N: Final = Range(1, 1)
STOP_MAX_ITEMS: Final = 4
# top_logprobs: "An integer between 0 and 20" (needs logprobs: true).
TOP_LOGPROBS: Final = Range(0, 20)
# The values of OpenAI's image_url.detail (chat completions reference, image content part).
IMAGE_DETAILS: Final = ("auto", "low", "high")
# cache_control (Anthropic's prompt caching; the Messages API reference's CacheControlEphemeral):
# its type and its time to live ("5m" unless given).
CACHE_CONTROL_TYPES: Final = ("ephemeral",)
CACHE_TTLS: Final = ("5m", "1h")
# The values of OpenAI's service_tier and reasoning_effort (chat completions reference).
SERVICE_TIERS: Final = ("auto", "default", "flex", "scale", "priority")
REASONING_EFFORTS: Final = ("none", "minimal", "low", "medium", "high", "xhigh")
# Fields of OpenAI's chat completions request that the router does not carry yet: a request
# that sets one (other than to its default, see the gateway) is refused naming it, never
# served as if the field were absent.
UNSUPPORTED_FIELDS: Final = (
    "audio",
    "function_call",
    "functions",
    "logit_bias",
    "modalities",
    "prediction",
    "prompt_cache_key",
    "prompt_cache_retention",
    "safety_identifier",
    "store",
    "verbosity",
    "web_search_options",
)
# The values of those fields that ask for nothing beyond the default: accepted as no-ops.
UNSUPPORTED_DEFAULTS: Final[Mapping[str, object]] = {"store": False, "modalities": ["text"]}

# The JSON names of the enums and their ChatRequest values; the order is the one the gateway's
# "is not one of ..." messages list.
ROLES: Final[Mapping[str, chat_pb2.Role]] = {
    "system": chat_pb2.ROLE_SYSTEM,
    "user": chat_pb2.ROLE_USER,
    "assistant": chat_pb2.ROLE_ASSISTANT,
    "tool": chat_pb2.ROLE_TOOL,
    "developer": chat_pb2.ROLE_DEVELOPER,
}
TOOL_CHOICE_MODES: Final[Mapping[str, chat_pb2.ToolChoiceMode]] = {
    "auto": chat_pb2.TOOL_CHOICE_MODE_AUTO,
    "none": chat_pb2.TOOL_CHOICE_MODE_NONE,
    "required": chat_pb2.TOOL_CHOICE_MODE_REQUIRED,
}
RESPONSE_FORMATS: Final[Mapping[str, chat_pb2.ResponseFormatType]] = {
    "text": chat_pb2.RESPONSE_FORMAT_TYPE_TEXT,
    "json_object": chat_pb2.RESPONSE_FORMAT_TYPE_JSON_OBJECT,
    "json_schema": chat_pb2.RESPONSE_FORMAT_TYPE_JSON_SCHEMA,
}

# The routing preference weights (llmrouter.preferences / ChatRequest.routing.preferences).
PREFERENCE_KEYS: Final = ("cost", "latency", "quality")
PREFERENCE_WEIGHT: Final = Range(minimum=0)
# llmrouter.min_quality / ChatRequest.routing.min_quality: a quality bound in [0, 1].
MIN_QUALITY: Final = Range(0, 1)
