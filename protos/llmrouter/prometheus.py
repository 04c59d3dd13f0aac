"""Serving a Prometheus registry on its own port, in a daemon thread (off the event loop)."""

from __future__ import annotations

from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from .serving import StartupError

__all__ = ["MetricsEndpoint", "serve_metrics"]


@dataclass(slots=True)
class MetricsEndpoint:
    """A running ``/metrics`` endpoint."""

    server: WSGIServer | None
    port: int

    def stop(self) -> None:
        """Stop serving."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def serve_metrics(host: str, port: int, registry: CollectorRegistry) -> MetricsEndpoint:
    """Serve ``registry`` at ``http://host:port/metrics``; port 0 picks one; None if disabled."""
    try:
        server, _ = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise StartupError(
            f"cannot serve Prometheus metrics on {host}:{port}: {exc.strerror}"
        ) from None
    return MetricsEndpoint(server, int(server.server_port))
