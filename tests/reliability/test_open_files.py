"""A process started under a low soft open-file limit (1024 is common) raises it to fit its
connection cap, or says in one line that it cannot: without this, the gateway's 1000 connections
(gateway.max_connections) or a gRPC server's would hit EMFILE first."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import free_port

from .stack import gateway_section, metrics_section

LOW = 256


def _soft_nofile(pid: int) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError("no 'Max open files' line")


def _start(module: str, config: Path, log: Path, hard: int) -> subprocess.Popen[bytes]:
    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (LOW, hard))

    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMROUTER_")}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", module, "--config", str(config)],
            env={**env, "LLMROUTER_GATEWAY_AUTH_ENABLED": "false"},
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=lower,
        )


def _wait_for(log: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while text not in log.read_text(errors="replace"):
        assert process.poll() is None, log.read_text(errors="replace")
        assert time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.05)


def test_gateway_and_grpc_servers_raise_a_low_soft_limit(tmp_path: Path) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 1000 + 512  # the default connection caps plus the margin
    metrics_port = free_port()
    gateway_port = free_port()
    (tmp_path / "m.toml").write_text(metrics_section(tmp_path).replace("{port}", str(metrics_port)))
    (tmp_path / "g.toml").write_text(
        gateway_section([free_port()], metrics_port).replace("{port}", str(gateway_port))
    )
    metrics = _start("metrics_svc", tmp_path / "m.toml", tmp_path / "m.log", hard)
    gateway = _start("gateway", tmp_path / "g.toml", tmp_path / "g.log", hard)
    try:
        _wait_for(tmp_path / "m.log", "metrics: listening on", metrics)
        _wait_for(tmp_path / "g.log", "gateway: listening on", gateway)
        expected = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        assert _soft_nofile(metrics.pid) == expected
        assert _soft_nofile(gateway.pid) == expected
        if expected < wanted:  # a machine whose hard limit is too low: the process says so
            assert "open-file limit" in (tmp_path / "g.log").read_text()
    finally:
        for process in (gateway, metrics):
            process.terminate()
            process.wait(timeout=30)
