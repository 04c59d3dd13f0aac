"""Runtime admin changes are overlays on the config file: each value says where it comes from,
a restart keeps them, and what the config file adds later still shows."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from llmrouter.v1 import router_admin_service_pb2 as admin_pb
from llmrouter.v1 import router_admin_service_pb2_grpc, router_service_pb2
from router_svc.config import CategoryConfig
from tests.fakes import FakeUpstream
from tests.pg import fresh_pg_database

from .conftest import model
from .test_admin import chat

MODELS = (model("a"), model("b", "anth"), model("c", "olla"))
CONFIG = admin_pb.VALUE_SOURCE_CONFIG
RUNTIME = admin_pb.VALUE_SOURCE_RUNTIME
LEGAL = "please review this contract clause " * 30


async def admin_of(make_router: Any, **overrides: Any) -> tuple[Any, Any, Any]:
    running, stub = await make_router(MODELS, ("a", "b", "c"), **overrides)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    return running, stub, router_admin_service_pb2_grpc.RouterAdminServiceStub(channel)


async def categories(admin: Any) -> list[tuple[str, list[str], int]]:
    listed = await admin.ListCategories(admin_pb.ListCategoriesRequest())
    return [(c.name, list(c.chain), c.source) for c in listed.categories]


async def switches(admin: Any) -> dict[str, tuple[bool, int]]:
    listed = await admin.ListModelHealth(admin_pb.ListModelHealthRequest())
    return {m.model: (m.enabled, m.enabled_source) for m in listed.models}


def category(name: str, *chain: str, keywords: tuple[str, ...] = ()) -> CategoryConfig:
    return CategoryConfig(name=name, chain=chain, keywords=keywords)


async def test_each_value_says_whether_config_or_runtime(
    make_router: Any, upstream: FakeUpstream
) -> None:
    _, _, admin = await admin_of(make_router, categories=(category("code", "a"),))
    assert await switches(admin) == {"a": (True, CONFIG), "b": (True, CONFIG), "c": (True, CONFIG)}
    assert await categories(admin) == [("code", ["a"], CONFIG)]
    providers = (await admin.ListProviders(admin_pb.ListProvidersRequest())).providers
    assert [(p.name, p.kind, p.base_url_source) for p in providers] == [
        ("oai", "openai", CONFIG),
        ("anth", "anthropic", CONFIG),
        ("olla", "ollama", CONFIG),
    ]
    assert providers[2].base_url == upstream.base_url

    changed = await admin.SetModelEnabled(admin_pb.SetModelEnabledRequest(model="b", enabled=False))
    assert [(m.model, m.enabled, m.enabled_source) for m in changed.models] == [
        ("b", False, RUNTIME)
    ]
    created = await admin.CreateCategory(
        admin_pb.CreateCategoryRequest(category=admin_pb.Category(name="legal", chain=["c"]))
    )
    assert created.category.source == RUNTIME
    moved = await admin.SetProviderBaseUrl(
        admin_pb.SetProviderBaseUrlRequest(provider="olla", base_url=f"{upstream.base_url}/x")
    )
    assert moved.base_url_source == RUNTIME

    assert await switches(admin) == {
        "a": (True, CONFIG),
        "b": (False, RUNTIME),
        "c": (True, CONFIG),
    }
    assert await categories(admin) == [("code", ["a"], CONFIG), ("legal", ["c"], RUNTIME)]
    providers = (await admin.ListProviders(admin_pb.ListProvidersRequest())).providers
    assert [p.base_url_source for p in providers] == [CONFIG, CONFIG, RUNTIME]


async def test_a_category_added_to_the_config_appears_after_runtime_edits(
    make_router: Any,
) -> None:
    """Runtime: code edited, chat deleted, legal created. The config file then gains
    translation: after a restart all four runtime decisions hold and translation is there."""
    first = (category("code", "a"), category("chat", "b"))
    running, _, admin = await admin_of(make_router, categories=first)
    await admin.UpdateCategory(
        admin_pb.UpdateCategoryRequest(category=admin_pb.Category(name="code", chain=["c", "a"]))
    )
    await admin.DeleteCategory(admin_pb.DeleteCategoryRequest(name="chat"))
    await admin.CreateCategory(
        admin_pb.CreateCategoryRequest(
            category=admin_pb.Category(name="legal", chain=["c"], keywords=["contract"])
        )
    )
    await admin.SetModelEnabled(admin_pb.SetModelEnabledRequest(model="a", enabled=False))
    await running.stop(grace=0)

    edited = (*first, category("translation", "b", keywords=("translate",)))
    _, stub, admin = await admin_of(make_router, categories=edited)  # same admin store
    assert await categories(admin) == [
        ("code", ["c", "a"], RUNTIME),
        ("translation", ["b"], CONFIG),
        ("legal", ["c"], RUNTIME),
    ]
    assert (await switches(admin))["a"] == (False, RUNTIME)
    decision = await stub.Route(router_service_pb2.RouteRequest(chat=chat("translate this " * 40)))
    assert decision.category == "translation"
    decision = await stub.Route(router_service_pb2.RouteRequest(chat=chat(LEGAL)))
    assert decision.category == "legal"


async def test_deleting_a_runtime_category_lets_a_config_one_of_that_name_show(
    make_router: Any,
) -> None:
    running, _, admin = await admin_of(make_router, categories=(category("code", "a"),))
    await admin.CreateCategory(
        admin_pb.CreateCategoryRequest(category=admin_pb.Category(name="legal", chain=["c"]))
    )
    await admin.DeleteCategory(admin_pb.DeleteCategoryRequest(name="legal"))
    await running.stop(grace=0)
    _, _, admin = await admin_of(
        make_router, categories=(category("code", "a"), category("legal", "b"))
    )
    assert await categories(admin) == [("code", ["a"], CONFIG), ("legal", ["b"], CONFIG)]


async def test_an_overlay_that_no_longer_fits_the_config_is_ignored(
    make_router: Any, caplog: pytest.LogCaptureFixture
) -> None:
    running, _, admin = await admin_of(make_router, categories=(category("code", "a"),))
    await admin.UpdateCategory(
        admin_pb.UpdateCategoryRequest(category=admin_pb.Category(name="code", chain=["c"]))
    )
    await running.stop(grace=0)
    with caplog.at_level(logging.WARNING, logger="router_svc.admin"):
        running, _ = await make_router(
            (model("a"), model("b", "anth")), ("a", "b"), categories=(category("code", "a"),)
        )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    admin = router_admin_service_pb2_grpc.RouterAdminServiceStub(channel)
    assert await categories(admin) == [("code", ["a"], CONFIG)]  # model c is gone
    assert any("category 'code' ignored" in r.getMessage() for r in caplog.records)
    await channel.close()


async def test_the_state_file_of_earlier_releases_is_imported_once(
    make_router: Any, tmp_path: Path
) -> None:
    (tmp_path / "state.json").write_text(
        json.dumps(
            {
                "version": 1,
                "enabled": {"b": False},
                "categories": [
                    {"name": "code", "chain": ["c"], "keywords": []},
                    {"name": "legal", "chain": ["a"], "keywords": ["contract"]},
                ],
            }
        )
    )
    config = (category("code", "a"), category("chat", "b"))
    running, _, admin = await admin_of(make_router, categories=config)
    assert await categories(admin) == [("code", ["c"], RUNTIME), ("legal", ["a"], RUNTIME)]
    assert (await switches(admin))["b"] == (False, RUNTIME)
    events = (await admin.ListAuditEvents(admin_pb.ListAuditEventsRequest())).events
    assert [(e.action, e.actor) for e in events] == [("import_state_file", "router")]
    # Changed afterwards, then restarted: the file is not imported over the change again.
    await admin.SetModelEnabled(admin_pb.SetModelEnabledRequest(model="b", enabled=True))
    await running.stop(grace=0)
    _, _, admin = await admin_of(make_router, categories=config)
    assert (await switches(admin))["b"] == (True, RUNTIME)


@pytest.mark.postgres
async def test_a_lost_database_refuses_changes_and_keeps_serving(make_router: Any) -> None:
    async with fresh_pg_database("llmrouter_admin") as url:
        _, stub, admin = await admin_of(make_router, admin_database_url=url)
        await admin.SetModelEnabled(admin_pb.SetModelEnabledRequest(model="a", enabled=False))
        # The database goes away under the router (dropped by the fixture's own connection).
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await admin.SetModelEnabled(admin_pb.SetModelEnabledRequest(model="a", enabled=True))
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    status = rpc_status.from_call(info.value)
    assert status is not None
    reasons = []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            found = error_details_pb2.ErrorInfo()
            detail.Unpack(found)
            reasons.append(found.reason)
    assert reasons == ["ADMIN_STORE_UNAVAILABLE"]
    # Serving goes on with what was applied: a stays off.
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    assert reply.model == "b"
    assert (await switches(admin))["a"] == (False, RUNTIME)


async def test_a_category_kept_out_of_the_cache_stays_out_after_runtime_edits(
    make_router: Any, upstream: FakeUpstream
) -> None:
    legal = CategoryConfig(name="legal", chain=("c",), keywords=("contract",), cache=False)
    config = (category("code", "a"), legal)

    async def upstream_calls(stub: Any, text: str, model: str) -> int:
        """Upstream calls of two identical requests that ask for the cache."""
        before = upstream.calls(model)
        for _ in range(2):
            request = chat(text)
            request.cache = True
            await stub.Complete(router_service_pb2.CompleteRequest(chat=request))
        return upstream.calls(model) - before

    running, stub, admin = await admin_of(make_router, categories=config)
    assert await upstream_calls(stub, "fix this python code " * 20, "a") == 1  # cached
    assert await upstream_calls(stub, LEGAL, "c") == 2
    await admin.UpdateCategory(
        admin_pb.UpdateCategoryRequest(
            category=admin_pb.Category(name="legal", chain=["c", "a"], keywords=["contract"])
        )
    )
    assert await categories(admin) == [("code", ["a"], CONFIG), ("legal", ["c", "a"], RUNTIME)]
    # The admin API shows each category's flag, the edited one's kept.
    listed = await admin.ListCategories(admin_pb.ListCategoriesRequest())
    assert [(c.name, c.cache) for c in listed.categories] == [("code", True), ("legal", False)]
    assert await upstream_calls(stub, LEGAL + " again", "c") == 2
    # Deleted, then created again under its name: the config file's flag, not the default.
    await admin.DeleteCategory(admin_pb.DeleteCategoryRequest(name="legal"))
    await admin.CreateCategory(
        admin_pb.CreateCategoryRequest(
            category=admin_pb.Category(name="legal", chain=["c"], keywords=["contract"])
        )
    )
    assert await upstream_calls(stub, LEGAL + " once more", "c") == 2
    await admin.UpdateCategory(
        admin_pb.UpdateCategoryRequest(
            category=admin_pb.Category(name="code", chain=["a", "b"], keywords=["python"])
        )
    )
    await running.stop(grace=0)

    # A restart (and so any other replica) reads the flag from the store.
    _, stub, admin = await admin_of(make_router, categories=config)
    assert await upstream_calls(stub, LEGAL + " after a restart", "c") == 2
    assert await upstream_calls(stub, "fix this python code after a restart", "a") == 1
