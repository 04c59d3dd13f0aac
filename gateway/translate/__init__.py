"""HTTP JSON to the services' protobuf messages, and back.

The only gateway package that touches ``*_pb2`` types: the rest of the gateway passes the
messages built here to the stubs without looking inside.
"""

from gateway.translate import admin, requests
from gateway.translate.chat_request import ParsedRequest, parse_chat_request
from gateway.translate.chat_response import (
    AUTO_MODEL,
    ChunkStream,
    completion,
    completion_headers,
)
from gateway.translate.costs import (
    costs_json,
    fallback_events_json,
    fallback_events_request,
    provider_health_json,
    provider_health_request,
    query_costs_request,
)
from gateway.translate.models import allowed_only, list_models_request, model_json, models_list
from gateway.translate.route import route_json

__all__ = [
    "AUTO_MODEL",
    "ChunkStream",
    "ParsedRequest",
    "admin",
    "allowed_only",
    "completion",
    "completion_headers",
    "costs_json",
    "fallback_events_json",
    "fallback_events_request",
    "list_models_request",
    "model_json",
    "models_list",
    "parse_chat_request",
    "provider_health_json",
    "provider_health_request",
    "query_costs_request",
    "requests",
    "route_json",
]
