"""``python -m metrics_svc`` as an operator runs it: one-line start-up errors, clean SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from llmrouter.v1 import metrics_service_pb2 as pb
from llmrouter.v1 import metrics_service_pb2_grpc
from metrics_svc import schema

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of a child process: no LLMROUTER_* leaks, a ledger under tmp_path."""
    child = {k: v for k, v in os.environ.items() if not k.startswith("LLMROUTER_")}
    # The repository first, so the child imports this checkout however the venv was installed.
    child["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
    )
    child["LLMROUTER_METRICS_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/metrics.sqlite3"
    child["LLMROUTER_METRICS_PROMETHEUS_PORT"] = "0"
    return child


def run_metrics(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "metrics_svc", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("metrics: ")
    return lines[0]


def test_an_unknown_config_key_is_named(tmp_path: Path, env: dict[str, str]) -> None:
    config = tmp_path / "llmrouter.toml"
    config.write_text('[metrics]\nport = 6000\nreference_modle = "gpt-4o"\n')

    result = run_metrics(["--config", str(config)], env, tmp_path)

    line = assert_one_line_error(result)
    assert "metrics.reference_modle" in line
    assert "unknown key" in line


def test_a_bad_environment_override_is_named(tmp_path: Path, env: dict[str, str]) -> None:
    env["LLMROUTER_METRICS_PORT"] = "fifty"

    line = assert_one_line_error(run_metrics([], env, tmp_path))

    assert "LLMROUTER_METRICS_PORT" in line


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port another process is listening on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_port_in_use_is_one_line_without_traceback(
    tmp_path: Path, env: dict[str, str], busy_port: int
) -> None:
    line = assert_one_line_error(run_metrics(["--port", str(busy_port)], env, tmp_path))

    assert f"127.0.0.1:{busy_port}" in line
    assert "in use" in line


def test_an_unreachable_database_is_one_line_and_hides_the_password(
    tmp_path: Path, env: dict[str, str]
) -> None:
    # A port that was just closed: the connection is refused at once.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    env["LLMROUTER_METRICS_DATABASE_URL"] = (
        f"postgresql+asyncpg://ledger:hunter2@127.0.0.1:{closed_port}/metrics"
    )

    line = assert_one_line_error(run_metrics(["--port", "0"], env, tmp_path))

    assert "cannot open database" in line
    assert f"127.0.0.1:{closed_port}" in line
    assert "hunter2" not in line


def test_serves_until_sigterm_then_exits_cleanly(tmp_path: Path, env: dict[str, str]) -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "metrics_svc", "--port", "0"],
        env=env,
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stderr is not None
        banner = child.stderr.readline()
        assert banner.startswith("metrics: listening on 127.0.0.1:"), banner
        assert f"(database: sqlite+aiosqlite:///{tmp_path}/metrics.sqlite3)" in banner
        port = int(banner.split()[3].rsplit(":", 1)[1])

        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="llmrouter.v1.MetricsService"), timeout=10
            )
            stored = metrics_service_pb2_grpc.MetricsServiceStub(channel).RecordUsage(
                pb.RecordUsageRequest(
                    records=[pb.UsageRecord(id="x:1", status=pb.USAGE_STATUS_SUCCEEDED)]
                ),
                timeout=10,
            )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        assert stored.inserted_count == 1

        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=15) == 0
        assert "Traceback" not in child.stderr.read()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_migrate_only_migrates_and_exits_without_listening(
    tmp_path: Path, env: dict[str, str], busy_port: int
) -> None:
    # The port is taken: serving would fail, so success proves nothing tried to listen.
    args = ["--migrate-only", "--port", str(busy_port)]

    first = run_metrics(args, env, tmp_path)
    again = run_metrics(args, env, tmp_path)

    for result in (first, again):
        assert result.returncode == 0, result.stderr
        assert result.stderr == (
            f"metrics: database at revision {schema.head()} "
            f"(database: sqlite+aiosqlite:///{tmp_path}/metrics.sqlite3)\n"
        )
    with sqlite3.connect(tmp_path / "metrics.sqlite3") as db:
        (version,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
        (rows,) = db.execute("SELECT count(*) FROM usage_records").fetchone()
    assert (version, rows) == (schema.head(), 0)


def test_migrate_only_reports_an_unreachable_database_in_one_line(
    tmp_path: Path, env: dict[str, str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    env["LLMROUTER_METRICS_DATABASE_URL"] = (
        f"postgresql+asyncpg://ledger:hunter2@127.0.0.1:{closed_port}/metrics"
    )

    line = assert_one_line_error(run_metrics(["--migrate-only"], env, tmp_path))

    assert "cannot open database" in line
    assert "hunter2" not in line
