"""The built distribution: every package of the tree, the dashboard's assets and the license
texts, built without a setuptools warning from exactly what the Docker image copies.

pyproject.toml lists packages by hand (package-dir maps llmrouter.v1 to protos/), so a new
subpackage missing there would work in the editable install of `make test` and be absent from
the Docker image's `pip install .`; setuptools warns (and will refuse, from 2027) on the
deprecated license table and on data directories missing from `packages`."""

from __future__ import annotations

import email.parser
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP = ("llmrouter", "router_svc", "metrics_svc", "gateway")
STATIC = ROOT / "gateway/dashboard/static"
LICENSES = ("LICENSE", "gateway/dashboard/static/vendor/chart.js.LICENSE.md")


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


def _data_directories() -> set[str]:
    """The dashboard's asset directories: packaged as data-only packages."""
    folders = [STATIC, *(p for p in STATIC.rglob("*") if p.is_dir() and p.name != "__pycache__")]
    return {".".join(p.relative_to(ROOT).parts) for p in folders}


def test_every_package_is_listed_for_installation() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    on_disk = _packages_on_disk() | _data_directories()
    assert on_disk - listed == set(), f"add to [tool.setuptools] packages: {on_disk - listed}"
    assert listed - on_disk == set(), f"listed but absent: {listed - on_disk}"
    # The stubs are installed from beside their .proto files.
    assert setuptools["package-dir"]["llmrouter.v1"] == "protos/llmrouter/v1"
    assert (ROOT / "protos/llmrouter/v1/router_service_pb2.py").is_file()


def _docker_context(dest: Path) -> Path:
    """What the Dockerfile's COPY lines put in the image's /app, copied to ``dest`` (links
    kept as links, as docker's COPY keeps them)."""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if not line.startswith("COPY "):
            continue
        *sources, target = line.split()[1:]
        for source in sources:
            origin = ROOT / source
            into = dest / target
            if target.endswith("/"):
                into = into / origin.name
            into.parent.mkdir(parents=True, exist_ok=True)
            if origin.is_dir():
                ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
                shutil.copytree(origin, into, symlinks=True, ignore=ignore)
            else:
                shutil.copy2(origin, into)
    return dest


def _run(command: list[str], cwd: Path) -> str:
    """Run a build step the way a user would; its output, both streams. Neither PYTHONPATH
    nor PYTHONDONTWRITEBYTECODE (set in some shells: distutils then says byte-compiling is
    skipped, a "warning" of the environment, not of the project)."""
    unset = {"PYTHONPATH", "PYTHONDONTWRITEBYTECODE"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def _warnings(output: str) -> list[str]:
    return [line for line in output.splitlines() if "warning" in line.lower()]


def _check_wheel(wheel: Path) -> None:
    """The dashboard's every asset, the stubs and both license texts are in ``wheel``."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(archive.read(info).decode())
    assets = {p.relative_to(ROOT).as_posix() for p in STATIC.rglob("*") if p.is_file()}
    assets = {a for a in assets if "__pycache__" not in a}
    assert len(assets) >= 10
    assert assets - names == set(), "dashboard assets missing from the wheel"
    assert "gateway/dashboard/index.html" in names
    assert {"llmrouter/v1/router_service_pb2.pyi", "llmrouter/v1/py.typed"} <= names
    dist_info = info.removesuffix("/METADATA")
    assert {f"{dist_info}/licenses/{name}" for name in LICENSES} <= names
    # PEP 639 (core metadata 2.4): an SPDX expression, no legacy License field.
    assert metadata["License-Expression"] == "Apache-2.0 AND MIT"
    assert sorted(metadata.get_all("License-File") or []) == sorted(LICENSES)
    assert metadata["License"] is None
    assert tuple(int(n) for n in metadata["Metadata-Version"].split(".")) >= (2, 4)


def test_pip_wheel_of_the_image_context_has_no_warning(tmp_path: Path) -> None:
    """`pip wheel .` as the Dockerfile's `pip install .` builds it: no setuptools warning,
    every dashboard asset and license text inside."""
    source = _docker_context(tmp_path / "app")
    output = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(tmp_path / "dist"), str(source)],
        tmp_path,
    )  # fmt: skip
    assert _warnings(output) == []
    (wheel,) = (tmp_path / "dist").glob("llmrouter-*.whl")
    _check_wheel(wheel)


_HOOK = "import sys, setuptools.build_meta as b; print(b.build_{}(sys.argv[1]))"


def test_sdist_then_wheel_as_python_m_build_has_no_warning(tmp_path: Path) -> None:
    """`python -m build`'s path: an sdist, then the wheel built from the unpacked sdist, each
    by the PEP 517 hook in its own process; no warning, and nothing lost on the way."""
    source = _docker_context(tmp_path / "app")
    output = _run([sys.executable, "-c", _HOOK.format("sdist"), str(tmp_path / "sdist")], source)
    (sdist,) = (tmp_path / "sdist").glob("llmrouter-*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    (unpacked,) = (tmp_path / "unpacked").iterdir()
    output += _run([sys.executable, "-c", _HOOK.format("wheel"), str(tmp_path / "dist")], unpacked)
    assert _warnings(output) == []
    (wheel,) = (tmp_path / "dist").glob("llmrouter-*.whl")
    _check_wheel(wheel)
