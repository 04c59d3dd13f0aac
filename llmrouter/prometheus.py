"""Serving a Prometheus registry on its own port, in a daemon thread (off the event loop).

prometheus_client's ``start_http_server`` runs one thread per connection with no socket timeout
and no cap, so a client that connects and sends nothing holds a thread forever. The server here
is the same wsgiref server with prometheus_client's app, plus a deadline per connection (the
whole request and answer; a per-operation timeout alone lets a client that sends one byte every
few seconds hold its thread for as long as it likes) and a cap on concurrent connections (a
scrape is one short GET). Request line and header sizes keep http.server's bounds (64 KiB per
line, 100 header lines).
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client import CollectorRegistry, make_wsgi_app

from .serving import bind_failure, listen_error

__all__ = ["MAX_CONNECTIONS", "TIMEOUT_S", "MetricsEndpoint", "serve_metrics"]

# Seconds one connection may last, request and answer (Prometheus' default scrape_timeout is
# also 10 s); a client still connected then is dropped.
TIMEOUT_S = 10.0
# Connections served at once (one thread each); more are closed as soon as they are accepted.
MAX_CONNECTIONS = 16


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


def serve_metrics(
    host: str,
    port: int,
    registry: CollectorRegistry,
    *,
    timeout_s: float = TIMEOUT_S,
    max_connections: int = MAX_CONNECTIONS,
    setting: str = "",
) -> MetricsEndpoint:
    """Serve ``registry`` at ``http://host:port/metrics`` in a daemon thread; port 0 picks one.

    ``timeout_s`` bounds each connection from accept to close (and so each socket read or
    write), ``max_connections`` the connections served at once. Raises
    :class:`~llmrouter.serving.StartupError` when the address cannot be bound, naming
    ``setting`` (the config key of the port, e.g. ``router.prometheus_port``) and its
    environment variable.
    """
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        server = _Server((host, port), family[0][0], timeout_s, max_connections)
    except OSError as exc:
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        raise listen_error(where, bind_failure(exc), setting, zero_turns_off=True) from None
    server.set_app(make_wsgi_app(registry))
    threading.Thread(target=server.serve_forever, name="prometheus", daemon=True).start()
    return MetricsEndpoint(server, int(server.server_port))


class _Handler(WSGIRequestHandler):
    """One request per connection, the connection bounded by the server's timeout_s, no
    access log."""

    server: _Server

    def setup(self) -> None:
        """Start the connection's deadline; bound every socket operation by it too."""
        super().setup()
        self.connection.settimeout(self.server.timeout_s)
        # Shutting the socket down wakes a read or write blocked in this connection's thread.
        self._deadline = threading.Timer(self.server.timeout_s, self._expire)
        self._deadline.daemon = True
        self._deadline.start()

    def finish(self) -> None:
        """Stop the deadline, then close as usual."""
        self._deadline.cancel()
        super().finish()

    def _expire(self) -> None:
        """The deadline passed: end the connection whatever it is doing."""
        with contextlib.suppress(OSError):  # already closed
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing."""


class _Server(ThreadingMixIn, WSGIServer):
    """wsgiref's server, a daemon thread per connection, at most ``max_connections`` at once."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        family: socket.AddressFamily,
        timeout_s: float,
        max_connections: int,
    ) -> None:
        self.address_family = family
        self.timeout_s = timeout_s
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Start a thread for the connection, or close it when every slot is taken."""
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Serve the connection, then free its slot."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that timed out or went away is not worth a traceback."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)
