"""Router spans: the routing decision and one CLIENT span per attempt (GenAI conventions).

Every helper is a no-op when the process does not export traces, so the hot path pays nothing.
Prompts and completions are recorded only when ``capture_content`` is switched on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from opentelemetry import trace
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv.attributes import error_attributes, server_attributes
from opentelemetry.trace import SpanKind, Status, StatusCode

from llmrouter.telemetry import tracing_enabled

from . import openinference

if TYPE_CHECKING:
    from llmrouter.rate_limits import Standing

    from .chat import ChatRequest, Message
    from .registry import ModelEntry
    from .routing.policy import Decision

__all__ = [
    "AttemptSpanInput",
    "attempt_failed",
    "attempt_succeeded",
    "connection_waited",
    "current_trace_id",
    "rate_limit_reached",
    "record_decision",
    "start_attempt_span",
]

_tracer = trace.get_tracer("llmrouter.router")
# GenAI provider names by adapter kind (gen_ai.provider.name well-known values).
_PROVIDER_NAMES = {"openai": "openai", "anthropic": "anthropic", "ollama": "ollama"}


def current_trace_id() -> str:
    """Hex trace id of the current span, or "" when not tracing."""
    if not tracing_enabled():
        return ""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""


def record_decision(decision: Decision, mode: str, *, openinference_kind: bool = False) -> None:
    """The decision, and why each skipped model was skipped, on the current (RPC) span;
    ``openinference_kind`` (``router.openinference``) marks that span an OpenInference CHAIN.

    Attributes rather than a span of their own: an operator sees them on the call they
    explain, and the router exports one span fewer per request.
    """
    if not tracing_enabled():
        return
    span = trace.get_current_span()
    if not span.is_recording():
        return
    span.set_attributes(
        {
            "llmrouter.category": decision.category,
            "llmrouter.category_source": decision.category_source,
            "llmrouter.classification_mode": mode,
            "llmrouter.candidates": [c.entry.name for c in decision.candidates],
            "llmrouter.candidate_reasons": [c.reason for c in decision.candidates],
            "llmrouter.skipped": [f"{s.model}: {s.reason} ({s.detail})" for s in decision.skipped],
            "llmrouter.estimated_prompt_tokens": decision.estimated_prompt_tokens,
        }
    )
    if decision.min_quality is not None:
        # The bound and the predictor's model; never the prompt or its vector.
        span.set_attribute("llmrouter.min_quality", decision.min_quality)
        if decision.predictor_embedding_model:
            span.set_attribute(
                "llmrouter.predictor_embedding_model", decision.predictor_embedding_model
            )
    if openinference_kind:
        span.set_attribute(openinference.SPAN_KIND, openinference.CHAIN)


@dataclass(frozen=True, slots=True)
class AttemptSpanInput:
    """What an attempt's span records when it starts (one object, so adding a field never
    breaks the signature of :func:`start_attempt_span`)."""

    # The model tried.
    entry: ModelEntry
    # 1-based among the attempts actually made for the request.
    number: int
    # Seconds waited before this attempt.
    backoff_s: float
    # The model's breaker state when the attempt was allowed ("closed", "half_open").
    breaker_state: str
    # Why the previous attempt did not answer ("" for a request's first attempt).
    fallback_reason: str
    # The Retry-After hint of the failure that led here.
    retry_after_s: float | None
    # Whether the caller asked for a stream.
    streamed: bool
    # The request, for its parameters (and its messages when content capture is on).
    request: ChatRequest
    # Whether prompts are recorded on the span (``capture_content`` of the tracing config).
    capture_content: bool
    # Whether OpenInference attributes go beside the GenAI ones (``router.openinference``).
    openinference: bool = False


def start_attempt_span(start: AttemptSpanInput) -> trace.Span | None:
    """Start ``chat {model}`` (CLIENT) for one attempt, ``embeddings {model}`` on an embedding
    model (the GenAI conventions' operation names); None when not tracing."""
    if not tracing_enabled():
        return None
    entry, request = start.entry, start.request
    provider = _PROVIDER_NAMES.get(entry.provider.kind, entry.provider.kind)
    embedding = entry.config.embedding
    operation = "embeddings" if embedding else "chat"
    attributes: dict[str, Any] = {
        gen_ai.GEN_AI_OPERATION_NAME: operation,
        gen_ai.GEN_AI_PROVIDER_NAME: provider,
        gen_ai.GEN_AI_REQUEST_MODEL: entry.upstream_model,
        "llmrouter.model": entry.name,
        "llmrouter.provider": entry.provider.name,
        "llmrouter.attempt": start.number,
        "llmrouter.backoff_s": start.backoff_s,
        "llmrouter.breaker_state": start.breaker_state,
        "llmrouter.streamed": start.streamed,
    }
    address = entry.provider.address
    if address:
        attributes[server_attributes.SERVER_ADDRESS] = address
    if entry.deployment:  # README, "Deployments"
        attributes["llmrouter.deployment"] = entry.deployment
    if start.fallback_reason:
        attributes["llmrouter.fallback_reason"] = start.fallback_reason
    if start.retry_after_s is not None:
        attributes["llmrouter.retry_after_s"] = start.retry_after_s
    if request.output_limit is not None and not embedding:
        attributes[gen_ai.GEN_AI_REQUEST_MAX_TOKENS] = request.output_limit
    if request.temperature is not None:
        attributes[gen_ai.GEN_AI_REQUEST_TEMPERATURE] = request.temperature
    messages = _messages_json(request.messages) if start.capture_content else None
    if messages is not None:
        attributes["gen_ai.input.messages"] = messages
    if start.openinference:
        attributes.update(
            openinference.request_attributes(request, entry.upstream_model, provider, messages)
        )
    return _tracer.start_span(
        f"{operation} {entry.upstream_model}", kind=SpanKind.CLIENT, attributes=attributes
    )


def attempt_succeeded(
    span: trace.Span | None,
    *,
    response_model: str,
    input_tokens: int,
    output_tokens: int,
    finish_reason: str,
    cost_usd: float,
    ttft_s: float | None,
    output_text: str | None = None,
    openinference_attributes: Mapping[str, Any] | None = None,
) -> None:
    """Close a successful attempt's span with usage and cost; ``openinference_attributes``: the
    OpenInference attributes of the result (``router.openinference``), None when off."""
    if span is None:
        return
    span.set_attributes(
        {
            gen_ai.GEN_AI_RESPONSE_MODEL: response_model,
            gen_ai.GEN_AI_USAGE_INPUT_TOKENS: input_tokens,
            gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS: output_tokens,
            gen_ai.GEN_AI_RESPONSE_FINISH_REASONS: [finish_reason],
            "llmrouter.cost_usd": cost_usd,
        }
    )
    if ttft_s is not None:
        span.set_attribute("llmrouter.time_to_first_token_s", ttft_s)
    if output_text is not None:
        span.set_attribute("gen_ai.output.messages", output_text)
    if openinference_attributes is not None:
        span.set_attributes(openinference_attributes)
    span.end()


def attempt_failed(
    span: trace.Span | None, error_type: str, message: str, *, cancelled: bool = False
) -> None:
    """Close a failed (or cancelled) attempt's span with ``error.type`` and ERROR status."""
    if span is None:
        return
    span.set_attribute(error_attributes.ERROR_TYPE, error_type)
    if not cancelled:
        span.set_status(Status(StatusCode.ERROR, message))
    span.end()


def connection_waited(provider: str, waited_s: float, limit: int, *, acquired: bool) -> None:
    """Note on the current span (the attempt's) that its request waited ``waited_s`` seconds
    for one of ``provider``'s ``limit`` connections, all in use: ``llmrouter.connection_wait``,
    with ``acquired`` false when the wait ended without one (timeout or cancel)."""
    if not tracing_enabled():
        return
    span = trace.get_current_span()
    if span.is_recording():
        span.add_event(
            "llmrouter.connection_wait",
            {
                "llmrouter.provider": provider,
                "llmrouter.wait_s": waited_s,
                "llmrouter.max_connections": limit,
                "llmrouter.connection_acquired": acquired,
            },
        )


def rate_limit_reached(model: str, standing: Standing) -> None:
    """Note on the current span (the request's) that ``model`` was passed over because its
    (or its provider's) quota is used up: ``llmrouter.rate_limit_reached``."""
    if not tracing_enabled():
        return
    span = trace.get_current_span()
    if span.is_recording():
        charge = standing.charge
        span.add_event(
            "llmrouter.rate_limit_reached",
            {
                "llmrouter.model": model,
                "llmrouter.rate_limit.subject": " ".join(charge.subject),
                "llmrouter.rate_limit.kind": charge.quota.kind,
                "llmrouter.rate_limit.limit": standing.limit,
                "llmrouter.rate_limit.requested": charge.cost,
                "llmrouter.retry_after_s": standing.retry_after_s,
            },
        )


def _messages_json(messages: Sequence[Message]) -> str:
    return orjson.dumps([{"role": m.role, "content": m.text()} for m in messages]).decode()
