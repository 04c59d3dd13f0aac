"""OpenInference attributes for attempt spans, beside the GenAI ones (``router.openinference``).

Trace viewers built on OpenInference (Arize Phoenix) read these, not ``gen_ai.*``: without them
an attempt shows as an "unknown" span with no tokens. Names and meanings follow the
OpenInference semantic conventions (Arize-ai/openinference, ``spec/semantic_conventions.md``):
``llm.token_count.prompt`` counts the whole prompt, cache reads and writes included (its
``prompt_details.*`` are parts of it), which is also what :class:`~router_svc.chat.TokenUsage`
holds; costs are USD. Built only when the switch is on; content only with content capture.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from .chat import ChatRequest, Message, TokenUsage
    from .registry import CostParts

__all__ = [
    "CHAIN",
    "MAX_FLAT_MESSAGES",
    "SPAN_KIND",
    "request_attributes",
    "result_attributes",
]

SPAN_KIND = "openinference.span.kind"
# Span kind values: a call to a model; a step linking others (the router's RPC).
LLM = "LLM"
CHAIN = "CHAIN"
_MODEL_NAME = "llm.model_name"
_PROVIDER = "llm.provider"
_SYSTEM = "llm.system"
_INVOCATION_PARAMETERS = "llm.invocation_parameters"
_INPUT_MESSAGES = "llm.input_messages"
_OUTPUT_MESSAGES = "llm.output_messages"
_INPUT_VALUE = "input.value"
_INPUT_MIME_TYPE = "input.mime_type"
_OUTPUT_VALUE = "output.value"
_OUTPUT_MIME_TYPE = "output.mime_type"
_FINISH_REASON = "llm.finish_reason"
_PROMPT_TOKENS = "llm.token_count.prompt"
_COMPLETION_TOKENS = "llm.token_count.completion"
_TOTAL_TOKENS = "llm.token_count.total"
_CACHE_READ_TOKENS = "llm.token_count.prompt_details.cache_read"
_CACHE_WRITE_TOKENS = "llm.token_count.prompt_details.cache_write"
_REASONING_TOKENS = "llm.token_count.completion_details.reasoning"
_COST_PROMPT = "llm.cost.prompt"
_COST_COMPLETION = "llm.cost.completion"
_COST_TOTAL = "llm.cost.total"
_COST_INPUT = "llm.cost.prompt_details.input"
_COST_CACHE_READ = "llm.cost.prompt_details.cache_read"
_COST_CACHE_WRITE = "llm.cost.prompt_details.cache_write"
_COST_OUTPUT = "llm.cost.completion_details.output"
_COST_REASONING = "llm.cost.completion_details.reasoning"

# Messages flattened onto the span (the latest ones): each takes two attributes and the SDK
# keeps 128 per span by default (OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT), silently dropping the
# oldest past that: the span kind and the GenAI attributes. ``input.value`` holds the whole chat.
MAX_FLAT_MESSAGES = 24


def request_attributes(
    request: ChatRequest,
    upstream_model: str,
    provider: str,
    messages_json: str | None,
) -> dict[str, Any]:
    """An attempt's attributes at its start: kind LLM, model, provider (``provider``: the
    ``gen_ai.provider.name`` value), numeric parameters; with ``messages_json`` (content
    capture on: the chat as ``gen_ai.input.messages`` holds it) the input messages too."""
    attributes: dict[str, Any] = {
        SPAN_KIND: LLM,
        _MODEL_NAME: upstream_model,
        _PROVIDER: provider,
        _SYSTEM: provider,
    }
    parameters = {
        name: value
        for name, value in (
            ("max_tokens", request.output_limit),
            ("temperature", request.temperature),
            ("top_p", request.top_p),
            ("seed", request.seed),
        )
        if value is not None
    }
    if parameters:
        attributes[_INVOCATION_PARAMETERS] = orjson.dumps(parameters).decode()
    if messages_json is not None:
        attributes[_INPUT_VALUE] = messages_json
        attributes[_INPUT_MIME_TYPE] = "application/json"
        _flatten(attributes, request.messages)
    return attributes


def result_attributes(
    response_model: str,
    usage: TokenUsage,
    finish_reason: str,
    *,
    cost_usd: float,
    cost: CostParts,
    output_text: str | None,
) -> dict[str, Any]:
    """A successful attempt's attributes: the answering model, token counts (cache and
    reasoning parts when reported), cost in USD (``cost_usd``: the attempt's, as its usage
    record has it) by part, and with ``output_text`` (content capture on) the answer."""
    attributes: dict[str, Any] = {
        _PROMPT_TOKENS: usage.prompt_tokens,
        _COMPLETION_TOKENS: usage.completion_tokens,
        _TOTAL_TOKENS: usage.total_tokens,
        _FINISH_REASON: finish_reason,
        _COST_PROMPT: cost.prompt_usd,
        _COST_COMPLETION: cost.output_usd,
        _COST_TOTAL: cost_usd,
        _COST_INPUT: cost.input_usd,
        _COST_OUTPUT: cost.output_usd - cost.reasoning_usd,
    }
    if response_model:
        attributes[_MODEL_NAME] = response_model
    # 0 means "not reported" as much as "none": a part is set only when there is one.
    if usage.cache_read_tokens:
        attributes[_CACHE_READ_TOKENS] = usage.cache_read_tokens
        attributes[_COST_CACHE_READ] = cost.cache_read_usd
    if usage.cache_write_tokens:
        attributes[_CACHE_WRITE_TOKENS] = usage.cache_write_tokens
        attributes[_COST_CACHE_WRITE] = cost.cache_write_usd
    if usage.reasoning_tokens:
        attributes[_REASONING_TOKENS] = usage.reasoning_tokens
        attributes[_COST_REASONING] = cost.reasoning_usd
    if output_text is not None:
        attributes[_OUTPUT_VALUE] = output_text
        attributes[_OUTPUT_MIME_TYPE] = "text/plain"
        attributes[f"{_OUTPUT_MESSAGES}.0.message.role"] = "assistant"
        attributes[f"{_OUTPUT_MESSAGES}.0.message.content"] = output_text
    return attributes


def _flatten(attributes: dict[str, Any], messages: Sequence[Message]) -> None:
    for i, message in enumerate(messages[-MAX_FLAT_MESSAGES:]):
        attributes[f"{_INPUT_MESSAGES}.{i}.message.role"] = message.role
        attributes[f"{_INPUT_MESSAGES}.{i}.message.content"] = message.text()
