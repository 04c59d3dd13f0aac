"""What a bench result was measured with: the machine, the interpreter, the versions of the
packages on the hot path, and the lock file the venv was built from (``requirements/lock.txt``,
by sha256), so two result files can be told apart by more than their date.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock.txt"
# The packages whose version moves the figures: servers, gRPC, HTTP clients, serialisation,
# tracing, the event loop and the database layer.
KEY_PACKAGES = (
    "grpcio",
    "protobuf",
    "uvicorn",
    "starlette",
    "httpx",
    "aiohttp",
    "opentelemetry-sdk",
    "orjson",
    "uvloop",
    "sqlalchemy",
)
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.M)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def file_sha256(path: Path) -> str | None:
    """Hex sha256 of a file's bytes, or None when it does not exist."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def lock_pins(path: Path = LOCK) -> dict[str, str]:
    """``{canonical name: version}`` for every ``name==version`` line of a pip lock file."""
    if not path.is_file():
        return {}
    return {_canonical(n): v for n, v in _PIN.findall(path.read_text())}


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    """Machine and its load, Python, key package versions, the lock's sha256, drift from it.

    ``differs_from_lock`` lists ``name: installed != locked`` for every pinned package whose
    installed version is another (or missing): empty when the venv is exactly the lock.
    """
    pins = lock_pins()
    drift = []
    for name, locked in sorted(pins.items()):
        installed = _installed(name)
        if installed != locked:
            drift.append(f"{name}: {installed or 'missing'} != {locked}")
    return {
        "cpus": os.cpu_count(),
        "co_located": True,
        # Anything else running shows here: 1-minute load average when the run started.
        "loadavg_start": round(os.getloadavg()[0], 2),
        "machine": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        "packages": {name: _installed(name) for name in KEY_PACKAGES},
        "lock": str(LOCK.relative_to(ROOT)),
        "lock_sha256": file_sha256(LOCK),
        "differs_from_lock": drift,
    }


def markdown_line(env: dict[str, Any]) -> str:
    """A paragraph for a result's ``.md``: versions, the lock's digest, the machine's load."""
    versions = ", ".join(f"{n} {v or '-'}" for n, v in env["packages"].items())
    sha = env["lock_sha256"] or "absent"
    text = f"Python {env['python']}, {versions}; `{env['lock']}` sha256 `{sha}`."
    if "loadavg_end" in env:
        text += (
            f" Load average (1 min): {env['loadavg_start']} at start, {env['loadavg_end']} at end."
        )
    if env["differs_from_lock"]:
        text += f" The venv differs from the lock: {'; '.join(env['differs_from_lock'])}."
    return text
