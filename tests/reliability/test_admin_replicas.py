"""Admin state shared by router replicas and kept across restarts, with real processes.

Three router processes share one admin store (a SQLite file, or a PostgreSQL database) and
one Redis. A model switched off through one replica's admin RPC is skipped by every replica
within a second (the change is announced on Redis pub/sub; the periodic resync is set to 30 s
so it cannot be what delivers it). Every router is then restarted, once with a category
added to the config file: the switch, the runtime category and the audit log are intact, the
new category is there, and each value says where it comes from.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest

from llmrouter.v1 import (
    chat_pb2,
    router_admin_service_pb2_grpc,
    router_service_pb2,
    router_service_pb2_grpc,
)
from llmrouter.v1 import router_admin_service_pb2 as admin_pb
from tests.fakes import FakeUpstream, running_upstream
from tests.pg import fresh_pg_database

from .stack import Stack, metrics_section, openai_models, router_section, stack

REPLICAS = 3
# What "every replica within one second" allows per replica, measured from the RPC's answer.
PUSH_WITHIN_S = 1.0
CODE_CHAT = "please fix this python function " * 20


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with running_upstream() as started:
        yield started


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def admin_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The admin store every replica shares."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/admin.sqlite3"
        return
    async with fresh_pg_database("llmrouter_replicas") as url:
        yield url


def router_config(
    tmp: Path,
    name: str,
    metrics_port: int,
    upstream: FakeUpstream,
    admin_url: str,
    *,
    state: str,
    resync_s: float,
    extra_categories: str = "",
) -> str:
    body = f"""admin_database_url = "{admin_url}"
admin_resync_interval_s = {resync_s}
default_chain = ["m1", "m2"]
{openai_models("up", upstream.base_url, ["m1", "m2"])}
[[router.categories]]
name = "code"
chain = ["m1", "m2"]
keywords = ["python"]
{extra_categories}
{state}
"""
    return router_section(tmp, name, metrics_port, body)


def redis_state() -> str:
    # A prefix of its own: parallel runs never hear each other's announcements.
    return (
        '[state]\nbackend = "redis"\nredis_url = "redis://127.0.0.1:6379/0"\n'
        f'key_prefix = "llmrouter-test:{uuid.uuid4().hex}:"\n'
    )


def chat(text: str = CODE_CHAT) -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content=text)])


async def candidates(port: int) -> list[str]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = router_service_pb2_grpc.RouterServiceStub(channel)
        decision = await stub.Route(router_service_pb2.RouteRequest(chat=chat()), timeout=5)
    return [c.model for c in decision.candidates]


@asynccontextmanager
async def admin(port: int) -> AsyncIterator[router_admin_service_pb2_grpc.RouterAdminServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield router_admin_service_pb2_grpc.RouterAdminServiceStub(channel)


async def switch_off_m1(port: int) -> None:
    async with admin(port) as stub:
        await stub.SetModelEnabled(admin_pb.SetModelEnabledRequest(model="m1", enabled=False))


async def seconds_until(port: int, began: float, within_s: float) -> float:
    """Seconds from ``began`` until replica ``port`` routes without m1."""
    deadline = began + within_s + 2.0  # keep looking a little past the bound, to measure
    while time.monotonic() < deadline:
        if "m1" not in await candidates(port):
            return time.monotonic() - began
        await asyncio.sleep(0.01)
    return float("inf")


async def logged(running: Stack, name: str, text: str, within_s: float = 10.0) -> None:
    """Wait until process ``name`` has logged ``text`` (the line after "listening on")."""
    deadline = time.monotonic() + within_s
    while text not in running.services[name].log():
        assert time.monotonic() < deadline, running.services[name].log()
        await asyncio.sleep(0.05)


async def start_routers(
    running: Stack, tmp: Path, ports: list[int], config: dict[str, str]
) -> None:
    """The first replica alone (it migrates a new store), then the others at once."""
    await running.start("router0", "router", config["router0"], port=ports[0])
    await asyncio.gather(
        *(
            running.start(f"router{i}", "router", config[f"router{i}"], port=port)
            for i, port in enumerate(ports)
            if i > 0
        )
    )


async def test_a_switch_reaches_every_replica_within_a_second_and_survives_restarts(
    tmp_path: Path, upstream: FakeUpstream, admin_url: str
) -> None:
    state = redis_state()
    async with stack(tmp_path) as running:
        metrics = await running.start("metrics", "metrics", metrics_section(tmp_path))

        def configs(extra: str = "") -> dict[str, str]:
            return {
                f"router{i}": router_config(
                    tmp_path,
                    f"router{i}",
                    metrics.port,
                    upstream,
                    admin_url,
                    state=state,
                    resync_s=30.0,
                    extra_categories=extra,
                )
                for i in range(REPLICAS)
            }

        await start_routers(running, tmp_path, [0] * REPLICAS, configs())
        ports = [running.port(f"router{i}") for i in range(REPLICAS)]
        for i in range(REPLICAS):
            await logged(
                running, f"router{i}", "shared state redis (redis://127.0.0.1:6379/0), reachable"
            )
        assert [await candidates(p) for p in ports] == [["m1", "m2"]] * REPLICAS

        # Switched off through replica 0: every replica skips it within a second.
        await switch_off_m1(ports[0])
        began = time.monotonic()
        took = await asyncio.gather(*(seconds_until(p, began, PUSH_WITHIN_S) for p in ports))
        assert max(took) < PUSH_WITHIN_S, took
        for port in ports:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = router_service_pb2_grpc.RouterServiceStub(channel)
                reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
            assert reply.model == "m2"
        assert upstream.calls("m1") == 0

        # A category created on replica 2 routes on replica 1.
        legal = admin_pb.Category(name="legal", chain=["m2"], keywords=["contract"])
        async with admin(ports[2]) as stub:
            await stub.CreateCategory(admin_pb.CreateCategoryRequest(category=legal))
        await asyncio.sleep(PUSH_WITHIN_S)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{ports[1]}") as channel:
            stub = router_service_pb2_grpc.RouterServiceStub(channel)
            decision = await stub.Route(
                router_service_pb2.RouteRequest(chat=chat("review the contract " * 30))
            )
        assert decision.category == "legal"

        # Every router restarted, the config file now with one more category.
        for i in range(REPLICAS):
            await running.services[f"router{i}"].stop()
        translation = (
            '[[router.categories]]\nname = "translation"\nchain = ["m2"]\n'
            'keywords = ["translate"]\n'
        )
        await start_routers(running, tmp_path, ports, configs(translation))
        for port in ports:
            async with admin(port) as stub:
                health = await stub.ListModelHealth(admin_pb.ListModelHealthRequest())
                listed = await stub.ListCategories(admin_pb.ListCategoriesRequest())
                audit = await stub.ListAuditEvents(admin_pb.ListAuditEventsRequest())
            assert {m.model: (m.enabled, m.enabled_source) for m in health.models} == {
                "m1": (False, admin_pb.VALUE_SOURCE_RUNTIME),
                "m2": (True, admin_pb.VALUE_SOURCE_CONFIG),
            }
            assert [(c.name, c.source) for c in listed.categories] == [
                ("code", admin_pb.VALUE_SOURCE_CONFIG),
                ("translation", admin_pb.VALUE_SOURCE_CONFIG),
                ("legal", admin_pb.VALUE_SOURCE_RUNTIME),
            ]
            assert [(e.action, e.target, e.actor) for e in audit.events] == [
                ("create_category", "category:legal", "anonymous"),
                ("set_model_enabled", "model:m1", "anonymous"),
            ]
        event = audit.events[-1]
        assert (dict(event.before), dict(event.after)) == ({"m1": True}, {"m1": False})


async def test_a_missed_announcement_heals_at_the_resync(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    """Embedded state: no announcement crosses processes, so only the version check every
    0.5 s brings the change to the other replica."""
    admin_url = f"sqlite:///{tmp_path}/admin.sqlite3"
    async with stack(tmp_path) as running:
        metrics = await running.start("metrics", "metrics", metrics_section(tmp_path))
        configs = {
            f"router{i}": router_config(
                tmp_path, f"router{i}", metrics.port, upstream, admin_url, state="", resync_s=0.5
            )
            for i in range(2)
        }
        await start_routers(running, tmp_path, [0, 0], configs)
        ports = [running.port("router0"), running.port("router1")]
        await logged(running, "router1", "shared state embedded (this process only), reachable")
        await switch_off_m1(ports[0])
        began = time.monotonic()
        took = await seconds_until(ports[1], began, 1.5)
        assert took < 1.5, took
