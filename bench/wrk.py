"""wrk, the closed-loop HTTP load generator, driven for ``bench/run.py``: one POST body, its
latency percentiles, request rate and errors parsed from its report."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

BODY = '{"model":"%s","messages":[{"role":"user","content":"Say hello in one short sentence."}]}'


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, model: str, connections: int, seconds: float, workdir: Path) -> WrkResult:
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
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        errors += sum(int(g) for g in sock.groups())
    requests = int(total.group(1))
    return WrkResult(requests, duration, requests / duration, pct("50"), pct("99"), errors)
