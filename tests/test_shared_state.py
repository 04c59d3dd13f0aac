"""The shared state store against real backends: in-process and the machine's Redis.

Two RedisState objects stand for two replicas: what one writes or publishes, the other sees.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator

import pytest

from llmrouter.config import ConfigError
from llmrouter.shared_state import (
    EmbeddedState,
    SharedState,
    StateConfig,
    StateUnavailable,
    load_state_config,
    open_state,
)

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def _config(backend: str) -> StateConfig:
    # A fresh prefix per test: runs never see each other's keys.
    return StateConfig(
        backend=backend,
        redis_url=REDIS_URL,
        key_prefix=f"llmrouter-test:{uuid.uuid4().hex}:",
        # Correctness, not latency: a loaded CI machine must not turn a slow answer into a failure.
        operation_timeout_ms=5000,
    )


@pytest.fixture(params=["embedded", "redis"])
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[tuple[SharedState, SharedState]]:
    """Two handles on one store: the same object when embedded, two clients on Redis."""
    if request.param == "redis" and not _redis_up():
        pytest.fail("Redis is not running at 127.0.0.1:6379 (.ci/run starts it)")
    config = _config(request.param)
    first = open_state(config)
    second = first if request.param == "embedded" else open_state(config)
    yield first, second
    await first.close()
    if second is not first:
        await second.close()


async def test_values_are_seen_by_every_replica(pair: tuple[SharedState, SharedState]) -> None:
    one, two = pair
    assert await two.get("model:a") is None
    await one.set("model:a", b"off")
    assert await two.get("model:a") == b"off"
    await two.delete("model:a")
    assert await one.get("model:a") is None


async def test_ttl_expires_values(pair: tuple[SharedState, SharedState]) -> None:
    one, two = pair
    await one.set("short", b"x", ttl_s=0.05)
    assert await two.get("short") == b"x"
    await asyncio.sleep(0.12)
    assert await two.get("short") is None


async def test_incr_is_atomic_across_replicas(pair: tuple[SharedState, SharedState]) -> None:
    one, two = pair
    results = await asyncio.gather(
        *(store.incr("count", 1, ttl_s=30) for _ in range(100) for store in (one, two))
    )
    assert sorted(results) == list(range(1, 201))
    assert await one.get("count") == b"200"
    assert await two.incr("count", -50) == 150


async def test_set_if_absent_admits_one_of_many_replicas(
    pair: tuple[SharedState, SharedState],
) -> None:
    one, two = pair
    # Twenty contenders on two clients race for one lock: exactly one wins.
    won = await asyncio.gather(
        *(
            store.set_if_absent("probe-lock", b"%d" % i, 0.2)
            for i in range(10)
            for store in (one, two)
        )
    )
    assert won.count(True) == 1
    winner = await two.get("probe-lock")
    assert winner is not None
    assert int(winner) in range(10)
    # The lock expires with its TTL, then the next contender takes it.
    assert await one.set_if_absent("probe-lock", b"late", 5) is False
    await asyncio.sleep(0.3)
    assert await one.set_if_absent("probe-lock", b"late", 5) is True
    assert await two.get("probe-lock") == b"late"


async def test_publish_reaches_the_other_replica(pair: tuple[SharedState, SharedState]) -> None:
    one, two = pair
    got: asyncio.Queue[bytes] = asyncio.Queue()
    two.subscribe("admin", got.put_nowait)
    # Redis SUBSCRIBE is asynchronous: publish until the listener is attached.
    for _ in range(50):
        await one.publish("admin", b"model a off")
        try:
            message = await asyncio.wait_for(got.get(), 0.1)
            break
        except TimeoutError:
            continue
    else:
        pytest.fail("no message reached the subscriber within 5 s")
    assert message == b"model a off"
    await one.publish("other-channel", b"not for admin")
    await one.publish("admin", b"second")
    assert await asyncio.wait_for(got.get(), 2) in (b"model a off", b"second")


async def test_unreachable_redis_raises_state_unavailable_quickly() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens
    config = StateConfig(
        backend="redis",
        redis_url=f"redis://127.0.0.1:{port}/0",
        connect_timeout_ms=200,
        operation_timeout_ms=200,
    )
    store = open_state(config)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(StateUnavailable) as raised:
        await store.get("anything")
    assert loop.time() - started < 1.0
    assert f"127.0.0.1:{port}" in str(raised.value)
    assert await store.ping() is False
    assert "redis (redis://127.0.0.1" in store.describe()
    await store.close()


def test_embedded_is_the_default_and_needs_nothing() -> None:
    config = load_state_config({})
    assert config.backend == "embedded"
    assert isinstance(open_state(config), EmbeddedState)


def test_environment_selects_redis() -> None:
    config = load_state_config(
        {}, {"LLMROUTER_STATE_BACKEND": "redis", "LLMROUTER_STATE_REDIS_URL": REDIS_URL}
    )
    assert (config.backend, config.redis_url) == ("redis", REDIS_URL)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"backend": "memcached"}, "state.backend: expected one of embedded, redis"),
        ({"redis_url": "http://127.0.0.1:6379"}, "state.redis_url: expected a redis://"),
        ({"redis_url": "redis://:hunter2@127.0.0.1:6379/0"}, "state.redis_url: holds a password"),
        ({"operation_timeout_ms": 0}, "state.operation_timeout_ms: expected a positive"),
    ],
)
def test_bad_settings_name_the_key(section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_state_config({"state": section})
    assert str(raised.value).startswith(message)
    assert "hunter2" not in str(raised.value)


def test_password_comes_from_the_environment_only() -> None:
    config = StateConfig(backend="redis", redis_password_env="LLMROUTER_TEST_REDIS_PASSWORD")
    with pytest.raises(ConfigError, match="LLMROUTER_TEST_REDIS_PASSWORD is not set"):
        open_state(config, {})
    store = open_state(config, {"LLMROUTER_TEST_REDIS_PASSWORD": "s3cret"})
    assert "s3cret" not in store.describe()
