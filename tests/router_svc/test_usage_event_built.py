"""The usage event is built in one place, from the attempt (routing/outcome.py usage_event):
a UsageEvent field added with a default and forgotten there would silently stay at its default
in every ledger row, so this test reads that one call and fails when it misses a field."""

from __future__ import annotations

import ast
import dataclasses
import inspect

from router_svc.routing import outcome
from router_svc.usage import UsageEvent


def test_usage_event_sets_every_field_of_the_event() -> None:
    tree = ast.parse(inspect.getsource(outcome.usage_event))
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "UsageEvent"
    ]
    assert len(calls) == 1, "usage_event should build the event in exactly one call"
    passed = {keyword.arg for keyword in calls[0].keywords}
    # saved_cost_usd belongs to a cache hit's row, built by the response cache
    # (router_svc/cache), never by an attempt: an attempt saved nothing.
    fields = {field.name for field in dataclasses.fields(UsageEvent)} - {"saved_cost_usd"}
    assert fields - passed == set(), f"usage_event does not set {sorted(fields - passed)}"
    assert passed - fields == set()
