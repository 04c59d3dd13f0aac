"""The OpenAI-compatible HTTP gateway: a Starlette app over RouterService, and its server.

Routes: ``POST /v1/chat/completions`` (JSON or SSE), ``GET /v1/models``, ``GET /healthz``.
One ``grpc.aio`` channel to the router lives as long as the app (opened by the lifespan).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import errno
import logging
import math
import re
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import translate
from gateway.config import GatewayConfig, load_config
from gateway.errors import (
    GENERIC_MESSAGE,
    BodyTooLarge,
    GatewayError,
    InvalidRequest,
    from_rpc_error,
)
from gateway.streaming import DONE_EVENT, ClientGone, SSEResponse, sse_event, until_disconnect
from llmrouter.serving import StartupError, run_main
from llmrouter.v1 import router_service_pb2_grpc

__all__ = ["JSONResponse", "RunningGateway", "create_app", "main", "serve", "start"]

logger = logging.getLogger(__name__)

# The end-of-stream marker of ``call.read()`` (missing from grpc-stubs).
_EOF: object = grpc.aio.EOF  # type: ignore[attr-defined]

# Seconds the router gets to end its stream after the summary.
_DRAIN_S = 1.0

# A client-chosen X-Request-Id is kept when it is this tame; otherwise we make one.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class JSONResponse(Response):
    """A JSON response encoded with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Encode ``content`` as JSON."""
        return orjson.dumps(content)


def create_app(
    config: GatewayConfig, *, router_channel: grpc.aio.Channel | None = None
) -> Starlette:
    """The gateway app; ``router_channel`` (owned by the caller) replaces the one it opens."""
    api = _Api(config)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        channel = router_channel or grpc.aio.insecure_channel(config.router_address)
        api.stub = router_service_pb2_grpc.RouterServiceStub(channel)
        try:
            yield
        finally:
            if router_channel is None:
                await channel.close(None)

    routes = [
        Route("/v1/chat/completions", _guarded(api.chat_completions), methods=["POST"]),
        Route("/v1/models", _guarded(api.models), methods=["GET"]),
        Route("/healthz", _healthz, methods=["GET"]),
    ]
    return Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_exception}
    )


class _Api:
    """The endpoints that call the router."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.stub: router_service_pb2_grpc.RouterServiceStub | None = None

    def _router(self) -> router_service_pb2_grpc.RouterServiceStub:
        if self.stub is None:  # only when the app runs without its lifespan
            raise GatewayError("The gateway is not started.", http_status=503)
        return self.stub

    async def chat_completions(self, request: Request, request_id: str) -> Response:
        """``POST /v1/chat/completions``: one completion as JSON, or a stream of SSE chunks."""
        body = await _read_body(request, self.config.max_body_bytes)
        parsed = translate.parse_chat_request(
            _decode_json(body),
            request_id=request_id,
            source=request.headers.get("x-llmrouter-source"),
        )
        if parsed.stream:
            return await self._stream(request, parsed, request_id)
        call = self._router().Complete(
            parsed.complete_request(), timeout=self.config.request_timeout_s
        )
        response = await until_disconnect(request.receive, call, call.cancel)
        return JSONResponse(
            translate.completion(response), headers=translate.completion_headers(response)
        )

    async def _stream(
        self, request: Request, parsed: translate.ParsedRequest, request_id: str
    ) -> Response:
        call = self._router().StreamComplete(
            parsed.stream_request(), timeout=self.config.request_timeout_s
        )
        chunks = translate.ChunkStream(
            request_id=request_id, model=parsed.model, include_usage=parsed.include_usage
        )
        # Wait for StreamStart so the headers can name the model that will answer; errors
        # until then are ordinary HTTP errors.
        first = await until_disconnect(request.receive, call.read(), call.cancel)
        if first is _EOF:
            raise GatewayError("The router ended the stream without an answer.", http_status=502)
        try:
            initial = chunks.feed(first)
        except BaseException:
            call.cancel()
            raise
        return SSEResponse(
            _events(call, chunks, initial), cancel=call.cancel, headers=chunks.headers()
        )

    async def models(self, request: Request, request_id: str) -> Response:
        """``GET /v1/models``: the router's models plus the virtual ``auto``."""
        call = self._router().ListModels(
            translate.list_models_request(), timeout=self.config.request_timeout_s
        )
        response = await until_disconnect(request.receive, call, call.cancel)
        return JSONResponse(translate.models_list(response))


async def _events(
    call: Any, chunks: translate.ChunkStream, initial: list[dict[str, Any]]
) -> AsyncIterator[bytes]:
    """SSE events of one stream; failures become an error event and no ``[DONE]``."""
    for chunk in initial:
        yield sse_event(chunk)
    try:
        while not chunks.finished:
            message = await call.read()
            if message is _EOF:
                break
            for chunk in chunks.feed(message):
                yield sse_event(chunk)
    except grpc.aio.AioRpcError as exc:
        yield sse_event(from_rpc_error(exc).body())
        return
    except Exception:
        logger.exception("stream translation failed")
        yield sse_event(GatewayError(GENERIC_MESSAGE).body())
        return
    if not chunks.finished:
        error = GatewayError("The router ended the stream before it was complete.")
        yield sse_event(error.body())
        return
    yield DONE_EVENT
    # Let the call end on its own (read to EOF): cancelling it right after the summary could
    # make the router record a served request as cancelled. A router that lingers is cut off.
    try:
        async with asyncio.timeout(_DRAIN_S):
            while await call.read() is not _EOF:
                pass
    except (grpc.aio.AioRpcError, TimeoutError):
        call.cancel()


_Endpoint = Callable[[Request, str], Awaitable[Response]]


def _guarded(endpoint: _Endpoint) -> Callable[[Request], Awaitable[Response]]:
    """Give ``endpoint`` a request id and turn every failure into an OpenAI error response."""

    async def run(request: Request) -> Response:
        given = request.headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        try:
            response = await endpoint(request, request_id)
        except GatewayError as exc:
            response = _error_response(exc)
        except grpc.aio.AioRpcError as exc:
            response = _error_response(from_rpc_error(exc))
        except (ClientGone, ClientDisconnect):
            response = Response(status_code=499)  # nobody is listening; for the access log
        except Exception:
            logger.exception("unexpected error in %s %s", request.method, request.url.path)
            response = _error_response(GatewayError(GENERIC_MESSAGE))
        response.headers["x-request-id"] = request_id
        return response

    return run


def _error_response(error: GatewayError, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(
        error.body(), status_code=error.http_status, headers={**error.headers(), **(headers or {})}
    )


async def _http_exception(request: Request, exc: Exception) -> Response:
    """Routing errors (404, 405) in OpenAI's error shape."""
    assert isinstance(exc, HTTPException)
    path = request.url.path
    if exc.status_code == 404:
        message = f"Unknown request URL: {request.method} {path}. Please check the URL for typos."
        code = "unknown_url"
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed for {path}."
        code = "method_not_allowed"
    else:
        message, code = exc.detail, None
    error = GatewayError(
        message, code=code, http_status=exc.status_code, error_type="invalid_request_error"
    )
    return _error_response(error, dict(exc.headers or {}))


async def _healthz(request: Request) -> Response:
    """``GET /healthz``: the process serves HTTP (liveness; the router is not consulted)."""
    return JSONResponse({"status": "ok"})


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise _too_large(limit)
    body = bytearray()
    async with aclosing(request.stream()) as stream:
        async for chunk in stream:
            body += chunk
            if len(body) > limit:  # chunked bodies have no Content-Length to check
                raise _too_large(limit)
    return bytes(body)


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(
        f"Request body too large: the limit is {limit} bytes.", code="request_too_large"
    )


def _decode_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidRequest(
            "We could not parse the JSON body of your request. The body must be valid JSON.",
            None,
            code="invalid_json",
        ) from None


# --- server -------------------------------------------------------------------------------------


class _Server(uvicorn.Server):
    """Uvicorn without its own signal handling (run_main owns the signals), reporting start."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave signal handlers alone."""
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start serving, then report it."""
        await super().startup(sockets)
        if self.started:
            self._on_started()


async def serve(
    config: GatewayConfig,
    stop: asyncio.Event,
    *,
    ready: Callable[[int], object] | None = None,
    router_channel: grpc.aio.Channel | None = None,
) -> None:
    """Serve HTTP until ``stop`` is set, then finish in-flight requests (``shutdown_grace_s``).

    ``ready`` is called with the bound port once connections are accepted.
    """
    sock = _bind(config.host, config.port)
    port = int(sock.getsockname()[1])
    app = create_app(config, router_channel=router_channel)

    def started() -> None:
        print(
            f"gateway: listening on http://{_show_host(config.host)}:{port} "
            f"(router at {config.router_address})",
            file=sys.stderr,
        )
        if ready is not None:
            ready(port)

    server = _Server(
        uvicorn.Config(
            app,
            loop="none",  # we already run inside the loop run_main chose (uvloop)
            http="httptools",
            lifespan="on",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=math.ceil(config.shutdown_grace_s),
        ),
        started,
    )

    async def stop_when_asked() -> None:
        await stop.wait()
        server.should_exit = True  # uvicorn notices within 0.1 s and shuts down gracefully

    watcher = asyncio.create_task(stop_when_asked())
    try:
        await server.serve(sockets=[sock])
    except SystemExit:  # uvicorn's answer to a failed lifespan startup
        raise StartupError("application startup failed") from None
    finally:
        watcher.cancel()
        sock.close()


def _bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket here, so a busy port fails start-up with one clear line."""
    where = f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise StartupError(f"cannot listen on {where}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        reason = {
            errno.EADDRINUSE: "address already in use",
            errno.EADDRNOTAVAIL: "address not available",
            errno.EACCES: "permission denied",
        }.get(exc.errno or 0, (exc.strerror or str(exc)).lower())
        raise StartupError(f"cannot listen on {where}: {reason}") from None
    return sock


def _show_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass
class RunningGateway:
    """A gateway started by :func:`start`; ``port`` is the bound port."""

    port: int
    host: str
    _stop: asyncio.Event
    _task: asyncio.Task[None]

    @property
    def url(self) -> str:
        """Base URL of the gateway, e.g. ``http://127.0.0.1:41234``."""
        return f"http://{_show_host(self.host)}:{self.port}"

    async def stop(self) -> None:
        """Stop accepting requests, let in-flight ones finish, and wait until it is done."""
        self._stop.set()
        await self._task


async def start(
    config: GatewayConfig, *, router_channel: grpc.aio.Channel | None = None
) -> RunningGateway:
    """Start :func:`serve` in the background (port 0 picks a free port); return once ready."""
    stop = asyncio.Event()
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve(config, stop, ready=ready.set_result, router_channel=router_channel)
    )
    first: set[asyncio.Future[Any]] = {ready, task}
    await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        await task  # re-raises why it could not start
        raise StartupError("stopped before it was ready")
    return RunningGateway(port=ready.result(), host=config.host, _stop=stop, _task=task)


def main(argv: Sequence[str] | None = None) -> int:
    """``llmrouter-gateway [--config PATH] [--port N]``: run until SIGTERM."""
    parser = argparse.ArgumentParser(prog="llmrouter-gateway", description=__doc__)
    parser.add_argument("--config", metavar="PATH", help="TOML file (default: $LLMROUTER_CONFIG)")
    parser.add_argument("--port", type=int, help="HTTP port (overrides the config)")
    args = parser.parse_args(argv)

    async def run(stop: asyncio.Event) -> None:
        config = load_config(args.config)
        if args.port is not None:
            config = dataclasses.replace(config, port=args.port)
        await serve(config, stop)

    return run_main("gateway", run)
