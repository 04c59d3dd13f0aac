"""The Makefile's targets, read through GNU make's dry run (``make -n``) in a copy of the project
skeleton: what ``make run``, ``make venv`` and ``make test`` would execute, without executing it.

Running the product must never install a browser (Chromium is for tests/dashboard only), and
``make run`` must pass the config file a user picked (``CONFIG=``, else ``./llmrouter.toml``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What the browser step runs; none of it may appear in a run's or a venv's plan.
BROWSER_WORDS = ("apt-get", "chromium")

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")


def _skeleton(tmp_path: Path, *, venv: str) -> Path:
    """A directory with the Makefile and the files its rules depend on; ``venv`` is "none"
    (fresh checkout), "stale" (locked set installed, project not yet) or "ready"."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements" / "lock.txt").write_text("")
    (tmp_path / "pyproject.toml").write_text("")
    if venv != "none":
        (tmp_path / ".venv").mkdir()
        # Newer than their prerequisites, so make sees them as up to date.
        later = time.time() + 60
        stamps = [".venv/.locked"] if venv == "stale" else [".venv/.locked", ".venv/.installed"]
        for name in stamps:
            (tmp_path / name).write_text("")
            os.utime(tmp_path / name, (later, later))
    return tmp_path


def _dry_run(directory: Path, *args: str) -> str:
    """What ``make -n args`` would execute in ``directory`` (sub-makes included)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    done = subprocess.run(
        ["make", "-n", "-C", str(directory), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("venv", ["none", "stale", "ready"])
@pytest.mark.parametrize("target", ["run", "venv"])
def test_run_and_venv_never_install_a_browser(tmp_path: Path, target: str, venv: str) -> None:
    plan = _dry_run(_skeleton(tmp_path, venv=venv), target)

    for word in BROWSER_WORDS:
        assert word not in plan, f"make {target} ({venv} venv) would run {word}:\n{plan}"
    if venv != "ready":
        assert "pip install" in plan  # the plan is real: it sets up the venv
    if target == "run":
        assert "llmrouter serve all" in plan


@pytest.mark.parametrize("venv", ["none", "ready"])
def test_make_test_installs_the_browser_when_missing(tmp_path: Path, venv: str) -> None:
    plan = _dry_run(_skeleton(tmp_path, venv=venv), "test")

    assert "apt-get install -y -qq chromium" in plan
    assert "pytest" in plan


def test_run_passes_the_chosen_config(tmp_path: Path) -> None:
    directory = _skeleton(tmp_path, venv="ready")

    assert "--config" not in _dry_run(directory, "run")
    # ./llmrouter.toml is the CLI's choice (llmrouter.config.config_path, after
    # $LLMROUTER_CONFIG; tests/test_cli_costs.py starts `serve all` finding it), not make's.
    (directory / "llmrouter.toml").write_text("")
    assert "--config" not in _dry_run(directory, "run")
    # CONFIG= names the file for the CLI.
    assert "serve all --config other.toml" in _dry_run(directory, "run", "CONFIG=other.toml")
