"""Translation between the ``llmrouter.v1`` RouterService messages and the router's dataclasses.

Requests, responses and stream chunks; the servicer only handles RPCs. Validation errors name
the request field (``chat.messages[2].role``).
"""

from __future__ import annotations

from typing import Any, cast

from llmrouter import chat_rules, field_limits
from llmrouter.request_ids import REQUEST_ID_PATTERN
from llmrouter.v1 import chat_pb2, router_service_pb2

from ..chat import (
    ChatRequest,
    Preferences,
    ResponseFormat,
    Role,
    TokenUsage,
    Tool,
)
from ..errors import InvalidRequest
from ..pbtime import duration_fields, timestamp_fields
from ..routing.failover import Attempt, Served
from ..routing.policy import Candidate, Decision
from .chat_checks import (
    check_fallback_models,
    check_ledger_fields,
    continued_message,
    openai_options,
)
from .chat_messages import json_object, message_from_proto, tool_from_proto
from .quality import prediction_to_pb

__all__ = [
    "CACHE_STATUS",
    "attempts_to_proto",
    "chat_from_proto",
    "complete_response",
    "decision_to_proto",
    "finish_reason",
    "usage_to_proto",
]

# The inverses of the gateway's maps (llmrouter.chat_rules): ChatRequest value -> our name.
_ROLES: dict[int, Role] = {v: cast("Role", k) for k, v in chat_rules.ROLES.items()}
_TOOL_CHOICE = {v: k for k, v in chat_rules.TOOL_CHOICE_MODES.items()}
_FORMATS = {v: k for k, v in chat_rules.RESPONSE_FORMATS.items()}
_FINISH = {
    "stop": chat_pb2.FINISH_REASON_STOP,
    "length": chat_pb2.FINISH_REASON_LENGTH,
    "tool_calls": chat_pb2.FINISH_REASON_TOOL_CALLS,
    "content_filter": chat_pb2.FINISH_REASON_CONTENT_FILTER,
}
_TEMPERATURE_RANGE = f"temperature must be in {chat_rules.TEMPERATURE.interval()}"
_TOP_P_RANGE = f"top_p must be in {chat_rules.TOP_P.interval()}"
_ATTEMPT_STATUS = {
    "succeeded": chat_pb2.ATTEMPT_STATUS_SUCCEEDED,
    "failed": chat_pb2.ATTEMPT_STATUS_FAILED,
    "cancelled": chat_pb2.ATTEMPT_STATUS_CANCELLED,
}


def chat_from_proto(chat: chat_pb2.ChatRequest, *, path: str = "chat") -> ChatRequest:
    """Validate ``chat`` and convert it; raises :class:`InvalidRequest` naming the field."""
    # Each field is read once (a read costs about a small Python call on the upb backend) and
    # a field's path is formatted only for its error (a message's, for its checks): this runs
    # for every request.
    listed = chat.messages
    if not listed:
        raise InvalidRequest("messages must not be empty", field=f"{path}.messages")
    messages = tuple([message_from_proto(m, f"{path}.messages[{i}]") for i, m in enumerate(listed)])
    tools: tuple[Tool, ...] = ()
    if listed_tools := chat.tools:
        tools = tuple(
            [tool_from_proto(t, f"{path}.tools[{i}]") for i, t in enumerate(listed_tools)]
        )
    tool_choice, is_function = "", False
    choice = chat.tool_choice
    which = choice.WhichOneof("choice")
    if which == "mode":
        tool_choice = _TOOL_CHOICE.get(choice.mode, "")
    elif which == "function_name":
        tool_choice, is_function = choice.function_name, True
        if tool_choice not in {t.name for t in tools}:
            raise InvalidRequest(
                f"tool_choice names {tool_choice!r}, which is not in tools",
                field=f"{path}.tool_choice.function_name",
            )
    # The ranges are llmrouter.chat_rules'; the gateway applies the same ones to the JSON.
    temperature = chat.temperature if chat.HasField("temperature") else None
    if temperature is not None and temperature not in chat_rules.TEMPERATURE:
        raise InvalidRequest(_TEMPERATURE_RANGE, field=f"{path}.temperature")
    top_p = chat.top_p if chat.HasField("top_p") else None
    if top_p is not None and top_p not in chat_rules.TOP_P:
        raise InvalidRequest(_TOP_P_RANGE, field=f"{path}.top_p")
    # ChatRequest.max_tokens is an int32, so only the minimum (1: "positive") can be missed.
    max_tokens = chat.max_tokens if chat.HasField("max_tokens") else None
    if max_tokens is not None and max_tokens not in chat_rules.MAX_TOKENS:
        raise InvalidRequest("max_tokens must be positive", field=f"{path}.max_tokens")
    client_request_id = chat.client_request_id
    if client_request_id and not REQUEST_ID_PATTERN.fullmatch(client_request_id):
        raise InvalidRequest(
            "client_request_id must be at most 128 characters of A-Z a-z 0-9 . _ : -",
            field=f"{path}.client_request_id",
        )
    response_format = None
    if chat.HasField("response_format") and (kind := (given := chat.response_format).type):
        if schema := given.json_schema:
            json_object(schema, f"{path}.response_format.json_schema")
        response_format = ResponseFormat(
            type=_FORMATS.get(kind, "text"),  # type: ignore[arg-type]
            json_schema=schema,
        )
    caller, routing, user, metadata = chat.caller, chat.routing, chat.user, chat.metadata
    source, category, task_type = caller.source, routing.category, routing.task_type
    check_ledger_fields(path, user, source, category, task_type, metadata)
    if extra_body := chat.extra_body_json:
        if len(extra_body) > field_limits.EXTRA_BODY_MAX_CHARS:
            raise InvalidRequest(
                f"extra_body_json is longer than {field_limits.EXTRA_BODY_MAX_CHARS} characters",
                field=f"{path}.extra_body_json",
            )
        json_object(extra_body, f"{path}.extra_body_json")
    if fallback_models := tuple(chat.fallback_models):
        check_fallback_models(fallback_models, path)
    if len(front_door := chat.front_door) > field_limits.FRONT_DOOR_MAX_CHARS:
        raise InvalidRequest(
            f"front_door is longer than {field_limits.FRONT_DOOR_MAX_CHARS} characters",
            field=f"{path}.front_door",
        )
    prefill = ""
    if chat.continue_final_message:
        messages, prefill = continued_message(messages, path)
    prefs = routing.preferences
    weights = (prefs.cost, prefs.latency, prefs.quality)
    for name, weight in zip(chat_rules.PREFERENCE_KEYS, weights, strict=True):
        if chat_rules.PREFERENCE_WEIGHT.below(weight):
            raise InvalidRequest(
                f"preference weights must be >= {chat_rules.PREFERENCE_WEIGHT.minimum}",
                field=f"{path}.routing.preferences.{name}",
            )
    min_quality = routing.min_quality if routing.HasField("min_quality") else None
    if min_quality is not None and min_quality not in chat_rules.MIN_QUALITY:
        raise InvalidRequest(
            f"min_quality must be in {chat_rules.MIN_QUALITY.interval()}",
            field=f"{path}.routing.min_quality",
        )
    return ChatRequest(
        model=chat.model or "auto",
        messages=messages,
        tools=tools,
        tool_choice=tool_choice,
        tool_choice_is_function=is_function,
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        stop=tuple(chat.stops),
        response_format=response_format,
        user=user,
        category=category,
        preferences=Preferences(*weights),
        min_quality=min_quality,
        task_type=task_type,
        source=source,
        api_key_id=caller.api_key_id,
        team_id=caller.team_id,
        allowed_models=tuple(caller.allowed_models),
        metadata=dict(metadata),
        client_request_id=client_request_id,
        seed=chat.seed if chat.HasField("seed") else None,
        presence_penalty=chat.presence_penalty if chat.HasField("presence_penalty") else None,
        frequency_penalty=chat.frequency_penalty if chat.HasField("frequency_penalty") else None,
        fallback_models=fallback_models,
        prefill=prefill,
        extra_body=extra_body,
        cache=chat.cache if chat.HasField("cache") else None,
        front_door=front_door,
        **openai_options(chat, path),
    )


# Served.cache / StreamStarted.cache as the proto enum.
CACHE_STATUS = {
    "": router_service_pb2.CACHE_STATUS_UNSPECIFIED,
    "hit": router_service_pb2.CACHE_STATUS_HIT,
    "miss": router_service_pb2.CACHE_STATUS_MISS,
}


def finish_reason(reason: str) -> chat_pb2.FinishReason:
    """Our finish reason string as the proto enum."""
    return _FINISH.get(reason, chat_pb2.FINISH_REASON_STOP)


def attempts_to_proto(attempts: tuple[Attempt, ...]) -> list[dict[str, Any]]:
    """Attempts as the fields of proto Attempt messages, in order: a message's constructor
    fills a mapping in place, where it would copy a message built beforehand."""
    out = []
    for a in attempts:
        fields = {
            "number": a.number,
            "model": a.model,
            "provider": a.provider,
            "status": _ATTEMPT_STATUS[a.status],
            "error_type": a.error_type,
            "error_message": a.error_message,
            "duration": duration_fields(a.duration_s),
            "backoff": duration_fields(a.backoff_s),
            "http_status": a.http_status,
        }
        if a.ttft_s is not None:
            fields["time_to_first_token"] = duration_fields(a.ttft_s)
        out.append(fields)
    return out


def decision_to_proto(decision: Decision) -> router_service_pb2.RouteResponse:
    """A routing decision as a RouteResponse."""
    return router_service_pb2.RouteResponse(
        category=decision.category,
        category_source=decision.category_source,
        candidates=[
            router_service_pb2.Candidate(
                model=c.entry.name,
                provider=_provider(c),
                position=i,
                score=c.score,
                reason=c.reason,
                quality=prediction_to_pb(c.quality) if c.quality is not None else None,
                deployment=c.deployment,
            )
            for i, c in enumerate(decision.candidates)
        ],
        min_quality=decision.min_quality,
        predictor_embedding_model=decision.predictor_embedding_model,
        skipped_models=[
            router_service_pb2.SkippedModel(
                model=s.model,
                reason=f"SKIP_REASON_{s.reason}",
                detail=s.detail,
            )
            for s in decision.skipped
        ],
        estimated_prompt_tokens=decision.estimated_prompt_tokens,
    )


def _provider(candidate: Candidate) -> str:
    """The provider of the candidate's first attempt: its deployment's (README, "Deployments"),
    else the model's."""
    for deployment in candidate.deployments:
        if deployment.deployment == candidate.deployment:
            return deployment.provider.name
    return candidate.entry.provider.name


def usage_to_proto(usage: TokenUsage, cost_usd: float) -> dict[str, Any]:
    """Token counts and cost as the fields of a proto Usage (see :func:`attempts_to_proto`)."""
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "cost_usd": cost_usd,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
    }


def complete_response(served: Served) -> router_service_pb2.CompleteResponse:
    """A served completion as a CompleteResponse."""
    completion = served.completion
    return router_service_pb2.CompleteResponse(
        id=served.request_id,
        model=served.entry.name,
        provider=served.entry.provider.name,
        message={
            "role": chat_pb2.ROLE_ASSISTANT,
            "content": completion.content,
            "tool_calls": [
                {"id": c.id, "name": c.name, "arguments": c.arguments}
                for c in completion.tool_calls
            ],
            "refusal": completion.refusal,
        },
        logprobs_json=completion.logprobs_json,
        service_tier=completion.service_tier,
        system_fingerprint=completion.system_fingerprint,
        reasoning_content=completion.reasoning_content,
        finish_reason=finish_reason(completion.finish_reason),
        usage=usage_to_proto(completion.usage, served.cost_usd),
        attempts=attempts_to_proto(served.attempts),
        category=served.decision.category,
        create_time=timestamp_fields(served.create_time),
        fallback=served.fallback,
        trace_id=served.trace_id,
        cache=CACHE_STATUS[served.cache],
    )
