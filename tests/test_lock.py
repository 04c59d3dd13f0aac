"""The lock files define what is installed (`make venv`, `make test`, CI, the Docker image):
every requirement of pyproject.toml is pinned there, within its range, with hashes, and the
image's runtime lock agrees with the full one. A dependency added to pyproject.toml without
`make lock` fails here, before a fresh clone's `pip check` would."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements"
LOCKS = ("lock.txt", "runtime.txt", "bench-peers.txt", "phoenix.txt")
_ENTRY = re.compile(
    r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)((?:\s*\\\n\s+--hash=sha256:[0-9a-f]{64})*)", re.M
)


def _pins(name: str) -> dict[str, tuple[str, int]]:
    """``{canonical name: (version, number of hashes)}`` of a pip-compile output."""
    text = (REQUIREMENTS / name).read_text()
    return {canonicalize_name(m[1]): (m[2], m[3].count("--hash=")) for m in _ENTRY.finditer(text)}


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirements(*groups: str) -> list[Requirement]:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    found = [Requirement(r) for r in project["dependencies"]]
    for group in groups:
        found += [Requirement(r) for r in project["optional-dependencies"][group]]
    return found


def _build_requirements() -> list[Requirement]:
    build = _pyproject()["build-system"]
    assert isinstance(build, dict)
    return [Requirement(r) for r in build["requires"]]


@pytest.mark.parametrize(
    ("lock", "groups"), [("lock.txt", ("dev",)), ("runtime.txt", ())], ids=["lock", "runtime"]
)
def test_every_requirement_is_pinned_within_its_range(lock: str, groups: tuple[str, ...]) -> None:
    pins = _pins(lock)
    for requirement in [*_requirements(*groups), *_build_requirements()]:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in requirements/{lock}: run `make lock`"
        version = pins[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements/{lock} pins {name}=={version}, outside {requirement}: run `make lock`"
        )


def test_the_installer_itself_is_pinned() -> None:
    assert "pip" in _pins("lock.txt"), (
        "pip is part of the installed set (requirements/bootstrap.in)"
    )


@pytest.mark.parametrize("lock", LOCKS)
def test_every_pin_carries_hashes(lock: str) -> None:
    text = (REQUIREMENTS / lock).read_text()
    pins = _pins(lock)
    pinned_lines = [line for line in text.splitlines() if re.match(r"^[A-Za-z0-9]", line)]
    assert len(pins) == len(pinned_lines) > 0, "a pinned line without a hash, or a loose one"
    assert all(count > 0 for _, count in pins.values())


def test_runtime_lock_is_the_full_lock_without_dev() -> None:
    full, runtime = _pins("lock.txt"), _pins("runtime.txt")
    disagree = {n: (v, full.get(n, ("absent",))[0]) for n, (v, _) in runtime.items()}
    assert {n: vs for n, vs in disagree.items() if vs[0] != vs[1]} == {}
    # pyyaml is dev and runtime (uvicorn[standard]) at once; these are dev tools only.
    tools = {"pytest", "mypy", "ruff", "playwright", "grpcio-tools", "schemathesis"}
    assert tools & set(runtime) == set(), "dev tools in the image's lock"


def test_image_and_venv_install_only_from_the_locks() -> None:
    """Every pip install into the image or .venv takes a hashed lock, or the project alone."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    makefile = (ROOT / "Makefile").read_text()
    installs = re.findall(r"pip install[^\n&]*", dockerfile)
    installs += re.findall(r"\$\(PY\) -m pip install[^\n]*", makefile)
    assert len(installs) >= 4, installs
    for command in installs:
        from_lock = re.search(
            r"--require-hashes -r (requirements/runtime\.txt|\$\(LOCK\))", command
        )
        project_alone = "--no-deps" in command and "--no-build-isolation" in command
        assert from_lock or project_alone, command
    assert "LOCK   := requirements/lock.txt" in makefile
