"""Schemathesis hooks for fuzzing the gateway.

Use: ``SCHEMATHESIS_HOOKS=tests.gateway.schemathesis_hooks st run http://.../openapi.json``.

OpenAPI cannot state rules that tie two values together, so schemathesis's "schema-valid request
rejected" check (ST202, positive_data_acceptance) fires when a generated request breaks one of
them. This drops exactly those rejections, recognised by the parameter the gateway names, and
nothing else: every other failure (5xx above all) still fails the run.

The rules (each also documented in /openapi.json):
- a budget's ``rolling_seconds`` with ``period`` "rolling" and only then, at least one of
  ``soft_usd`` and ``hard_usd``, and ``soft_usd`` not above ``hard_usd`` (admin keys and
  teams); a key's or team's ``name`` printable (Unicode's rule, which a pattern cannot state);
- ``since`` and ``start`` together (``/v1/costs``, ``/v1/usage``);
- a window whose ``end`` is not after its start;
- two tools with the same ``function.name``;
- a ``tool_choice`` function that is not among ``tools``;
- on ``/v1/messages``: two tools with the same ``name``, a ``tool_choice`` ``tool`` not among
  ``tools``, a ``tool_choice`` ``any`` without tools (Anthropic's error body has no ``param``:
  its message starts with the field's path);
- on ``/v1/responses``: two tools with the same ``name``, a ``tool_choice`` function not among
  ``tools``;
- a category update whose body names another category than its path.

And one that depends on data, not on the schema (on a real stack, where the metrics service
looks prices up): a ``reference_model`` the price catalogue does not know; and a category chain
naming a model the router does not know (``chain[i]``), or a chat request's fallback naming one
(``models[i]``, ``fallbacks[i]``, ``fallbacks[i].model``), or a key's allowed model or
category naming one it does not know; and a chat request that no configured
model can take (too long for every context window, or images for a model without vision); and a
``page_token`` the metrics service did not issue (only it makes them).
"""

from __future__ import annotations

import re
from typing import Any

import schemathesis

_CROSS_FIELD_PARAMS = re.compile(
    r"since|end|tools\[\d+\]\.function\.name|tool_choice\.function\.name|reference_model"
    r"|chain\[\d+\]|name|models\[\d+\]|fallbacks\[\d+\](?:\.model)?|page_token"
    r"|budgets\[\d+\]\.(?:rolling_seconds|hard_usd|soft_usd)|expire_time|id|model"
    r"|allowed_(?:categories|models)\[\d+\]"
    r"|tools\[\d+\]\.name|tool_choice\.name|tool_choice\.type"
)
_CROSS_FIELD_MESSAGES = re.compile(
    r"Give either 'start' or 'since'|it must be later than the start|duplicate tool name"
    r"|no function named|no prices known for|unknown model|cannot be renamed|does not exist"
    r"|no tool named|needs at least one tool"
    r"|is not a page token of this list"
    r"|only a rolling budget has a window|must be in the future|is revoked"
    r"|set soft_usd, hard_usd or both|soft_usd must not exceed hard_usd"
    r"|a rolling budget needs a window|unknown category|unknown model"
    r"|name must be 1-100 printable characters"
    r"|is a chat model; embeddings need an embedding model"
)
# Anthropic's error message: "<path>: <what is wrong>".
_ANTHROPIC_PARAM = re.compile(r"([A-Za-z_][\w.\[\]]*): ")

# (error code: message) of rejections that depend on the configured models.
_DATA_DEPENDENT = re.compile(
    r"(?:context_length_exceeded|invalid_request|None): .*can take this request"
    r"|.*: the upstream answered HTTP 400: A maximum of 4 blocks with cache_control"
)


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but a 400 that names a cross-parameter rule."""
    if getattr(failure, "code", None) != "ST202" or response.status_code != 400:
        return True
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return True
    param, message = error.get("param") or "", error.get("message") or ""
    if response.json().get("type") == "error" and (found := _ANTHROPIC_PARAM.match(message)):
        param = found.group(1)
    if _DATA_DEPENDENT.match(f"{error.get('code')}: {message}"):
        return False
    return not (_CROSS_FIELD_PARAMS.fullmatch(param) and _CROSS_FIELD_MESSAGES.search(message))
