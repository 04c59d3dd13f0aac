"""A request's fallback models: OpenRouter's ``models`` and LiteLLM's ``fallbacks``.

Both name models to try, in order, when ``model`` fails; they become the router's
``ChatRequest.fallback_models``, which replace the model's configured fallbacks.

* ``models`` (OpenRouter, "Model Fallbacks": an array of model ids in priority order): ``model``
  is tried first, then each entry; entries equal to ``model`` are dropped, since OpenRouter
  clients often list the primary again.
* ``fallbacks`` (LiteLLM, "Client-Side Fallbacks": ``"fallbacks": ["gpt-3.5-turbo"]``): model
  names, or objects holding only ``model`` (the shape OpenRouter's Messages API and others use).
  LiteLLM's per-fallback overrides (``messages`` and other keys beside ``model``) are refused.

A request may carry one of the two, an array of at most ``FALLBACK_MODELS_MAX`` entries.
Whether a name exists is the router's question: it answers INVALID_ARGUMENT naming
``chat.fallback_models[i]``, which :func:`client_param` turns back into the body's path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from gateway.errors import InvalidRequest
from gateway.validate import check_length, describe, expect_list, expect_str, join, required
from llmrouter import field_limits

__all__ = ["client_param", "parse_fallbacks"]

# The router's names for the fields, in BadRequest field violations.
_ROUTER_FALLBACK: Final = re.compile(r"chat\.fallback_models\[(\d+)\]")
_ROUTER_MODEL: Final = "chat.model"
# Refusals the router names by their path in the body, behind "chat.".
_BODY_PATHS: Final = (
    "chat.messages[",
    "chat.tools[",
    "chat.response_format.",
    "chat.stream_options.",
)
# ChatRequest fields named as in the body (chat.reasoning_effort -> reasoning_effort).
_SAME_NAME: Final = frozenset(
    (
        "frequency_penalty",
        "logprobs",
        "max_completion_tokens",
        "parallel_tool_calls",
        "presence_penalty",
        "reasoning_effort",
        "response_format",
        "seed",
        "service_tier",
        "tool_choice",
        "top_logprobs",
    )
)


def parse_fallbacks(obj: Mapping[str, Any], model: str) -> tuple[list[str], tuple[str, ...]]:
    """The fallback model names of body ``obj`` and, for each, its path in the body
    (``models[2]``); raises InvalidRequest naming the field."""
    models, fallbacks = obj.get("models"), obj.get("fallbacks")
    if models is not None and fallbacks is not None:
        raise InvalidRequest(
            "Give either 'models' (OpenRouter) or 'fallbacks' (LiteLLM), not both.", "fallbacks"
        )
    param, value = ("models", models) if models is not None else ("fallbacks", fallbacks)
    if value is None:
        return [], ()
    listed = expect_list(value, param)
    if len(listed) > field_limits.FALLBACK_MODELS_MAX:
        raise InvalidRequest(
            f"Invalid '{param}': array too long. Expected an array with maximum length "
            f"{field_limits.FALLBACK_MODELS_MAX}, but got an array with length {len(listed)} "
            "instead.",
            param,
            code="array_above_max_length",
        )
    names, paths = [], []
    for i, item in enumerate(listed):
        path = join(param, i)
        name, path = (expect_str(item, path), path) if param == "models" else _fallback(item, path)
        if not name:
            raise InvalidRequest(f"Invalid '{path}': empty string. Expected a model name.", path)
        check_length(name, path, field_limits.MODEL_NAME_MAX_CHARS)
        if name != model:  # OpenRouter clients often list the primary model again
            names.append(name)
            paths.append(path)
    return names, tuple(paths)


def _fallback(value: Any, param: str) -> tuple[str, str]:
    """One ``fallbacks`` entry: a name, or ``{"model": name}``; (name, its path)."""
    if isinstance(value, str):
        return value, param
    if isinstance(value, dict):
        for key in value:
            if key != "model":
                path = join(param, key)
                raise InvalidRequest(
                    f"Invalid '{path}': per-fallback overrides are not supported; a fallback "
                    "names only a 'model'.",
                    path,
                )
        path = join(param, "model")
        return expect_str(required(value, "model", param), path), path
    raise InvalidRequest(
        f"Invalid type for '{param}': expected a model name (a string) or an object with "
        f"'model', but got {describe(value)} instead.",
        param,
    )


def client_param(router_field: str | None, fallback_params: tuple[str, ...]) -> str | None:
    """The body path of a field the router named (``chat.fallback_models[1]`` ->
    ``fallbacks[1]``, ``chat.model`` -> ``model``); other fields are returned as they are."""
    if router_field == _ROUTER_MODEL:
        return "model"
    if router_field and router_field.removeprefix("chat.") in _SAME_NAME:
        return router_field.removeprefix("chat.")
    if router_field and router_field.startswith(_BODY_PATHS):
        # A provider kind's refusal of one message, part or tool field, named as in the body
        # (chat.messages[1].name -> messages[1].name).
        return router_field.removeprefix("chat.")
    if router_field and router_field.startswith("chat.extra_body"):
        # The body's llmrouter.extra_body (ChatRequest.extra_body_json), or one key of it.
        rest = router_field.removeprefix("chat.extra_body").removeprefix("_json")
        return f"llmrouter.extra_body{rest}"
    found = _ROUTER_FALLBACK.fullmatch(router_field or "")
    if found is not None and int(found.group(1)) < len(fallback_params):
        return fallback_params[int(found.group(1))]
    return router_field
