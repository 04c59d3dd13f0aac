"""The whole stack as real processes: `llmrouter serve all`, then the README's curl and costs."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from llmrouter.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
    router_admin_service_pb2,
    router_admin_service_pb2_grpc,
    router_service_pb2,
    router_service_pb2_grpc,
)
from tests.conftest import free_port

# As the README says: set before `make run`, `llmrouter costs` reads the ledger with it.
READ_TOKEN = "local-read-token-0123456789"


def cli_env() -> dict[str, str]:
    """The environment of `serve all` and `llmrouter costs`: ours without LLMROUTER_*, plus
    the read token (the other tokens are random for each run)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMROUTER_")}
    return env | {"LLMROUTER_READ_TOKEN": READ_TOKEN}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, int]]:
    ports = {"gateway": free_port(), "router": free_port(), "metrics": free_port()}
    config = tmp_path / "llmrouter.toml"
    config.write_text(
        f"""
[router]
port = {ports["router"]}
metrics_address = "127.0.0.1:{ports["metrics"]}"
outbox_path = "{tmp_path / "outbox.sqlite3"}"
prometheus_port = 0

[metrics]
port = {ports["metrics"]}
database_url = "sqlite+aiosqlite:///{tmp_path / "metrics.sqlite3"}"
prometheus_port = 0

[gateway]
port = {ports["gateway"]}
router_addresses = ["127.0.0.1:{ports["router"]}"]
metrics_address = "127.0.0.1:{ports["metrics"]}"
auth_enabled = false
"""
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmrouter", "serve", "all", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    try:
        banner = _read_until(proc, "Try:", timeout=60)
        assert f"http://localhost:{ports['gateway']}" in banner
        assert (
            "  gRPC: router and metrics take only this run's tokens; "
            "llmrouter costs uses $LLMROUTER_READ_TOKEN\n"
        ) in banner
        yield ports | {"config": str(config)}  # type: ignore[operator]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        assert proc.returncode == 0, err
        assert "Traceback" not in err, err


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> str:
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"stack exited early ({proc.poll()}): {''.join(seen)}{err}")
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"no {marker!r} within {timeout}s: {''.join(seen)}")


def test_curl_path_through_all_three_processes(stack: dict[str, int]) -> None:
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    reply = httpx.post(
        f"http://127.0.0.1:{stack['gateway']}/v1/chat/completions", json=body, timeout=30
    )
    assert reply.status_code == 200, reply.text
    completion = reply.json()
    assert completion["object"] == "chat.completion"
    assert completion["model"] == "sim-small"
    assert completion["choices"][0]["message"]["role"] == "assistant"
    assert completion["choices"][0]["message"]["content"].startswith("[simulated sim-small]")
    assert completion["choices"][0]["finish_reason"] == "stop"
    usage = completion["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert reply.headers["x-llmrouter-model"] == "sim-small"

    for name in ("router", "metrics"):
        with grpc.insecure_channel(f"127.0.0.1:{stack[name]}") as channel:
            status = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
            assert status.status == health_pb2.HealthCheckResponse.SERVING

    # Usage reaches the ledger off the request path; `llmrouter costs` shows it.
    deadline = time.monotonic() + 20
    rows: list[dict[str, str]] = []
    while time.monotonic() < deadline:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "llmrouter",
                "costs",
                "--config",
                str(stack["config"]),
                "--group-by",
                "model",
                "--csv",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
            env=cli_env(),
        ).stdout
        rows = list(csv.DictReader(io.StringIO(out)))
        if any(r["model"] == "sim-small" for r in rows):
            break
        time.sleep(0.2)
    by_model = {r["model"]: r for r in rows}
    assert by_model["sim-small"]["requests"] == "1"
    assert by_model["sim-small"]["prompt_tokens"] == str(usage["prompt_tokens"])
    assert by_model["sim-small"]["completion_tokens"] == str(usage["completion_tokens"])
    assert by_model["TOTAL"]["requests"] == "1"

    table = subprocess.run(
        [sys.executable, "-m", "llmrouter", "costs", "--config", str(stack["config"])],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env=cli_env(),
    ).stdout
    assert table.splitlines()[0].split()[:3] == ["requests", "succeeded", "failed"]

    # Feedback on the answer: the gateway's metrics token holds the feedback scope, and the
    # router's (record+read+feedback) reads the sums back into its estimates.
    scored = httpx.post(
        f"http://127.0.0.1:{stack['gateway']}/v1/feedback",
        json={"id": completion["id"], "score": 5, "scale": "stars"},
        timeout=30,
    )
    assert scored.status_code == 200, scored.text
    assert (scored.json()["model"], scored.json()["score"]) == ("sim-small", 1.0)
    deadline = time.monotonic() + 20
    while True:
        shown = httpx.get(f"http://127.0.0.1:{stack['gateway']}/v1/admin/quality", timeout=30)
        assert shown.status_code == 200, shown.text
        if shown.json()["estimates"]:
            break
        assert time.monotonic() < deadline, "the router never read the feedback sums"
        time.sleep(0.2)
    assert [(e["model"], e["samples"]) for e in shown.json()["estimates"]] == [("sim-small", 1)]

    # Forgetting the token: the error says which variable to export, not only the gRPC code.
    no_token = {k: v for k, v in cli_env().items() if k != "LLMROUTER_READ_TOKEN"}
    refused = subprocess.run(
        [sys.executable, "-m", "llmrouter", "costs", "--config", str(stack["config"])],
        capture_output=True,
        text=True,
        timeout=30,
        env=no_token,
    )
    assert refused.returncode == 1
    assert "UNAUTHENTICATED" in refused.stderr
    assert "export LLMROUTER_READ_TOKEN" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_streaming_through_the_stack(stack: dict[str, int]) -> None:
    body = {
        "model": "auto",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "hi"}],
    }
    with httpx.stream(
        "POST", f"http://127.0.0.1:{stack['gateway']}/v1/chat/completions", json=body, timeout=30
    ) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in reply.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    assert len(lines) > 3


def test_the_local_stack_refuses_anonymous_grpc_calls(stack: dict[str, int]) -> None:
    """`serve all` gives router and metrics this run's tokens: the gateway works, a caller
    without a token gets nothing from the gRPC ports, and the read token only reads."""
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    reply = httpx.post(
        f"http://127.0.0.1:{stack['gateway']}/v1/chat/completions", json=body, timeout=30
    )
    assert reply.status_code == 200, reply.text
    assert httpx.get(f"http://127.0.0.1:{stack['gateway']}/v1/admin/models").status_code == 200

    unauthenticated = grpc.StatusCode.UNAUTHENTICATED
    with grpc.insecure_channel(f"127.0.0.1:{stack['router']}") as channel:
        router = router_service_pb2_grpc.RouterServiceStub(channel)
        admin = router_admin_service_pb2_grpc.RouterAdminServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            router.ListModels(router_service_pb2.ListModelsRequest(), timeout=5)
        assert refused.value.code() == unauthenticated  # type: ignore[attr-defined]
        with pytest.raises(grpc.RpcError) as refused:
            admin.SetModelEnabled(
                router_admin_service_pb2.SetModelEnabledRequest(model="sim-small", enabled=False),
                timeout=5,
            )
        assert refused.value.code() == unauthenticated  # type: ignore[attr-defined]
    read = (("authorization", f"Bearer {READ_TOKEN}"),)
    with grpc.insecure_channel(f"127.0.0.1:{stack['metrics']}") as channel:
        metrics = metrics_service_pb2_grpc.MetricsServiceStub(channel)
        record = metrics_service_pb2.RecordUsageRequest(
            records=[metrics_service_pb2.UsageRecord(id="forged:1", request_id="forged")]
        )
        with pytest.raises(grpc.RpcError) as refused:
            metrics.RecordUsage(record, timeout=5)
        assert refused.value.code() == unauthenticated  # type: ignore[attr-defined]
        with pytest.raises(grpc.RpcError) as refused:
            metrics.RecordUsage(record, timeout=5, metadata=read)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
        metrics.QueryCosts(metrics_service_pb2.QueryCostsRequest(), timeout=5, metadata=read)
