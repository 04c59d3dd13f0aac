"""What every ``bench/run.py`` variant shares: processes and their CPU and memory, readiness
polling, the wrk closed-loop driver and the streaming client.

Processes are measured from ``/proc`` (Linux): CPU seconds (user + system) and peak RSS
(``VmHWM``) of the process and of every live descendant, so a server that forks workers
(LiteLLM's ``--num_workers``) is measured whole.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import statistics
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BODY = '{"model":"%s","messages":[{"role":"user","content":"Say hello in one short sentence."}]}'


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # exited while we looked
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@dataclass
class Proc:
    """A process a variant started, by role (``gateway``, ``router``, ``litellm`` ...)."""

    name: str
    popen: subprocess.Popen[bytes]

    def _pids(self) -> list[int]:
        return [self.popen.pid, *_descendants(self.popen.pid)]

    def cpu_seconds(self) -> float:
        """User + system CPU seconds so far, this process and its live descendants."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self._pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
        return total / ticks

    def peak_rss_mb(self) -> float:
        """Peak resident set size in MB (``VmHWM``), summed over the process tree."""
        total = 0
        for pid in self._pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        return total / 1024


def wait_http(url: str, timeout: float = 30) -> None:
    """Poll ``url`` until it answers below 500; RuntimeError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready")


def start_upstream(port: int) -> Proc:
    """The Node.js OpenAI-compatible upstream (``bench/upstream.js``) on ``port``."""
    popen = subprocess.Popen(
        ["node", str(ROOT / "bench" / "upstream.js"), str(port)], stdout=subprocess.DEVNULL
    )
    return Proc("upstream (node)", popen)


def stop(procs: Iterable[Proc]) -> None:
    """SIGTERM each (last started first), then wait up to 30 s each before SIGKILL."""
    procs = list(procs)
    for proc in reversed(procs):
        proc.popen.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.popen.kill()
            proc.popen.wait()


@dataclass
class WrkResult:
    """One wrk run: latency percentiles in ms, ``errors`` = non-2xx + socket errors, of which
    ``timeouts`` are requests unanswered after wrk's 2 s timeout."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    timeouts: int = 0


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, model: str, connections: int, seconds: float, workdir: Path) -> WrkResult:
    """POST the bench chat body for ``model`` to ``url`` in a closed loop with wrk."""
    script = workdir / f"post-{model}.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = '{BODY % model}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    threads = 1 if connections < 4 else 2
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(int(seconds), 1)}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def pct(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")

    total = re.search(r"(\d+) requests in ([\d.]+)(s|m)", out)
    assert total, out
    duration = float(total.group(2)) * (60 if total.group(3) == "m" else 1)
    errors = timeouts = 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        errors += sum(int(g) for g in sock.groups())
        timeouts = int(sock.group(4))
    requests = int(total.group(1))
    rps = requests / duration
    return WrkResult(requests, duration, rps, pct("50"), pct("99"), errors, timeouts)


async def stream_timings(url: str, model: str, count: int) -> tuple[float, float]:
    """Median time to first content chunk and median gap between chunks, in ms."""
    body = json.loads(BODY % model) | {"stream": True}
    ttfts, gaps = [], []
    async with httpx.AsyncClient(timeout=30) as http:
        for _ in range(count):
            started = time.perf_counter()
            last = None
            async with http.stream("POST", url, json=body) as response:
                async for line in response.aiter_lines():
                    if not line.startswith("data:") or '"content":"tok' not in line:
                        continue
                    now = time.perf_counter()
                    if last is None:
                        ttfts.append((now - started) * 1000)
                    else:
                        gaps.append((now - last) * 1000)
                    last = now
    return statistics.median(ttfts), statistics.median(gaps)
