"""OpenAI's embeddings JSON <-> RouterService.Embed (validated on the way).

OpenAI API reference, "Embeddings" > "Create embeddings" (``POST /v1/embeddings``):

* request: ``input`` (a string or an array of strings; not empty, no empty string), ``model``,
  optional ``dimensions`` (at least 1), ``encoding_format`` (``float``, the API's default, or
  ``base64``) and ``user``; plus llmrouter's ``metadata``, ``models`` / ``fallbacks`` and
  ``llmrouter`` object (``category``, ``task_type``, ``source``) as on chat completions. Arrays
  of token ids are refused (400 naming ``input``): the router's upstreams take text. Other
  keys are refused naming them.
* answer, "The embedding object": ``{"object": "list", "data": [{"object": "embedding",
  "index", "embedding"}], "model", "usage": {"prompt_tokens", "total_tokens"}}``. With
  ``encoding_format: "base64"`` each embedding is the base64 of its float32 values,
  little-endian: what the official ``openai`` SDK asks for by default and decodes
  (openai-python ``resources/embeddings.py``: ``np.frombuffer(base64.b64decode(data),
  dtype="float32")``, or ``array.array("f")`` without numpy).
"""

from __future__ import annotations

import base64
import sys
from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import grpc

from gateway.errors import InvalidRequest, UpstreamError, from_rpc_error
from gateway.translate.fallbacks import client_param, parse_fallbacks
from gateway.validate import (
    check_length,
    expect_int,
    expect_one_of,
    expect_str,
    expect_string_map,
    join,
    optional_object,
    optional_str,
    required,
)
from llmrouter import field_limits
from llmrouter.chat_rules import Range
from llmrouter.request_ids import REQUEST_ID_PATTERN
from llmrouter.v1 import router_service_pb2

__all__ = [
    "EMBEDDINGS",
    "ParsedEmbeddings",
    "embedding_headers",
    "embeddings_json",
    "parse_embeddings_request",
]

# UsageRecord.front_door of this door.
EMBEDDINGS: Final = "embeddings"
# OpenAI's keys, then llmrouter's (as on chat completions).
_FIELDS: Final = frozenset(
    (
        "input",
        "model",
        "dimensions",
        "encoding_format",
        "user",
        "metadata",
        "models",
        "fallbacks",
        "llmrouter",
    )
)
_ROUTER_KEYS: Final = ("category", "task_type", "source")
_FORMATS: Final = ("float", "base64")
_DIMENSIONS: Final = Range(1, 2**31 - 1)
# The router names its fields under "embed."; the body has them at the top.
_ROUTER_PATHS: Final = {"embed.model": "model", "embed.dimensions": "dimensions"}
_LITTLE_ENDIAN: Final = sys.byteorder == "little"


@dataclass(frozen=True)
class ParsedEmbeddings:
    """A validated embeddings request: the router's request, how to encode the vectors, and
    each fallback's path in the body."""

    embed: router_service_pb2.EmbedRequest
    encoding_format: str
    fallback_params: tuple[str, ...] = ()
    # The inputs came as one string (not an array): error messages name ``input`` itself.
    single: bool = False

    def router_error(self, exc: grpc.RpcError) -> UpstreamError:
        """The router's error, a field it names given as the body's path (``embed.inputs[2]``
        -> ``input[2]``, ``embed.fallback_models[0]`` -> ``fallbacks[0]``)."""
        error = from_rpc_error(exc)
        field = error.param or ""
        if field in _ROUTER_PATHS:
            error.param = _ROUTER_PATHS[field]
        elif field.startswith("embed.inputs"):
            rest = field.removeprefix("embed.inputs")
            error.param = "input" if self.single else f"input{rest}"
        elif field.startswith("embed.fallback_models"):
            param = client_param(field.replace("embed.", "chat.", 1), self.fallback_params)
            if param in self.fallback_params:
                error.message = f"Invalid '{param}': {error.message}."
            error.param = param
        return error


def parse_embeddings_request(
    body: Any,
    *,
    client_request_id: str = "",
    source: str | None = None,
    api_key_id: str | None = None,
    team_id: str = "",
) -> ParsedEmbeddings:
    """Validate a decoded ``/v1/embeddings`` body; InvalidRequest naming the parameter.

    ``source``, ``api_key_id``, ``team_id`` and ``client_request_id`` as for chat completions
    (:func:`gateway.translate.chat_request.parse_chat_request`)."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.", None)
    obj: dict[str, Any] = body
    for key in obj:
        if key not in _FIELDS:
            raise InvalidRequest(f"Unrecognized request argument supplied: '{key}'.", key)
    embed = router_service_pb2.EmbedRequest(
        client_request_id=client_request_id, front_door=EMBEDDINGS
    )
    embed.model = expect_str(required(obj, "model"), "model", non_empty=True)
    fallbacks, fallback_params = parse_fallbacks(obj, embed.model)
    embed.fallback_models.extend(fallbacks)
    raw = required(obj, "input")
    single = isinstance(raw, str)
    embed.inputs.extend(_inputs(raw))
    if (dimensions := obj.get("dimensions")) is not None:
        embed.dimensions = expect_int(dimensions, "dimensions", _DIMENSIONS)
    encoding = "float"
    if (given := optional_str(obj, "encoding_format")) is not None:
        encoding = expect_one_of(given, "encoding_format", _FORMATS)
    if (user := optional_str(obj, "user")) is not None:
        embed.user = check_length(user, "user", field_limits.USER_MAX_CHARS)
    if obj.get("metadata") is not None:
        embed.metadata.update(
            expect_string_map(
                obj["metadata"],
                "metadata",
                max_pairs=field_limits.METADATA_MAX_PAIRS,
                max_key_length=field_limits.METADATA_KEY_MAX_CHARS,
                max_value_length=field_limits.METADATA_VALUE_MAX_CHARS,
            )
        )
    # The caller as on chat completions (the body's llmrouter.source, read after, wins).
    if source:
        embed.caller.source = check_length(
            source.strip(), "X-LLMRouter-Source", field_limits.SOURCE_MAX_CHARS
        )
    embed.caller.api_key_id = api_key_id or ""
    embed.caller.team_id = team_id
    if (extension := optional_object(obj, "llmrouter")) is not None:
        _router_extension(extension, embed)
    return ParsedEmbeddings(embed, encoding, fallback_params, single)


def _inputs(raw: Any) -> list[str]:
    """``input`` as texts: a string, or an array of non-empty strings (not token ids)."""
    if isinstance(raw, str):
        if not raw:
            raise InvalidRequest(
                "Invalid 'input': empty string. Expected a non-empty string.", "input"
            )
        return [raw]
    if not isinstance(raw, list):
        raise InvalidRequest(
            "Invalid type for 'input': expected a string or an array of strings.", "input"
        )
    if not raw:
        raise InvalidRequest(
            "Invalid 'input': empty array. Expected an array with minimum length 1.", "input"
        )
    texts = []
    for i, item in enumerate(raw):
        if isinstance(item, int | list) and not isinstance(item, bool):
            raise InvalidRequest(
                "Invalid 'input': arrays of token ids are not supported by llmrouter; send the "
                "text (a string or an array of strings).",
                "input",
            )
        texts.append(expect_str(item, join("input", i), non_empty=True))
    return texts


def _router_extension(ext: Mapping[str, Any], embed: router_service_pb2.EmbedRequest) -> None:
    """The ``llmrouter`` object (category, task_type, source); strict, as on chat."""
    for key in ext:
        if key not in _ROUTER_KEYS:
            raise InvalidRequest(f"Unrecognized parameter: 'llmrouter.{key}'.", f"llmrouter.{key}")
    if (category := optional_str(ext, "category", "llmrouter")) is not None:
        embed.routing.category = check_length(
            category, "llmrouter.category", field_limits.CATEGORY_MAX_CHARS
        )
    if (task_type := optional_str(ext, "task_type", "llmrouter")) is not None:
        embed.routing.task_type = check_length(
            task_type, "llmrouter.task_type", field_limits.TASK_TYPE_MAX_CHARS
        )
    if (source := optional_str(ext, "source", "llmrouter")) is not None:
        embed.caller.source = check_length(
            source, "llmrouter.source", field_limits.SOURCE_MAX_CHARS
        )


def embeddings_json(
    response: router_service_pb2.EmbedResponse, encoding_format: str
) -> dict[str, Any]:
    """OpenAI's embeddings list for ``response``, each vector as floats or as base64."""
    encode = _base64 if encoding_format == "base64" else _floats
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": e.index, "embedding": encode(e.values)}
            for e in response.embeddings
        ],
        "model": response.model,
        "usage": {
            "prompt_tokens": response.usage.prompt_tokens,
            "total_tokens": response.usage.prompt_tokens,
        },
    }


def embedding_headers(response: router_service_pb2.EmbedResponse) -> dict[str, str]:
    """The ``x-llmrouter-*`` headers of an answer, as chat completions' (who served it, after
    how many attempts) plus the upstream calls its inputs took, and ``x-request-id``: the id
    the router gave it (its usage records' request_id)."""
    headers = {
        # Registry names, which the config allows to be any text: only header-safe ones.
        **{
            f"x-llmrouter-{name}": value
            for name, value in (("model", response.model), ("provider", response.provider))
            if value.isascii() and value.isprintable()
        },
        "x-llmrouter-attempts": str(len(response.attempts)),
        "x-llmrouter-fallback": "true" if response.fallback else "false",
        "x-llmrouter-upstream-calls": str(response.upstream_calls),
    }
    if REQUEST_ID_PATTERN.fullmatch(response.request_id):
        headers["x-request-id"] = response.request_id
    return headers


def _floats(values: Any) -> list[float]:
    return list(values)


def _base64(values: Any) -> str:
    """The float32 values, little-endian, as base64."""
    packed = array("f", values)
    if not _LITTLE_ENDIAN:  # pragma: no cover - every platform we ship on is little-endian
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")
