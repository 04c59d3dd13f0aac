"""Virtual keys end to end: a router, two gateway processes and the official ``openai`` SDK.

Created over the admin HTTP API, used, rotated (the old secret works until its overlap ends),
revoked (refused by both gateways within a second), expired; a disallowed model is a 403
naming it, an ``auto`` chain keeps only the allowed models, a user key cannot call admin
routes. Canary: no secret appears in any process's output, the exported spans, the admin
store or ledger files, the audit log or an error message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from llmrouter.cli import main
from tests.conftest import free_port
from tests.fakes.otlp import TraceReceiver, running_receiver

from .conftest import Stack, started, write_config

ADMIN_KEY = "ops-admin-key-5b1e0c"
USER_KEY = "plain-user-key-77aa10"
HELLO = [{"role": "user", "content": "hello"}]
OPS = {"authorization": f"Bearer {ADMIN_KEY}"}


def _env(receiver: TraceReceiver) -> dict[str, str]:
    return {
        "LLMROUTER_GATEWAY_API_KEYS": f"user:{USER_KEY}",
        "LLMROUTER_GATEWAY_ADMIN_API_KEYS": f"ops:{ADMIN_KEY}",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }


def _spawn_gateway(
    stack: Stack, env: dict[str, str], logs: Path, port: int
) -> subprocess.Popen[bytes]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("LLMROUTER_")} | env
    with open(logs / "gateway2.log", "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gateway", "--config", str(stack.config), "--port", str(port)],
            env=full,
            stdout=out,
            stderr=out,
        )


async def _second_gateway(stack: Stack, env: dict[str, str], logs: Path) -> AsyncIterator[str]:
    port = free_port()
    proc = await asyncio.to_thread(_spawn_gateway, stack, env, logs, port)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if (await http.get(f"{url}/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None, "second gateway exited"
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 30)


@pytest.fixture
async def two_gateways(
    tmp_path: Path,
) -> AsyncIterator[tuple[list[str], TraceReceiver, Path]]:
    logs = tmp_path / "logs"
    logs.mkdir()
    async with running_receiver() as receiver:
        stack = write_config(tmp_path, gateway_extra="auth_enabled = true")
        env = _env(receiver)
        async with started(stack, env, logs) as running:
            second = _second_gateway(running, env, logs)
            url2 = await anext(second)
            try:
                yield [running.url, url2], receiver, tmp_path
            finally:
                await second.aclose()


def _client(url: str, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


async def _works(url: str, key: str, model: str = "sim-small") -> str:
    async with _client(url, key) as client:
        answer = await client.chat.completions.create(model=model, messages=HELLO)  # type: ignore[arg-type]
    return answer.model


async def _refused(url: str, key: str) -> openai.AuthenticationError | None:
    try:
        await _works(url, key, "auto")
    except openai.AuthenticationError as exc:
        return exc
    return None


async def _until_refused_everywhere(urls: list[str], key: str, within_s: float) -> float:
    """Seconds until every gateway answers ``key`` with 401 (fails after ``within_s``)."""
    start = time.monotonic()
    pending = set(urls)
    while pending:
        for url in list(pending):
            if await _refused(url, key) is not None:
                pending.discard(url)
        assert time.monotonic() - start < within_s, f"still accepted by {sorted(pending)}"
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def test_create_use_rotate_revoke_on_two_gateways(
    two_gateways: tuple[list[str], TraceReceiver, Path],
) -> None:
    urls, receiver, tmp_path = two_gateways
    secrets: list[str] = []
    bodies: list[str] = []
    async with httpx.AsyncClient(base_url=urls[0], timeout=30) as http:
        team = await http.post(
            "/v1/admin/teams",
            headers=OPS,
            json={"name": "search", "budgets": [{"period": "day", "hard_usd": 5}]},
        )
        assert team.status_code == 201, team.text
        team_id = team.json()["id"]
        created = await http.post(
            "/v1/admin/keys",
            headers=OPS,
            json={
                "name": "ci",
                "team_id": team_id,
                "allowed_models": ["sim-large"],
                "rpm_limit": 100,
                "budgets": [{"period": "rolling", "rolling_seconds": 3600, "soft_usd": 1.5}],
            },
        )
        assert created.status_code == 201, created.text
        key = created.json()
        secret = key.pop("secret")
        secrets.append(secret)
        assert secret.startswith("sk-llmr-")
        assert len(secret) > 40
        assert key["role"] == "user"
        assert key["team_id"] == team_id
        assert key["budgets"] == [
            {"period": "rolling", "rolling_seconds": 3600, "soft_usd": 1.5, "hard_usd": None}
        ]
        # Every gateway accepts it within a second of its creation.
        start = time.monotonic()
        for url in urls:
            while True:
                try:
                    model = await _works(url, secret, "auto")
                    break
                except openai.AuthenticationError:
                    assert time.monotonic() - start < 1.0
                    await asyncio.sleep(0.02)
            # The auto chain (sim-small, sim-large) keeps only the model the key allows.
            assert model == "sim-large"

        # A model the key may not use: 403 naming it.
        async with _client(urls[1], secret) as client:
            with pytest.raises(openai.PermissionDeniedError) as denied:
                await client.chat.completions.create(model="sim-small", messages=HELLO)  # type: ignore[arg-type]
        assert "'sim-small'" in denied.value.message
        bodies.append(denied.value.response.text)
        # Its own rate limit, counted by the gateway.
        raw = await http.post(
            "/v1/chat/completions",
            headers={"authorization": f"Bearer {secret}"},
            json={"model": "sim-large", "messages": HELLO},
        )
        assert raw.status_code == 200
        assert raw.headers["x-ratelimit-limit-requests"] == "100"

        # A user key (virtual, or from the config) cannot call admin routes.
        for user in (secret, USER_KEY):
            refused = await http.get("/v1/admin/keys", headers={"authorization": f"Bearer {user}"})
            assert refused.status_code == 403, refused.text
            bodies.append(refused.text)
        # An admin-role virtual key can.
        admin_key = await http.post(
            "/v1/admin/keys", headers=OPS, json={"name": "second ops", "role": "admin"}
        )
        admin_secret = admin_key.json()["secret"]
        secrets.append(admin_secret)
        await asyncio.sleep(0.6)
        listed = await http.get(
            "/v1/admin/keys", headers={"authorization": f"Bearer {admin_secret}"}
        )
        assert listed.status_code == 200, listed.text
        assert {k["name"] for k in listed.json()["keys"]} == {"ci", "second ops"}
        assert all("secret" not in k for k in listed.json()["keys"])

        # Rotation: the old secret works until the overlap ends, then 401 everywhere.
        rotated = await http.post(
            f"/v1/admin/keys/{key['id']}/rotate", headers=OPS, json={"overlap_seconds": 2}
        )
        assert rotated.status_code == 200, rotated.text
        new_secret = rotated.json()["secret"]
        secrets.append(new_secret)
        assert new_secret != secret
        await asyncio.sleep(0.6)
        for url in urls:
            assert await _works(url, new_secret, "sim-large") == "sim-large"
            assert await _works(url, secret, "sim-large") == "sim-large"  # still in its overlap
        await asyncio.sleep(1.6)
        for url in urls:
            old = await _refused(url, secret)
            assert old is not None
            assert old.status_code == 401
            bodies.append(old.response.text)

        # Revocation: refused by both gateways within a second.
        revoked = await http.post(f"/v1/admin/keys/{key['id']}/revoke", headers=OPS)
        assert revoked.status_code == 200
        assert revoked.json()["revoke_time"] is not None
        elapsed = await _until_refused_everywhere(urls, new_secret, within_s=1.0)
        print(f"revocation refused on both gateways after {elapsed * 1000:.0f} ms")

        audit = await http.get("/v1/admin/audit", headers=OPS, params={"limit": 50})
        actions = [e["action"] for e in audit.json()["events"]]
        assert actions[:5] == [
            "revoke_api_key",
            "rotate_api_key",
            "create_api_key",
            "create_api_key",
            "create_team",
        ]
        assert all(e["api_key_id"] == "ops" for e in audit.json()["events"][:5])
        bodies.append(audit.text)

    await asyncio.sleep(0.5)  # the last spans' export
    _assert_nowhere(secrets, tmp_path, receiver, bodies)


async def test_an_expired_key_is_refused(
    two_gateways: tuple[list[str], TraceReceiver, Path],
) -> None:
    urls, _, _ = two_gateways
    expiry = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.5)
    async with httpx.AsyncClient(base_url=urls[0], timeout=30) as http:
        created = await http.post(
            "/v1/admin/keys",
            headers=OPS,
            json={"name": "short", "expire_time": expiry.isoformat()},
        )
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        await asyncio.sleep(0.6)
        assert await _works(urls[1], secret) == "sim-small"
        await asyncio.sleep(max(0.0, (expiry - dt.datetime.now(dt.UTC)).total_seconds()) + 0.05)
        for url in urls:
            refused = await _refused(url, secret)
            assert refused is not None
            assert refused.status_code == 401
            assert refused.code == "invalid_api_key"
            assert "expired" in refused.message
        past = await http.post(
            "/v1/admin/keys",
            headers=OPS,
            json={"name": "late", "expire_time": "2001-01-01T00:00:00Z"},
        )
        assert past.status_code == 400
        assert past.json()["error"]["param"] == "expire_time"


async def test_the_cli_creates_lists_rotates_and_revokes(
    two_gateways: tuple[list[str], TraceReceiver, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    urls, _, _ = two_gateways
    monkeypatch.setenv("LLMROUTER_KEY", ADMIN_KEY)

    async def cli(*argv: str) -> tuple[int, str, str]:
        code = await asyncio.to_thread(main, [*argv, "--gateway", urls[0]])
        out, err = capsys.readouterr()
        return code, out, err

    code, team, _ = await cli("teams", "create", "search", "--budget", "month:50:40")
    assert code == 0
    with pytest.raises(SystemExit) as usage_error:  # argparse's usage error
        await cli("teams", "create", "bad", "--budget", "fortnight:5")
    assert usage_error.value.code == 2
    assert "the period is day, week, month or rolling-N" in capsys.readouterr().err
    code, out, err = await cli(
        "keys",
        "create",
        "ci",
        "--team",
        team.strip(),
        "--models",
        "sim-large",
        "--rpm",
        "9",
        "--budget",
        "day:2",
        "--budget",
        "rolling-3600::0.5",
    )
    assert code == 0
    secret = out.strip()
    assert secret.startswith("sk-llmr-")
    assert "shown this once" in err
    key_id = err.split()[1]
    await asyncio.sleep(0.6)
    assert await _works(urls[1], secret, "auto") == "sim-large"
    code, table, _ = await cli("keys", "list")
    assert code == 0
    assert key_id in table
    assert "sim-large" in table
    assert "day:2,rolling-3600::0.5" in table  # as --budget takes them
    assert secret not in table
    code, teams, _ = await cli("teams", "list")
    assert "month:50:40" in teams
    code, out, _ = await cli("keys", "rotate", key_id, "--overlap", "0")
    assert code == 0
    rotated = out.strip()
    code, _, _ = await cli("keys", "revoke", key_id)
    assert code == 0
    await _until_refused_everywhere(urls, rotated, within_s=1.0)
    assert await _refused(urls[0], secret) is not None  # no overlap asked
    code, _, err = await cli("keys", "revoke", "vk_nope")
    assert code == 1
    assert "HTTP 404" in err


def _assert_nowhere(
    secrets: list[str], tmp_path: Path, receiver: TraceReceiver, bodies: list[str]
) -> None:
    """No secret in the processes' output, spans, data files, audit or error bodies."""
    assert receiver.raw, "no spans were exported"
    spans = b"".join(receiver.raw)
    files = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert any(p.suffix == ".log" for p in files)
    assert any("sqlite3" in p.name for p in files)
    for secret in secrets:
        token = secret.removeprefix("sk-llmr-").encode()
        for path, data in files.items():
            assert token not in data, f"a secret in {path.name}"
        assert token not in spans, "a secret in an exported span"
        for body in bodies:
            assert token.decode() not in body


async def test_allowed_models_bind_every_front_door(tmp_path: Path) -> None:
    """A key allowed only ``sim-large`` is refused ``sim-small`` (and the embedding model) with
    a 403 on chat, Messages (and count_tokens), Responses and embeddings alike, and is served
    ``sim-large`` by each."""
    logs = tmp_path / "logs"
    logs.mkdir()
    stack = write_config(tmp_path, gateway_extra="auth_enabled = true")
    env = {"LLMROUTER_GATEWAY_ADMIN_API_KEYS": f"ops:{ADMIN_KEY}"}
    async with started(stack, env, logs) as running:
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as http:
            created = await http.post(
                "/v1/admin/keys",
                headers=OPS,
                json={"name": "narrow", "allowed_models": ["sim-large"]},
            )
            assert created.status_code == 201, created.text
            secret = created.json()["secret"]
            count = await http.post(
                "/v1/messages/count_tokens",
                headers={"x-api-key": secret},
                json={"model": "sim-small", "messages": HELLO},
            )
            assert count.status_code == 403, count.text
            assert count.json()["error"]["type"] == "permission_error"
        async with (
            _client(running.url, secret) as client,
            anthropic.AsyncAnthropic(base_url=running.url, api_key=secret, max_retries=0) as claude,
        ):
            refusals = (
                client.chat.completions.create(model="sim-small", messages=HELLO),  # type: ignore[arg-type]
                client.responses.create(model="sim-small", input="hello"),
                client.embeddings.create(model="sim-embed", input="hello"),
            )
            for refused in refusals:
                with pytest.raises(openai.PermissionDeniedError):
                    await refused
            with pytest.raises(anthropic.PermissionDeniedError):
                await claude.messages.create(model="sim-small", messages=HELLO, max_tokens=10)  # type: ignore[arg-type]
            served = await claude.messages.create(model="sim-large", messages=HELLO, max_tokens=10)  # type: ignore[arg-type]
            assert served.model == "sim-large"
            answer = await client.responses.create(model="sim-large", input="hello")
            assert answer.model == "sim-large"
            # The key sees what it may use: sim-large, and "auto" (whose chains keep only it).
            listed = {m.id: m for m in (await client.models.list()).data}
            assert "sim-large" in listed
            assert not {"sim-small", "sim-embed"} & listed.keys()
            assert all(
                set(getattr(m, "chain", None) or ["sim-large"]) == {"sim-large"}
                for m in listed.values()
            ), listed
            with pytest.raises(openai.NotFoundError):
                await client.models.retrieve("sim-small")
            assert (await client.models.retrieve("sim-large")).id == "sim-large"
