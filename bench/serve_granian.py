"""Serve a gateway app with granian (a Rust HTTP server) instead of uvicorn, for
``bench/gateway_ab.py``: the same app, the same event loop (uvloop), one process.

    python bench/serve_granian.py floor PORT ROUTER_PORT
    python bench/serve_granian.py product CONFIG

granian is not a dependency of the project: install it beside the venv
(``pip install --target DIR granian``) and put ``DIR`` on ``PYTHONPATH``. The product app runs
without the gateway's connection limits (:mod:`gateway.limits` is uvicorn-specific), so this is
a measurement of the server's own cost, not a way to serve.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from typing import Any

import uvloop
from granian.constants import HTTPModes, Interfaces
from granian.log import LogLevels
from granian.server.embed import Server


def _app(argv: list[str]) -> tuple[Any, int]:
    kind, *rest = argv
    if kind == "floor":
        path = Path(__file__).resolve().parent / "floor" / "gateway.py"
        spec = importlib.util.spec_from_file_location("floor_gateway", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.FloorGateway(int(rest[1])), int(rest[0])
    from gateway.config import load_config
    from gateway.routes import create_app

    config = load_config(rest[0])
    return create_app(config), config.port


async def main(argv: list[str]) -> None:
    """Serve until SIGTERM (granian's embedded server handles the signal)."""
    app, port = _app(argv)
    server = Server(
        app,
        address="127.0.0.1",
        port=port,
        interface=Interfaces.ASGI,
        http=HTTPModes.http1,
        websockets=False,
        log_level=LogLevels.warning,
    )
    await server.serve()


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1:]))
    asyncio.set_event_loop(None)
