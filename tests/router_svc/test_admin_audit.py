"""ListAuditEvents: every admin change with who, what, before, after and when, in pages."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from llmrouter.access import API_KEY_ID_METADATA
from llmrouter.v1 import router_admin_service_pb2 as admin_pb

from .test_admin import bad_request_fields
from .test_admin_overlays import admin_of


async def test_every_change_is_recorded_and_paged_newest_first(make_router: Any) -> None:
    _, _, admin = await admin_of(make_router)
    for enabled in (False, True, False):
        await admin.SetModelEnabled(
            admin_pb.SetModelEnabledRequest(model="a", enabled=enabled),
            metadata=((API_KEY_ID_METADATA, "ops"),),
        )
    await admin.SetModelEnabled(admin_pb.SetModelEnabledRequest(provider="anth", enabled=False))
    await admin.ResetBreaker(admin_pb.ResetBreakerRequest(model="c"))

    pages: list[list[tuple[int, str, str, str]]] = []
    token = ""
    while True:
        page = await admin.ListAuditEvents(
            admin_pb.ListAuditEventsRequest(page_size=2, page_token=token)
        )
        pages.append([(e.version, e.action, e.target, e.api_key_id) for e in page.events])
        token = page.next_page_token
        if not token:
            break
    assert pages == [
        [(4, "reset_breaker", "model:c", ""), (4, "set_model_enabled", "provider:anth", "")],
        [(3, "set_model_enabled", "model:a", "ops"), (2, "set_model_enabled", "model:a", "ops")],
        [(1, "set_model_enabled", "model:a", "ops")],
    ]
    newest = (await admin.ListAuditEvents(admin_pb.ListAuditEventsRequest(page_size=5))).events
    assert (dict(newest[0].before), dict(newest[0].after)) == ({"c": "closed"}, {"c": "closed"})
    assert (dict(newest[1].before), dict(newest[1].after)) == ({"b": True}, {"b": False})
    assert (dict(newest[4].before), dict(newest[4].after)) == ({"a": True}, {"a": False})
    assert newest[0].actor == "anonymous"  # a loopback router without tokens
    times = [e.event_time.ToNanoseconds() for e in newest]
    assert times == sorted(times, reverse=True)


async def test_the_api_key_id_is_recorded_bounded(make_router: Any) -> None:
    _, _, admin = await admin_of(make_router)
    await admin.SetModelEnabled(
        admin_pb.SetModelEnabledRequest(model="a", enabled=False),
        metadata=((API_KEY_ID_METADATA, "key" + "x" * 300),),
    )
    (event,) = (await admin.ListAuditEvents(admin_pb.ListAuditEventsRequest())).events
    assert event.api_key_id == "key" + "x" * 125


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (admin_pb.ListAuditEventsRequest(page_size=-1), "page_size"),
        (admin_pb.ListAuditEventsRequest(page_token="abc"), "page_token"),
    ],
)
async def test_bad_paging_names_the_field(
    make_router: Any, request_: admin_pb.ListAuditEventsRequest, field: str
) -> None:
    _, _, admin = await admin_of(make_router)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await admin.ListAuditEvents(request_)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(info.value) == [field]
