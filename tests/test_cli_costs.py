"""``llmrouter costs`` as a user runs it: a real process against a real metrics service, reading
the config file ``serve`` reads (--config, else $LLMROUTER_CONFIG, else ./llmrouter.toml),
connecting as the gateway does (TLS, mTLS, token), and saying in one line where it tried and
how to point elsewhere when nothing answers there."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llmrouter.access import TokenGrant
from llmrouter.config import config_path
from llmrouter.security import ClientTls, ServerTls, channel_factory
from llmrouter.v1 import metrics_service_pb2 as pb
from llmrouter.v1 import metrics_service_pb2_grpc
from metrics_svc.config import MetricsConfig
from metrics_svc.server import start
from tests.conftest import free_port
from tests.reliability.certs import make_ca

ROOT = Path(__file__).resolve().parents[1]
READ_ENV = "LLMROUTER_TEST_COSTS_READ"
READ_TOKEN = "costs-read-token-0123456789abcdef"


@dataclass
class Run:
    """A finished ``llmrouter costs`` process."""

    code: int
    out: str
    err: str

    def requests(self) -> str:
        """The TOTAL row's request count, from --csv output."""
        rows = list(csv.DictReader(io.StringIO(self.out)))
        assert rows, self.out
        assert rows[-1]["model"] == "TOTAL", self.out
        return rows[-1]["requests"]


async def costs(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Run:
    """Run ``llmrouter costs`` in ``cwd`` with our environment minus LLMROUTER_*, plus
    ``env``; the event loop keeps serving the in-process metrics service meanwhile."""
    child = {k: v for k, v in os.environ.items() if not k.startswith("LLMROUTER_")}
    child |= {"PYTHONPATH": str(ROOT)} | (env or {})
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "llmrouter",
        "costs",
        *args,
        cwd=cwd,
        env=child,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


@asynccontextmanager
async def metrics_service(
    tmp_path: Path, name: str, records: int = 0, client: ClientTls | None = None, **config: Any
) -> AsyncIterator[int]:
    """A metrics service on a fresh SQLite ledger holding ``records`` attempts (recorded over
    ``client``'s TLS when it has some); its port."""
    running = await start(
        MetricsConfig(
            port=0,
            prometheus_port=0,
            database_url=f"sqlite+aiosqlite:///{tmp_path}/{name}.sqlite3",
            **config,
        )
    )
    try:
        if records:
            opener = channel_factory(client or ClientTls())
            async with opener(f"127.0.0.1:{running.port}") as channel:
                stub = metrics_service_pb2_grpc.MetricsServiceStub(channel)
                batch = [
                    pb.UsageRecord(
                        id=f"{name}-{i}:1",
                        request_id=f"{name}-{i}",
                        attempt=1,
                        provider="simulated",
                        model="sim-small",
                        prompt_tokens=10,
                        completion_tokens=5,
                        status=pb.USAGE_STATUS_SUCCEEDED,
                    )
                    for i in range(records)
                ]
                await stub.RecordUsage(pb.RecordUsageRequest(records=batch))
        yield running.port
    finally:
        await running.stop()


def gateway_section(port: int, extra: str = "") -> str:
    return f'[gateway]\nmetrics_address = "127.0.0.1:{port}"\n{extra}'


def test_config_path_order(tmp_path: Path) -> None:
    (tmp_path / "llmrouter.toml").write_text("")
    env = {"LLMROUTER_CONFIG": "/etc/llmrouter/stack.toml"}
    assert config_path("mine.toml", env, tmp_path) == "mine.toml"
    assert config_path(None, env, tmp_path) == "/etc/llmrouter/stack.toml"
    assert config_path(None, {}, tmp_path) == str(tmp_path / "llmrouter.toml")
    assert config_path(None, {"LLMROUTER_CONFIG": ""}, tmp_path) == str(tmp_path / "llmrouter.toml")
    assert config_path(None, {}, tmp_path / "elsewhere") is None


async def test_costs_reads_the_config_serve_reads(tmp_path: Path) -> None:
    """Two stacks on one machine: each way of naming a config reaches its own ledger."""
    async with (
        metrics_service(tmp_path, "here", records=2) as here,
        metrics_service(tmp_path, "there", records=1) as there,
    ):
        (tmp_path / "llmrouter.toml").write_text(f"[metrics]\nport = {here}\n")
        other = tmp_path / "other.toml"
        other.write_text(gateway_section(there))
        query = ("--csv", "--group-by", "model")

        found = await costs(*query, cwd=tmp_path)
        assert (found.code, found.requests()) == (0, "2"), found.err
        by_env = await costs(*query, cwd=tmp_path, env={"LLMROUTER_CONFIG": str(other)})
        assert (by_env.code, by_env.requests()) == (0, "1"), by_env.err
        by_flag = await costs(
            *query, "--config", "llmrouter.toml", cwd=tmp_path, env={"LLMROUTER_CONFIG": str(other)}
        )
        assert (by_flag.code, by_flag.requests()) == (0, "2"), by_flag.err
        by_address = await costs(*query, "--metrics", f"127.0.0.1:{there}", cwd=tmp_path)
        assert (by_address.code, by_address.requests()) == (0, "1"), by_address.err


def test_serve_reads_the_same_file(tmp_path: Path) -> None:
    """`serve` finds ./llmrouter.toml as costs does (shown by its check of the file)."""
    (tmp_path / "llmrouter.toml").write_text("[metrics]\nprot = 1\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMROUTER_")}
    proc = subprocess.run(
        [sys.executable, "-m", "llmrouter", "serve", "all"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env | {"PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "llmrouter: metrics.prot: unknown key (did you mean port?)"


async def test_unreachable_service_is_one_line(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "stack.toml"
    config.write_text(f"[metrics]\nport = {port}\n")
    run = await costs("--config", str(config), cwd=tmp_path)
    assert run.code == 1
    assert run.out == ""
    [line] = run.err.splitlines()
    assert line == (
        f"llmrouter costs: cannot reach the metrics service at 127.0.0.1:{port} (address from "
        f"metrics.host and metrics.port in {config}): connection refused; is the stack "
        "running? Point elsewhere with --metrics HOST:PORT, or name the stack's config with "
        "--config FILE (or LLMROUTER_CONFIG)"
    )

    run = await costs("--metrics", f"localhost:{port}", cwd=tmp_path)
    assert run.code == 1
    [line] = run.err.splitlines()
    assert f"at localhost:{port} (address from --metrics): connection refused;" in line


async def test_token_from_the_gateway_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(READ_ENV, READ_TOKEN)  # the service reads its token at start
    grants = (TokenGrant(env=READ_ENV, scopes=("read",)),)
    async with metrics_service(tmp_path, "guarded", auth_tokens=grants) as port:
        config = tmp_path / "stack.toml"
        config.write_text(gateway_section(port, f'metrics_token_env = "{READ_ENV}"\n'))
        run = await costs("--config", str(config), cwd=tmp_path, env={READ_ENV: READ_TOKEN})
        assert run.code == 0, run.err
        assert run.out.split()[:3] == ["requests", "succeeded", "failed"]

        # The variable the config names is unset: said before any call.
        run = await costs("--config", str(config), cwd=tmp_path)
        assert (run.code, run.err.strip()) == (
            2,
            f"llmrouter costs: gateway.metrics_token_env: environment variable {READ_ENV} is "
            "not set or empty",
        )

        # No token at all: the service refuses, and the hint says what to set.
        bare = tmp_path / "bare.toml"
        bare.write_text(gateway_section(port))
        run = await costs("--config", str(bare), cwd=tmp_path)
        assert run.code == 1
        assert "UNAUTHENTICATED" in run.err
        assert "gateway.metrics_token_env" in run.err
        assert READ_TOKEN not in run.err + run.out

        # --token-env names another variable.
        run = await costs(
            "--config",
            str(bare),
            "--token-env",
            "MY_READ",
            cwd=tmp_path,
            env={"MY_READ": READ_TOKEN},
        )
        assert run.code == 0, run.err


async def test_tls_and_mtls(tmp_path: Path) -> None:
    ca = make_ca(tmp_path / "pki")
    server = ca.issue(tmp_path / "pki", "metrics", server=True)
    client = ca.issue(tmp_path / "pki", "costs-cli", server=False)
    tls = ServerTls(cert_file=str(server.cert), key_file=str(server.key))
    ca_only = f'[gateway.metrics_tls]\nca_file = "{ca.cert}"\n'
    with_cert = ca_only + f'cert_file = "{client.cert}"\nkey_file = "{client.key}"\n'

    trusting = ClientTls(ca_file=str(ca.cert))
    async with metrics_service(tmp_path, "tls", records=1, client=trusting, tls=tls) as port:
        config = tmp_path / "tls.toml"
        config.write_text(gateway_section(port, ca_only))
        run = await costs("--config", str(config), "--csv", "--group-by", "model", cwd=tmp_path)
        assert (run.code, run.requests()) == (0, "1"), run.err
        plaintext = tmp_path / "plaintext.toml"
        plaintext.write_text(gateway_section(port))
        run = await costs("--config", str(plaintext), cwd=tmp_path)
        assert run.code == 1
        [line] = run.err.splitlines()
        assert line.startswith(
            f"llmrouter costs: cannot reach the metrics service at 127.0.0.1:{port}"
        )

    mtls = ServerTls(
        cert_file=str(server.cert), key_file=str(server.key), client_ca_file=str(ca.cert)
    )
    holder = ClientTls(ca_file=str(ca.cert), cert_file=str(client.cert), key_file=str(client.key))
    async with metrics_service(tmp_path, "mtls", records=3, client=holder, tls=mtls) as port:
        config = tmp_path / "mtls.toml"
        config.write_text(gateway_section(port, with_cert))
        run = await costs("--config", str(config), "--csv", "--group-by", "model", cwd=tmp_path)
        assert (run.code, run.requests()) == (0, "3"), run.err
        no_cert = tmp_path / "no-cert.toml"
        no_cert.write_text(gateway_section(port, ca_only))
        run = await costs("--config", str(no_cert), cwd=tmp_path)
        assert run.code == 1
        [line] = run.err.splitlines()
        assert f"cannot reach the metrics service at 127.0.0.1:{port}" in line
        assert "Traceback" not in run.err

    # A certificate file that is not there: one line naming the key, before any call.
    missing = tmp_path / "missing.toml"
    missing.write_text(
        gateway_section(free_port(), '[gateway.metrics_tls]\nca_file = "/nonexistent/ca.pem"\n')
    )
    run = await costs("--config", str(missing), cwd=tmp_path)
    assert run.code == 2
    assert run.err.strip().startswith(
        "llmrouter costs: gateway.metrics_tls.ca_file: cannot read /nonexistent/ca.pem"
    )


async def test_costs_by_key_without_a_router_prints_the_table_and_says_why_no_budgets(
    tmp_path: Path,
) -> None:
    """The budgets column comes from the router; when none answers, the costs still print,
    without the column, and one line names the router flag."""
    async with metrics_service(tmp_path, "keys", records=2) as port:
        config = tmp_path / "llmrouter.toml"
        config.write_text(gateway_section(port))
        router = f"127.0.0.1:{free_port()}"

        run = await costs("--group-by", "api_key", "--csv", "--router", router, cwd=tmp_path)

    assert run.code == 0, run.err
    rows = list(csv.DictReader(io.StringIO(run.out)))
    assert [(r["api_key_id"], r["requests"]) for r in rows] == [("-", "2"), ("TOTAL", "2")]
    assert "budgets_remaining_usd" not in rows[0]
    assert "budgets not shown: the router answered UNAVAILABLE" in run.err
    assert "--router HOST:PORT" in run.err


async def test_costs_group_by_deployment(tmp_path: Path) -> None:
    """``--group-by deployment`` is a column of its own ("-" for models without deployments)."""
    async with metrics_service(tmp_path, "deployments", records=2) as port:
        config = tmp_path / "llmrouter.toml"
        config.write_text(gateway_section(port))

        run = await costs("--group-by", "model,deployment", "--csv", cwd=tmp_path)

    assert run.code == 0, run.err
    rows = list(csv.DictReader(io.StringIO(run.out)))
    assert [(r["model"], r["deployment"], r["requests"]) for r in rows] == [
        ("sim-small", "-", "2"),
        ("TOTAL", "", "2"),
    ]
