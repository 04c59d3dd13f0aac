"""llmrouter-client (clients/python): the gRPC contracts alone, for a service that calls
llmrouter without running it.

The wheel is built as a user would build it (pip, the pinned setuptools, offline), from a copy
of the tree with its links (clients/python/llmrouter/v1 links to the committed stubs), then
installed into a fresh venv next to the wheels of grpcio and protobuf alone (pinned by the
lock, checked against its hashes). There a script calls a real router, and mypy reads the
installed stubs' types.
"""

from __future__ import annotations

import asyncio
import email.message
import email.parser
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from llmrouter.access import TokenGrant
from router_svc.config import RouterConfig
from router_svc.server import start
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
STUBS = ROOT / "protos/llmrouter/v1"
# What the client needs at run time (grpcio requires typing-extensions), and its `status` extra.
RUNTIME = ("grpcio", "protobuf", "typing-extensions")
STATUS = ("grpcio-status", "googleapis-common-protos")
_LOCK_ENTRY = re.compile(
    r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)(?:\s*\\\n\s+--hash=sha256:[0-9a-f]{64})+", re.M
)
TOKEN_ENV = "LLMROUTER_TEST_CLIENT_TOKEN"
TOKEN = "client-wheel-token-0123456789"


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A user's environment: none of this test run's PYTHONPATH (which would hand the child
    the servers' code), nor PYTHONDONTWRITEBYTECODE (distutils says so in "warning" lines)."""
    unset = {"PYTHONPATH", "PYTHONDONTWRITEBYTECODE"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(extra or {})
    return env


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run ``command``; its output (both streams), asserting it succeeded."""
    done = subprocess.run(
        command,
        cwd=cwd,
        env=env or child_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def lock_entries(names: Iterable[str]) -> list[str]:
    """The lock's entries (``name==version`` and its hashes) for ``names``."""
    wanted = {canonicalize_name(n) for n in names}
    text = (ROOT / "requirements/lock.txt").read_text()
    found = [m for m in _LOCK_ENTRY.finditer(text) if canonicalize_name(m[1]) in wanted]
    assert {canonicalize_name(m[1]) for m in found} == wanted
    return [m[0] for m in found]


def dependency_wheels(directory: Path) -> Path:
    """A folder holding the locked wheels of RUNTIME and STATUS: from an earlier run when all
    are there (offline), else downloaded once (pip checks each file against the lock's hash)."""
    directory.mkdir(parents=True, exist_ok=True)
    requirements = directory / "requirements.txt"
    requirements.write_text("\n".join(lock_entries((*RUNTIME, *STATUS))) + "\n")
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    pip += ["--require-hashes", "-r", str(requirements), "-d", str(directory)]
    offline = [*pip, "--no-index", "--find-links", str(directory)]
    done = subprocess.run(offline, capture_output=True, env=child_env(), timeout=120, check=False)
    if done.returncode != 0:
        run(pip, directory)
    return directory


def build_client_wheel(tmp: Path) -> tuple[Path, str]:
    """``pip wheel`` of a copy of clients/python (the stubs reached through its link, as in
    the repository); the wheel and pip's output."""
    source = tmp / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    shutil.copytree(ROOT / "clients", source / "clients", symlinks=True, ignore=ignore)
    shutil.copytree(ROOT / "protos", source / "protos", symlinks=True, ignore=ignore)
    shutil.copy2(ROOT / "LICENSE", source / "LICENSE")
    output = run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(tmp / "dist"), str(source / "clients/python")],
        tmp,
    )  # fmt: skip
    (wheel,) = (tmp / "dist").glob("llmrouter_client-*.whl")
    return wheel, output


def wheel_metadata(wheel: Path) -> tuple[set[str], email.message.Message]:
    """The file names in ``wheel`` and its METADATA."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        return names, email.parser.Parser().parsestr(archive.read(info).decode())


def install(venv: Path, wheel: Path, wheels: Path, extra: str, names: Iterable[str]) -> None:
    """Install ``wheel`` (with ``extra``) and the lock's ``names`` into ``venv``, offline, every
    file checked against its hash."""
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    requirements = venv / f"requirements{extra}.txt"
    requirements.write_text(
        f"llmrouter-client{extra} @ {wheel.as_uri()} --hash=sha256:{digest}\n"
        + "\n".join(lock_entries(names))
        + "\n"
    )
    run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin/python"), "install",
         "--no-index", "--find-links", str(wheels), "--require-hashes", "-r", str(requirements)],
        venv,
    )  # fmt: skip


@pytest.fixture(scope="module")
def client_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wheel, output = build_client_wheel(tmp_path_factory.mktemp("client-wheel"))
    assert [line for line in output.splitlines() if "warning" in line.lower()] == []
    return wheel


def new_venv(wheel: Path, folder: Path, extra: str, names: Iterable[str]) -> Path:
    """A new venv in ``folder`` (no pip, no system site-packages) holding ``wheel`` with
    ``extra`` and the lock's ``names``."""
    venv = folder / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], folder)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    wheels = dependency_wheels(cache / "llmrouter-tests" / "client-wheels")
    install(venv, wheel, wheels, extra, names)
    return venv


@pytest.fixture(scope="module")
def client_venv(client_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The client and its runtime (grpcio, protobuf) only."""
    return new_venv(client_wheel, tmp_path_factory.mktemp("client-venv"), "", RUNTIME)


@asynccontextmanager
async def real_router(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """A router on the built-in simulated models that takes TOKEN only; its address."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    config = replace(
        RouterConfig(),
        port=0,
        prometheus_port=0,
        metrics_address=f"127.0.0.1:{free_port()}",  # nothing listens: usage stays queued
        outbox_path=str(tmp_path / "outbox.sqlite3"),
        state_path=str(tmp_path / "state.json"),
        auth_tokens=(TokenGrant(TOKEN_ENV, ("inference",)),),
    )
    router = await start(config)
    try:
        yield f"127.0.0.1:{router.port}"
    finally:
        await router.stop(grace=1)


async def run_in(venv: Path, script: Path, *args: str) -> tuple[int, str, str]:
    """``python -I script ARGS`` in ``venv`` (isolated mode: no PYTHON* variables, no user
    site, not even the script's folder on the path), TOKEN in its environment."""
    env = child_env({"TOKEN": TOKEN, "LLMROUTER_INFERENCE_TOKEN": TOKEN})
    process = await asyncio.create_subprocess_exec(
        str(venv / "bin/python"), "-I", str(script), *args, cwd=script.parent, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def test_wheel_holds_the_typed_stubs_and_nothing_else(client_wheel: Path) -> None:
    names, _ = wheel_metadata(client_wheel)
    stubs = {
        f"llmrouter/v1/{p.name}"
        for p in STUBS.iterdir()
        if p.suffix in (".py", ".pyi", ".proto") or p.name == "py.typed"
    }
    assert {"llmrouter/v1/router_service_pb2.pyi", "llmrouter/v1/py.typed"} <= stubs
    assert {n for n in names if ".dist-info/" not in n} == stubs
    # llmrouter is a namespace here: the servers' llmrouter/__init__.py is not shipped.
    assert "llmrouter/__init__.py" not in names
    dist_info = next(n for n in names if n.endswith(".dist-info/METADATA")).split("/")[0]
    assert f"{dist_info}/licenses/LICENSE" in names


def _generated_versions() -> tuple[Version, Version]:
    """(grpcio, protobuf) versions the committed stubs were generated for: each module checks
    at import that the installed one is at least that (and protobuf the same major)."""
    grpc_versions = {
        Version(m[1])
        for p in STUBS.glob("*_pb2_grpc.py")
        if (m := re.search(r"GRPC_GENERATED_VERSION = '([\d.]+)'", p.read_text()))
    }
    protobuf_versions = {
        Version(".".join(m.groups()))
        for p in STUBS.glob("*_pb2.py")
        if (m := re.search(r"Domain\.PUBLIC,\s*(\d+),\s*(\d+),\s*(\d+),", p.read_text()))
    }
    assert len(grpc_versions) == 1, grpc_versions
    assert len(protobuf_versions) == 1, protobuf_versions
    return grpc_versions.pop(), protobuf_versions.pop()


def test_wheel_requires_only_grpcio_and_protobuf(client_wheel: Path) -> None:
    _, metadata = wheel_metadata(client_wheel)
    requires = [Requirement(r) for r in metadata.get_all("Requires-Dist") or []]
    always = {r.name: r for r in requires if r.marker is None}
    assert set(always) == {"grpcio", "protobuf"}
    grpc_version, protobuf_version = _generated_versions()
    assert {str(s) for s in always["grpcio"].specifier} == {f">={grpc_version}", "<2"}
    major = protobuf_version.major
    assert {str(s) for s in always["protobuf"].specifier} == {
        f">={protobuf_version}",
        f"<{major + 1}",
    }
    extras = {r.name for r in requires if r.marker is not None}
    assert extras == {"grpcio-status"}
    assert all(r.marker.evaluate({"extra": "status"}) for r in requires if r.marker)
    assert metadata.get_all("Provides-Extra") == ["status"]
    assert metadata["License-Expression"] == "Apache-2.0"
    # Released with the servers: the same version as the llmrouter distribution.
    server = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert metadata["Version"] == server


ROUTE_SCRIPT = """
import importlib.metadata, importlib.util, json, os, sys
import grpc
from llmrouter.v1 import chat_pb2, router_service_pb2, router_service_pb2_grpc

with grpc.insecure_channel(sys.argv[1]) as channel:
    router = router_service_pb2_grpc.RouterServiceStub(channel)
    chat = chat_pb2.ChatRequest(
        model="auto", messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hi")]
    )
    reply = router.Route(
        router_service_pb2.RouteRequest(chat=chat),
        timeout=10,
        metadata=[("authorization", "Bearer " + os.environ["TOKEN"])],
    )
print(json.dumps({
    "candidates": [c.model for c in reply.candidates],
    "category": reply.category,
    "stubs": router_service_pb2.__file__,
    "installed": sorted(d.metadata["Name"] for d in importlib.metadata.distributions()),
    "servers": [m for m in ("llmrouter.config", "router_svc", "grpc_status", "httpx")
                if importlib.util.find_spec(m) is not None],
}))
"""


async def test_stubs_call_a_real_router_from_a_venv_without_the_servers(
    client_venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "route.py"
    script.write_text(ROUTE_SCRIPT)
    async with real_router(tmp_path, monkeypatch) as target:
        code, out, err = await run_in(client_venv, script, target)
    assert code == 0, err
    seen = json.loads(out)
    assert seen["candidates"] == ["sim-small", "sim-large"]
    assert seen["category"]
    assert Path(seen["stubs"]).is_relative_to(client_venv)
    installed = {canonicalize_name(n) for n in seen["installed"]}
    assert installed == {"llmrouter-client", *RUNTIME}
    assert seen["servers"] == []


_MYPY_OK = """
from llmrouter.v1 import chat_pb2, router_service_pb2

request = router_service_pb2.RouteRequest(chat=chat_pb2.ChatRequest(model="auto"))
model: str = request.chat.model
"""


def test_installed_stubs_are_typed(client_venv: Path, tmp_path: Path) -> None:
    """mypy --strict, looking only at the venv's packages, reads the stubs' types: a correct
    use passes, a wrong one is an error naming the types (without py.typed mypy would refuse
    the import instead)."""
    (tmp_path / "mypy.ini").write_text(f"[mypy]\nstrict = True\ncache_dir = {tmp_path / 'c'}\n")
    (tmp_path / "ok.py").write_text(_MYPY_OK)
    (tmp_path / "wrong.py").write_text(_MYPY_OK.replace("model: str", "model: int"))
    mypy = [str(Path(sys.executable).parent / "mypy"), "--config-file", str(tmp_path / "mypy.ini")]
    mypy += ["--python-executable", str(client_venv / "bin/python")]
    assert "Success" in run([*mypy, "ok.py"], tmp_path)
    done = subprocess.run(
        [*mypy, "wrong.py"], cwd=tmp_path, env=child_env(), capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'expression has type "str", variable has type "int"' in done.stdout


async def test_example_client_runs_with_the_client_alone(
    client_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """examples/client.py needs `llmrouter-client[status]` and nothing of the servers: an
    answer, a stream, and an error read from its ErrorInfo."""
    venv = new_venv(client_wheel, tmp_path, "[status]", (*RUNTIME, *STATUS))
    script = tmp_path / "client.py"
    shutil.copy2(ROOT / "examples/client.py", script)
    async with real_router(tmp_path, monkeypatch) as target:
        answer = await run_in(venv, script, "--target", target, "--model", "sim-small", "hi")
        streamed = await run_in(venv, script, "--target", target, "--stream", "hi")
        unknown = await run_in(venv, script, "--target", target, "--model", "nope", "hi")
    for code, out, err in (answer, streamed):
        assert code == 0, err
        assert "[simulated" in out
        assert re.search(r"^model=sim-small provider=simulated id=[0-9a-f]{32} ", err), err
    code, out, err = unknown
    assert (code, out) == (1, "")
    assert err.startswith("error: NOT_FOUND: ")
    assert "[reason MODEL_NOT_FOUND" in err
