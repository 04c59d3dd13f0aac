"""API keys: who gets in, what the router learns about them, and what is never kept."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from gateway import ApiKeyConfig, AppOptions, GatewayConfig, hash_key, load_config
from gateway.auth import KeyRing
from llmrouter.config import ConfigError

from .fake_metrics import FakeMetrics
from .support import TEST_KEY, TEST_KEY_ID, FakeRouter, StartGateway

CHAT = "/v1/chat/completions"
BODY = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
PROTECTED = [
    ("POST", CHAT),
    ("POST", "/v1/route"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/sim-small"),
    # Front doors without /v1 (gateway.front_doors).
    ("POST", "/chat/completions"),
    ("GET", "/models"),
    ("GET", "/v1/costs"),
    ("GET", "/v1/usage"),
]
UNAUTHORIZED = {
    "message": "Incorrect API key provided.",
    "type": "invalid_request_error",
    "param": None,
    "code": "invalid_api_key",
}


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_missing_key_is_401_before_anything_runs(
    client: httpx.AsyncClient, router: FakeRouter, metrics: FakeMetrics, method: str, path: str
) -> None:
    response = await client.request(
        method, path, json=BODY if method == "POST" else None, headers={"authorization": ""}
    )

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["x-request-id"]
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_api_key"
    assert error["param"] is None
    assert error["message"].startswith("You didn't provide an API key.")
    assert router.requests == []
    assert metrics.requests == {}


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": "Bearer sk-wrong"},
        {"authorization": f"Bearer {TEST_KEY}x"},
        {"authorization": f"Basic {TEST_KEY}"},  # not a bearer token: no key at all
        {"authorization": "", "x-api-key": "sk-wrong"},
    ],
)
async def test_wrong_key_is_401_and_not_echoed(
    client: httpx.AsyncClient, router: FakeRouter, headers: dict[str, str]
) -> None:
    response = await client.post(CHAT, json=BODY, headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert "sk-wrong" not in response.text
    assert TEST_KEY not in response.text
    assert router.requests == []


async def test_wrong_key_message_is_openais(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/models", headers={"authorization": "Bearer sk-nope"})

    assert response.json() == {"error": UNAUTHORIZED}


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": f"Bearer {TEST_KEY}"},
        {"authorization": f"bearer   {TEST_KEY}"},
        {"authorization": "", "x-api-key": TEST_KEY},
    ],
)
async def test_key_id_not_key_reaches_the_router(
    client: httpx.AsyncClient, router: FakeRouter, headers: dict[str, str]
) -> None:
    response = await client.post(CHAT, json=BODY, headers=headers)

    assert response.status_code == 200
    caller = router.requests[0].caller
    assert caller.api_key_id == TEST_KEY_ID
    assert TEST_KEY not in str(router.requests[0])


async def test_key_id_reaches_the_router_on_streams_and_routes(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    await client.post(CHAT, json={**BODY, "stream": True})
    await client.post("/v1/route", json=BODY)

    assert [r.caller.api_key_id for r in router.requests] == [TEST_KEY_ID, TEST_KEY_ID]


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/openapi.json"])
async def test_health_and_openapi_stay_open(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path, headers={"authorization": ""})

    assert response.status_code == 200


async def test_a_key_without_admin_lists_and_retrieves_models(
    start_gateway: StartGateway,
) -> None:
    carol = ApiKeyConfig(id="carol", sha256=hash_key("sk-carol"))
    assert not carol.admin
    gateway = await start_gateway(api_keys=(carol,))
    async with httpx.AsyncClient(base_url=gateway.url, headers={"x-api-key": "sk-carol"}) as http:
        listed = await http.get("/v1/models")
        one = await http.get("/models/sim-small")
        admin = await http.get("/v1/admin/models")

    assert listed.status_code == 200
    assert "sim-small" in [m["id"] for m in listed.json()["data"]]
    assert (one.status_code, one.json()["id"]) == (200, "sim-small")
    assert admin.status_code == 403


async def test_key_removed_from_config_is_rejected_after_restart(
    start_gateway: StartGateway,
) -> None:
    alice = ApiKeyConfig(id="alice", sha256=hash_key("sk-alice"))
    bob = ApiKeyConfig(id="bob", sha256=hash_key("sk-bob"))
    before = await start_gateway(api_keys=(alice, bob))
    async with httpx.AsyncClient(base_url=before.url) as http:
        assert (await http.get("/v1/models", headers={"x-api-key": "sk-bob"})).status_code == 200
    await before.stop()

    after = await start_gateway(api_keys=(alice,))
    async with httpx.AsyncClient(base_url=after.url) as http:
        bob_now = await http.get("/v1/models", headers={"x-api-key": "sk-bob"})
        alice_now = await http.get("/v1/models", headers={"x-api-key": "sk-alice"})

    assert bob_now.status_code == 401
    assert alice_now.status_code == 200


async def test_key_from_a_named_environment_variable(
    start_gateway: StartGateway, router: FakeRouter
) -> None:
    key = ApiKeyConfig(id="ci", env="CI_GATEWAY_KEY")
    gateway = await start_gateway(
        AppOptions(environ={"CI_GATEWAY_KEY": "sk-from-env"}), api_keys=(key,)
    )
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        response = await http.post(CHAT, json=BODY, headers={"authorization": "Bearer sk-from-env"})

    assert response.status_code == 200
    assert router.requests[0].caller.api_key_id == "ci"


async def test_unset_key_variable_fails_start_naming_the_key(start_gateway: StartGateway) -> None:
    key = ApiKeyConfig(id="ci", env="CI_GATEWAY_KEY")

    with pytest.raises(ConfigError, match=r"^gateway\.api_keys\[0\]\.env: .*CI_GATEWAY_KEY"):
        await start_gateway(AppOptions(environ={}), api_keys=(key,))


async def test_auth_on_without_keys_fails_start(start_gateway: StartGateway) -> None:
    with pytest.raises(ConfigError, match=r"^gateway\.api_keys: auth is enabled"):
        await start_gateway(api_keys=())


async def test_auth_off_lets_everyone_in(start_gateway: StartGateway, router: FakeRouter) -> None:
    gateway = await start_gateway(auth_enabled=False, api_keys=())
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        response = await http.post(CHAT, json=BODY)
        health = await http.get("/healthz")

    assert response.status_code == 200
    assert router.requests[0].caller.api_key_id == ""
    assert health.json()["auth"] == "disabled"


def test_shortcut_variable_is_hashed_at_once() -> None:
    config = load_config(
        None, environ={"LLMROUTER_GATEWAY_API_KEYS": "ci:sk-secret-one, bob:sk-secret-two"}
    )

    assert [k.id for k in config.api_keys] == ["ci", "bob"]
    assert config.api_keys[0].sha256 == hashlib.sha256(b"sk-secret-one").hexdigest()
    assert "sk-secret" not in repr(config)
    assert "sk-secret" not in repr(KeyRing.from_config(config, environ={}))


def test_admin_shortcut_marks_its_keys_admin() -> None:
    config = load_config(
        None,
        environ={
            "LLMROUTER_GATEWAY_API_KEYS": "alice:sk-secret-one",
            "LLMROUTER_GATEWAY_ADMIN_API_KEYS": "ops:sk-secret-two",
        },
    )

    assert [(k.id, k.admin) for k in config.api_keys] == [("alice", False), ("ops", True)]
    assert "sk-secret" not in repr(config)
    with pytest.raises(ConfigError, match=r"^LLMROUTER_GATEWAY_ADMIN_API_KEYS: entry 1: "):
        load_config(None, environ={"LLMROUTER_GATEWAY_ADMIN_API_KEYS": "ops"})
    # The same key twice, once as admin: a mistake, not a silent promotion.
    with pytest.raises(ConfigError, match="the same key"):
        load_config(
            None,
            environ={
                "LLMROUTER_GATEWAY_API_KEYS": "a:sk-same",
                "LLMROUTER_GATEWAY_ADMIN_API_KEYS": "b:sk-same",
            },
        )


async def test_shortcut_keys_open_the_gateway(start_gateway: StartGateway) -> None:
    keys = load_config(None, environ={"LLMROUTER_GATEWAY_API_KEYS": "ci:sk-short"}).api_keys
    gateway = await start_gateway(api_keys=keys)
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        response = await http.get("/v1/models", headers={"authorization": "Bearer sk-short"})

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ci", r"^LLMROUTER_GATEWAY_API_KEYS: entry 1: expected id:key$"),
        ("ci:sk-a,bob:", r"^LLMROUTER_GATEWAY_API_KEYS: entry 2: expected id:key$"),
        ("c i:sk-a", r"^LLMROUTER_GATEWAY_API_KEYS: entry 1: id: "),
        ("ci:sk-a,ci:sk-b", r"^gateway\.api_keys\[1\]\.id: duplicate key id 'ci'$"),
        ("ci:sk-a,bob:sk-a", r"^gateway\.api_keys\[1\]\.sha256: the same key"),
    ],
)
def test_bad_shortcut_is_a_config_error_without_the_key(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(None, environ={"LLMROUTER_GATEWAY_API_KEYS": value})

    assert "sk-" not in str(caught.value)


def test_same_key_from_env_and_digest_is_a_config_error() -> None:
    config = GatewayConfig(
        api_keys=(
            ApiKeyConfig(id="a", sha256=hash_key("sk-same")),
            ApiKeyConfig(id="b", env="B_KEY"),
        )
    )

    with pytest.raises(ConfigError, match=r"^gateway\.api_keys\[1\]: the same key"):
        KeyRing.from_config(config, environ={"B_KEY": "sk-same"})


async def test_a_keys_team_is_sent_to_the_router(
    start_gateway: StartGateway, router: FakeRouter
) -> None:
    keys = (
        ApiKeyConfig(id="alice", env="ALICE_KEY", team="search"),
        ApiKeyConfig(id="carol", env="CAROL_KEY"),
    )
    environ = {"ALICE_KEY": "sk-alice-team", "CAROL_KEY": "sk-carol-team"}
    gateway = await start_gateway(AppOptions(environ=environ), api_keys=keys)
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        for key in ("sk-alice-team", "sk-carol-team"):
            response = await http.post(CHAT, json=BODY, headers={"authorization": f"Bearer {key}"})
            assert response.status_code == 200

    assert [(r.caller.api_key_id, r.caller.team_id) for r in router.requests] == [
        ("alice", "search"),
        ("carol", ""),
    ]


def test_a_team_name_is_checked_like_a_key_id() -> None:
    with pytest.raises(ConfigError, match=r"^team: "):
        ApiKeyConfig(id="alice", env="ALICE_KEY", team="no spaces please")
