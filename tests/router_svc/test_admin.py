"""RouterAdminService over gRPC: health, switches, breaker reset, categories; persisted."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from llmrouter.v1 import chat_pb2, router_admin_service_pb2_grpc, router_service_pb2
from llmrouter.v1 import router_admin_service_pb2 as admin_pb
from router_svc.config import BreakerConfig, RetryConfig
from tests.fakes import Behavior, FakeUpstream

from .conftest import model


def chat(text: str = "hello") -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content=text)])


def bad_request_fields(error: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(error)
    fields: list[str] = []
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    return fields


MODELS = (model("a"), model("b", "anth"), model("c", "olla"))


async def admin_stub(make_router: Any, **overrides: Any) -> tuple[Any, Any, Any]:
    running, stub = await make_router(MODELS, ("a", "b", "c"), **overrides)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    return running, stub, router_admin_service_pb2_grpc.RouterAdminServiceStub(channel)


async def test_health_reflects_traffic_and_reset(make_router: Any, upstream: FakeUpstream) -> None:
    upstream.set("a", Behavior(status=503))
    _, stub, admin = await admin_stub(make_router, retry=RetryConfig(attempts_per_model=1))
    for _ in range(3):
        await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    health = {
        m.model: m for m in (await admin.ListModelHealth(admin_pb.ListModelHealthRequest())).models
    }
    assert health["a"].breaker_state == admin_pb.BREAKER_STATE_OPEN
    assert health["a"].consecutive_failures == 3
    assert health["a"].success_rate == 0
    assert health["a"].last_error_type == "UPSTREAM_UNAVAILABLE"
    assert health["a"].HasField("last_failure_time")
    assert health["a"].breaker_retry_delay.seconds > 0
    assert health["b"].breaker_state == admin_pb.BREAKER_STATE_CLOSED
    assert health["b"].success_rate == 1
    assert health["b"].HasField("ewma_latency")
    assert not health["c"].HasField("success_rate")

    reset = await admin.ResetBreaker(admin_pb.ResetBreakerRequest(model="a"))
    assert reset.model.breaker_state == admin_pb.BREAKER_STATE_CLOSED
    upstream.set("a", Behavior())
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    assert reply.model == "a"


async def test_reset_breaker_refills_the_retry_budget(
    make_router: Any, upstream: FakeUpstream
) -> None:
    """One router, requests one after another: a's failures spend its retry budget until its
    failures fail over at once; ResetBreaker makes them retried again."""
    upstream.set("a", Behavior(status=503))
    _, stub, admin = await admin_stub(
        make_router,
        retry=RetryConfig(attempts_per_model=2, backoff_base_s=0.01),
        breaker=BreakerConfig(consecutive_failures=10**6, min_calls=10**6),
    )
    walked = []
    for _ in range(3):
        reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
        walked.append([x.model for x in reply.attempts])
    # 10 tokens; each failure of a takes one; retries are refused from 5 left.
    assert walked == [["a", "a", "b"], ["a", "a", "b"], ["a", "b"]]

    await admin.ResetBreaker(admin_pb.ResetBreakerRequest(model="a"))
    upstream.set("a", Behavior(status=503), Behavior())  # fails once, then answers
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    assert [x.model for x in reply.attempts] == ["a", "a"]
    assert reply.model == "a"


async def test_disable_model_and_provider(make_router: Any, upstream: FakeUpstream) -> None:
    _, stub, admin = await admin_stub(make_router)
    changed = await admin.SetModelEnabled(admin_pb.SetModelEnabledRequest(model="a", enabled=False))
    assert [(m.model, m.enabled) for m in changed.models] == [("a", False)]
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    assert reply.model == "b"
    assert upstream.calls("a") == 0
    await admin.SetModelEnabled(admin_pb.SetModelEnabledRequest(provider="anth", enabled=False))
    decision = await stub.Route(router_service_pb2.RouteRequest(chat=chat()))
    assert [c.model for c in decision.candidates] == ["c"]
    assert {s.model: s.reason for s in decision.skipped_models} == {
        "a": router_service_pb2.SKIP_REASON_DISABLED,
        "b": router_service_pb2.SKIP_REASON_DISABLED,
    }
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await admin.SetModelEnabled(admin_pb.SetModelEnabledRequest(model="zzz", enabled=False))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_categories_crud_is_validated(make_router: Any) -> None:
    _, stub, admin = await admin_stub(make_router)
    listed = await admin.ListCategories(admin_pb.ListCategoriesRequest())
    assert [c.name for c in listed.categories] == ["tools", "code", "reasoning", "conversation"]
    assert listed.classification_mode == "keywords"

    legal = admin_pb.Category(name="legal", chain=["c", "a"], keywords=["contract", "lawsuit"])
    await admin.CreateCategory(admin_pb.CreateCategoryRequest(category=legal))
    decision = await stub.Route(
        router_service_pb2.RouteRequest(chat=chat("please review this contract clause " * 30))
    )
    assert decision.category == "legal"
    assert decision.category_source == "keywords"
    assert [c.model for c in decision.candidates] == ["c", "a"]

    bad_cases = [
        (admin_pb.Category(name="", chain=["a"]), "category.name"),
        (admin_pb.Category(name="x", chain=[]), "category.chain"),
        (admin_pb.Category(name="x", chain=["a", "nope"]), "category.chain[1]"),
        (admin_pb.Category(name="x", chain=["a"], keywords=[" "]), "category.keywords[0]"),
    ]
    for category, field in bad_cases:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await admin.CreateCategory(admin_pb.CreateCategoryRequest(category=category))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert bad_request_fields(info.value) == [field]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await admin.CreateCategory(admin_pb.CreateCategoryRequest(category=legal))
    assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS

    legal.chain[:] = ["b"]
    await admin.UpdateCategory(admin_pb.UpdateCategoryRequest(category=legal))
    decision = await stub.Route(
        router_service_pb2.RouteRequest(chat=chat("please review this contract clause " * 30))
    )
    assert [c.model for c in decision.candidates] == ["b"]
    await admin.DeleteCategory(admin_pb.DeleteCategoryRequest(name="legal"))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await admin.DeleteCategory(admin_pb.DeleteCategoryRequest(name="legal"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_changes_survive_a_restart(make_router: Any) -> None:
    running, _, admin = await admin_stub(make_router)
    await admin.SetModelEnabled(admin_pb.SetModelEnabledRequest(model="b", enabled=False))
    await admin.CreateCategory(
        admin_pb.CreateCategoryRequest(category=admin_pb.Category(name="legal", chain=["c"]))
    )
    await running.stop(grace=0)
    _, _, admin2 = await admin_stub(make_router)  # same state_path
    health = {
        m.model: m.enabled
        for m in (await admin2.ListModelHealth(admin_pb.ListModelHealthRequest())).models
    }
    assert health == {"a": True, "b": False, "c": True}
    names = [
        c.name for c in (await admin2.ListCategories(admin_pb.ListCategoriesRequest())).categories
    ]
    assert names[-1] == "legal"
