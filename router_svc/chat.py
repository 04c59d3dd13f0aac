"""Plain value objects for chat requests and answers; providers and routing work on these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from typing import Any, Literal, TypeVar, cast

from llmrouter.values import frozen

__all__ = [
    "CacheControl",
    "ChatRequest",
    "Completion",
    "ContentPart",
    "Message",
    "Preferences",
    "ResponseFormat",
    "StreamDelta",
    "StreamEnd",
    "StreamEvent",
    "TokenUsage",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
]

T = TypeVar("T")
Role = Literal["system", "user", "assistant", "tool", "developer"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


@frozen
class CacheControl:
    """A prompt-caching breakpoint (Anthropic's ``cache_control``, which OpenRouter and LiteLLM
    take on OpenAI-shaped requests): the prompt up to and including what carries it may be
    cached. ``type`` is "ephemeral"; ``ttl`` "5m", "1h" or "" (unset)."""

    type: str = "ephemeral"
    ttl: str = ""

    def json(self) -> dict[str, str]:
        """The object as the client gave it: ``{"type"}`` and ``"ttl"`` when set."""
        return {"type": self.type, "ttl": self.ttl} if self.ttl else {"type": self.type}


@frozen
class ContentPart:
    """Text or an image URL."""

    text: str = ""
    image_url: str = ""
    # OpenAI's image_url.detail ("auto", "low", "high") for an image; "" = unset.
    detail: str = ""
    cache_control: CacheControl | None = None


@frozen
class ToolCall:
    """A function call made by the assistant; arguments are JSON text."""

    id: str
    name: str
    arguments: str


@frozen
class Message:
    """One chat message."""

    role: Role
    content: str = ""
    parts: tuple[ContentPart, ...] = ()
    name: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""
    # An assistant message's refusal (OpenAI's message.refusal) in the history; "" = none.
    refusal: str = ""
    cache_control: CacheControl | None = None
    # A tool message that reports the tool failed (Anthropic's tool_result is_error).
    is_error: bool = False

    def text(self) -> str:
        """All text of the message, parts included."""
        if not self.parts:
            return self.content
        return "\n".join(p.text for p in self.parts if p.text)


@frozen
class Tool:
    """A function the model may call; parameters are JSON Schema as JSON text."""

    name: str
    description: str = ""
    parameters_json: str = ""
    strict: bool = False
    # True when the client sent a description, even an empty one: OpenAI-compatible upstreams
    # get ``description`` (and ``parameters``) only when the client gave it.
    description_given: bool = False
    cache_control: CacheControl | None = None


@frozen
class ResponseFormat:
    """``type`` is text, json_object or json_schema; json_schema is OpenAI's object as JSON."""

    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: str = ""


@frozen
class Preferences:
    """Weights over cost, latency and quality; all zero means chain order."""

    cost: float = 0.0
    latency: float = 0.0
    quality: float = 0.0

    @property
    def active(self) -> bool:
        """True when any weight is set."""
        return self.cost > 0 or self.latency > 0 or self.quality > 0


@frozen
class ChatRequest:
    """A chat completion request as the router sees it."""

    model: str
    messages: tuple[Message, ...]
    tools: tuple[Tool, ...] = ()
    # "auto", "none", "required", or the name of the one function to call; "" = unset.
    tool_choice: str = ""
    tool_choice_is_function: bool = False
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    response_format: ResponseFormat | None = None
    user: str = ""
    category: str = ""
    preferences: Preferences = field(default_factory=Preferences)
    # Quality-bounded routing (README "Learned routing"): the cheapest candidate of the chain
    # whose estimated quality for this request is at least this, in [0, 1]; None: the
    # category's min_quality, if any.
    min_quality: float | None = None
    task_type: str = ""
    source: str = ""
    api_key_id: str = ""
    # The key's team ("" for none): a label for usage and budgets.
    team_id: str = ""
    # What the key may use (Caller.allowed_models: model names and "category:<name>"); empty:
    # everything (router_svc.routing.allowed).
    allowed_models: tuple[str, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    # The client's own id (X-Request-Id): recorded with usage for correlation, never a key.
    client_request_id: str = ""
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    # Models to try after ``model`` (or after an "auto" chain), in order; replaces the model's
    # configured fallbacks. Empty: the configured ones apply.
    fallback_models: tuple[str, ...] = ()
    # The text of the final assistant message the caller asked to have continued
    # (continue_final_message), taken out of ``messages``: only models that can continue an
    # answer serve it, each given it as the prefill, and the answer is what follows it.
    prefill: str = ""
    # OpenAI's newer output limit, kept apart from ``max_tokens``: OpenAI-compatible upstreams
    # get the name the client used (reasoning models reject max_tokens).
    max_completion_tokens: int | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    # OpenAI's service_tier and reasoning_effort as sent; "" = unset.
    service_tier: str = ""
    reasoning_effort: str = ""
    parallel_tool_calls: bool | None = None
    # Provider-specific extras: a JSON object as text, merged into the upstream body
    # (router_svc.providers.extras); "" = none.
    extra_body: str = ""
    # OpenAI's stream_options.include_obfuscation as sent; None = unset.
    include_obfuscation: bool | None = None
    # The response cache, as the caller asked (llmrouter.cache): True on, False off, None
    # unset (router.cache.api_keys decides).
    cache: bool | None = None
    # The gateway front door the request came through ("chat_completions", "messages", ...;
    # "" = unknown): recorded with usage, never part of the question.
    front_door: str = ""
    # What routing derives from the messages (needs_vision, the fields a codec cannot carry,
    # the estimated prompt tokens), worked out once per request though every candidate and
    # attempt asks: a scan of 5,000 messages per candidate was most of a decision. Not an
    # argument, not compared, and not carried over by dataclasses.replace (a changed request
    # derives anew).
    derived: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def derive(self, name: str, compute: Callable[[ChatRequest], T]) -> T:
        """``compute(self)``, computed on the first call for ``name`` and remembered."""
        derived = self.derived
        if name in derived:
            return cast("T", derived[name])
        value = derived[name] = compute(self)
        return value

    @property
    def output_limit(self) -> int | None:
        """The most tokens the answer may take: max_completion_tokens, else max_tokens."""
        if self.max_completion_tokens is not None:
            return self.max_completion_tokens
        return self.max_tokens

    @property
    def needs_vision(self) -> bool:
        """True when any message carries an image."""
        return self.derive("needs_vision", _has_image)

    @property
    def needs_json(self) -> bool:
        """True when the caller asked for JSON output."""
        return self.response_format is not None and self.response_format.type != "text"


def _has_image(request: ChatRequest) -> bool:
    return any(p.image_url for m in request.messages for p in m.parts)


@frozen
class TokenUsage:
    """Token counts reported by (or estimated for) one upstream call.

    ``prompt_tokens`` counts the whole prompt, cached parts included (OpenAI's sense);
    ``cache_read_tokens`` and ``cache_write_tokens`` are the parts of it read from and written
    to the provider's prompt cache (0 when unknown), kept for pricing them apart;
    ``reasoning_tokens`` is the part of ``completion_tokens`` spent reasoning (OpenAI's
    ``completion_tokens_details.reasoning_tokens``; 0 when unknown).
    ``cache_write_1h_tokens`` is the part of ``cache_write_tokens`` written to Anthropic's
    1-hour cache (``usage.cache_creation.ephemeral_1h_input_tokens``), priced at its own rate;
    internal (not in the ledger or the contract).
    ``estimated``: some count is the router's, not the upstream's report: estimated where the
    upstream reported none, or standing in for a count it sent unreadable (see
    :mod:`router_svc.providers.counts`); the usage record's ``usage_estimated``.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_1h_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: TokenUsage) -> TokenUsage:
        """The counts of two calls together (estimated when either is)."""
        return TokenUsage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
            self.cache_write_1h_tokens + other.cache_write_1h_tokens,
            self.estimated or other.estimated,
        )


@frozen
class Completion:
    """A whole answer from one provider call."""

    content: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: FinishReason
    usage: TokenUsage
    upstream_model: str = ""
    # The refusal in place of an answer (OpenAI's message.refusal); "" when none.
    refusal: str = ""
    # OpenAI's choices[].logprobs object, as JSON text; "" when none.
    logprobs_json: str = ""
    # OpenAI's top-level service_tier and system_fingerprint of the answer; "" when none.
    service_tier: str = ""
    system_fingerprint: str = ""
    # The model's reasoning (thinking) text given beside the answer, as the upstream sent it
    # (OpenAI-compatible reasoning_content/reasoning, Anthropic thinking blocks, Ollama
    # message.thinking); "" when none. Content: never in spans, logs or the ledger.
    reasoning_content: str = ""


@frozen
class ToolCallDelta:
    """A fragment of a streamed tool call; id and name come with the first fragment."""

    index: int
    id: str = ""
    name: str = ""
    arguments: str = ""


@frozen
class StreamDelta:
    """Incremental content of a stream."""

    content: str = ""
    tool_calls: tuple[ToolCallDelta, ...] = ()
    # Next piece of a refusal (OpenAI's delta.refusal).
    refusal: str = ""
    # This chunk's choices[].logprobs object, as JSON text; "" when none.
    logprobs_json: str = ""
    # OpenAI's top-level service_tier and system_fingerprint, as the latest chunk so far gave
    # them; "" when none did.
    service_tier: str = ""
    system_fingerprint: str = ""
    # Next piece of the model's reasoning (thinking) text (see Completion.reasoning_content).
    reasoning_content: str = ""


@frozen
class StreamEnd:
    """The end of an upstream stream: why it stopped and what it used."""

    finish_reason: FinishReason
    usage: TokenUsage
    # OpenAI's top-level service_tier and system_fingerprint, the latest the stream's chunks
    # gave ("" when none did): a stream without content deltas has them only here.
    service_tier: str = ""
    system_fingerprint: str = ""


StreamEvent = StreamDelta | StreamEnd
