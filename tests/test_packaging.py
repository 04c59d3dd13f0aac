"""The installed distribution holds every package of the tree: pyproject.toml lists packages
by hand (package-dir maps llmrouter.v1 to protos/), so a new subpackage missing there would work
in the editable install of `make test` and be absent from the Docker image's `pip install .`."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP = ("llmrouter", "router_svc", "metrics_svc", "gateway")


def _packages_on_disk() -> set[str]:
    found = set()
    for top in TOP:
        for init in (ROOT / top).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT)
            if "__pycache__" in relative.parts:
                continue
            found.add(".".join(relative.parts))
    if (ROOT / "protos/llmrouter/v1/__init__.py").is_file():  # llmrouter/v1 is a link to it
        found.add("llmrouter.v1")
    return found


def test_every_package_is_listed_for_installation() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    on_disk = _packages_on_disk()
    assert on_disk - listed == set(), f"add to [tool.setuptools] packages: {on_disk - listed}"
    assert listed - on_disk == set(), f"listed but absent: {listed - on_disk}"
    # The stubs are installed from beside their .proto files.
    assert setuptools["package-dir"]["llmrouter.v1"] == "protos/llmrouter/v1"
    assert (ROOT / "protos/llmrouter/v1/router_service_pb2.py").is_file()
