"""examples/client.py run as a user runs it, in its own process, against real routers: the
answer and its stream, the bearer token, the deadline, errors read from ErrorInfo, and gRPC's
retry policy taking a call to another router when the one serving it dies."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from llmrouter.access import TokenGrant
from router_svc.config import RetryConfig
from tests.conftest import free_port
from tests.fakes import Behavior, FakeUpstream, running_upstream
from tests.reliability.stack import openai_models, router_section, stack

from .conftest import model

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples/client.py"
TOKEN_ENV = "LLMROUTER_TEST_EXAMPLE_TOKEN"
TOKEN = "example-client-token-0123456789"
# What the fake upstream answers model m1 (tests/fakes/_answer.py).
ANSWER = "Hello from m1."


async def run_example(*args: str, token: str = TOKEN) -> tuple[int, str, str]:
    """``python examples/client.py ARGS`` with ``token`` in LLMROUTER_INFERENCE_TOKEN: exit
    status, stdout, stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMROUTER_")}
    env["PYTHONPATH"] = str(ROOT)  # this tree's stubs, whatever the venv's editable install says
    if token:
        env["LLMROUTER_INFERENCE_TOKEN"] = token
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLE), *args, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def token_router(make_router: Any, monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> str:
    """A router over the fake upstream (model m1, once per request) that takes TOKEN only;
    its target."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    running, _ = await make_router(
        (model("m1"),),
        ("m1",),
        auth_tokens=(TokenGrant(TOKEN_ENV, ("inference",)),),
        retry=replace(RetryConfig(), attempts_per_model=1),
        **overrides,
    )
    return f"127.0.0.1:{running.port}"


async def test_complete_and_stream_print_the_answer(
    make_router: Any, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = await token_router(make_router, monkeypatch)
    code, out, err = await run_example("--target", target, "--model", "m1", "Say hi")
    assert (code, out) == (0, ANSWER + "\n"), err
    assert re.search(r"^model=m1 provider=oai id=[0-9a-f]{32} attempts=1 tokens=\d+\+4 ", err)
    code, out, err = await run_example("--target", target, "--model", "m1", "--stream", "Say hi")
    assert (code, out) == (0, ANSWER + "\n"), err
    assert re.search(r"^model=m1 provider=oai id=[0-9a-f]{32} attempts=1 tokens=\d+\+4 ", err)
    assert [r.json["messages"][-1]["content"] for r in upstream.requests] == ["Say hi"] * 2
    assert [r.json.get("stream", False) for r in upstream.requests] == [False, True]


async def test_a_wrong_token_is_refused_with_its_reason(
    make_router: Any, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = await token_router(make_router, monkeypatch)
    for token, reason in (("wrong-token-0123456789", "TOKEN_INVALID"), ("", "TOKEN_MISSING")):
        code, out, err = await run_example("--target", target, "hi", token=token)
        assert (code, out) == (1, "")
        assert err.startswith("error: UNAUTHENTICATED: ")
        assert f"[reason {reason}]" in err
        assert "wrong-token" not in err
    assert upstream.requests == []


async def test_router_errors_are_read_from_error_info(
    make_router: Any, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = await token_router(make_router, monkeypatch)
    code, _, err = await run_example("--target", target, "--model", "nope", "hi")
    assert code == 1
    assert err.startswith("error: NOT_FOUND: ")
    assert "[reason MODEL_NOT_FOUND]" in err
    assert "[field chat.model: " in err  # BadRequest
    # Every model failed: the router answers UNAVAILABLE itself, with a negative pushback,
    # so the client's retry policy (UNAVAILABLE) does not send it again.
    upstream.set(None, Behavior(status=503))
    code, _, err = await run_example("--target", target, "--model", "m1", "hi")
    assert code == 1
    assert re.search(
        r"^error: UNAVAILABLE: .*\[reason ALL_MODELS_FAILED, request [0-9a-f]{32}\]", err
    )
    assert upstream.calls("m1") == 1


async def test_the_deadline_ends_a_slow_call(
    make_router: Any, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = await token_router(make_router, monkeypatch)
    upstream.set(None, Behavior(delay_s=10))
    for mode in ((), ("--stream",)):
        started = time.monotonic()
        code, out, err = await run_example("--target", target, "--timeout", "0.5", *mode, "hi")
        assert (code, out) == (1, "")
        assert err.startswith("error: DEADLINE_EXCEEDED"), err
        assert time.monotonic() - started < 5


async def test_a_call_whose_router_dies_is_retried_on_another(tmp_path: Path) -> None:
    """Two router processes behind one target (round_robin); the one serving the call is
    SIGKILLed while its upstream has not answered: gRPC retries the call (UNAVAILABLE, no
    response headers yet) on the other router, and the user sees only the answer."""
    async with running_upstream() as up1, running_upstream() as up2, stack(tmp_path) as s:
        upstreams = {"r1": up1, "r2": up2}
        metrics = free_port()  # nothing listens: these routers keep usage in their outboxes
        routers = await asyncio.gather(
            *(
                s.start(name, "router", router_section(tmp_path, name, metrics, body))
                for name, up in upstreams.items()
                for body in [f'default_chain = ["m1"]\n{openai_models(name, up.base_url, ["m1"])}']
            )
        )
        for up in upstreams.values():
            up.set(None, Behavior(stall=True))
        target = "ipv4:" + ",".join(f"127.0.0.1:{r.port}" for r in routers)
        example = asyncio.create_task(run_example("--target", target, "--model", "m1", "hi"))
        async with asyncio.timeout(20):
            while not any(up.requests for up in upstreams.values()):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        serving = next(name for name, up in upstreams.items() if up.requests)
        other = "r2" if serving == "r1" else "r1"
        upstreams[other].set(None, Behavior())
        await s.services[serving].stop(signal.SIGKILL)
        code, out, err = await example
    assert (code, out) == (0, ANSWER + "\n"), err
    assert re.search(rf"^model=m1 provider={other} id=[0-9a-f]{{32}} attempts=1 ", err)
    assert (len(upstreams[serving].requests), len(upstreams[other].requests)) == (1, 1)
