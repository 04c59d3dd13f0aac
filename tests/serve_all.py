"""`llmrouter serve all` as a real process for tests: started in a directory of its own, read
until its banner, stopped with SIGTERM as Ctrl-C would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RunningStack", "serve_all"]


@dataclass
class RunningStack:
    """A started `serve all`: its banner (stdout up to "Try:") and, once stopped, its stderr."""

    banner: str
    stderr: str = ""


@contextmanager
def serve_all(
    cwd: Path, env: dict[str, str], *args: str, timeout_s: float = 60.0
) -> Iterator[RunningStack]:
    """Run `python -m llmrouter serve all *args` in ``cwd`` (its data/ goes there) with our
    environment minus LLMROUTER_* plus ``env``; on exit stop it and check that it stopped
    cleanly (status 0, no traceback)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("LLMROUTER_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmrouter", "serve", "all", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=base | env,
        cwd=cwd,
    )
    assert proc.stdout is not None
    banner: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not any("Try:" in line for line in banner):
        line = proc.stdout.readline()
        if not line:
            proc.kill()
            raise AssertionError(f"serve all exited ({proc.wait()}): {proc.communicate()[1]}")
        banner.append(line)
    running = RunningStack("".join(banner))
    try:
        yield running
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, running.stderr = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, running.stderr
    assert "Traceback" not in running.stderr, running.stderr
