"""gRPC failures as HTTP errors: the mapping table, rich details, and no leaks."""

from __future__ import annotations

import grpc
import httpx
import pytest

from gateway.errors import GENERIC_MESSAGE, GRPC_TO_HTTP, from_rpc_error
from tests.conftest import free_port

from .support import AUTH, Failure, FakeRouter, StartGateway, rich_status

C = grpc.StatusCode

# grpc-gateway v2, runtime.HTTPStatusFromCode: the contract, written out independently.
GRPC_GATEWAY_STATUS = {
    C.OK: 200,
    C.CANCELLED: 499,
    C.UNKNOWN: 500,
    C.INVALID_ARGUMENT: 400,
    C.DEADLINE_EXCEEDED: 504,
    C.NOT_FOUND: 404,
    C.ALREADY_EXISTS: 409,
    C.PERMISSION_DENIED: 403,
    C.UNAUTHENTICATED: 401,
    C.RESOURCE_EXHAUSTED: 429,
    C.FAILED_PRECONDITION: 400,
    C.ABORTED: 409,
    C.OUT_OF_RANGE: 400,
    C.UNIMPLEMENTED: 501,
    C.INTERNAL: 500,
    C.UNAVAILABLE: 503,
    C.DATA_LOSS: 500,
}
OPENAI_TYPE = {
    C.CANCELLED: "request_cancelled",
    C.UNKNOWN: "api_error",
    C.INVALID_ARGUMENT: "invalid_request_error",
    C.DEADLINE_EXCEEDED: "timeout_error",
    C.NOT_FOUND: "not_found_error",
    C.ALREADY_EXISTS: "conflict_error",
    C.PERMISSION_DENIED: "permission_error",
    C.UNAUTHENTICATED: "authentication_error",
    C.RESOURCE_EXHAUSTED: "rate_limit_error",
    C.FAILED_PRECONDITION: "invalid_request_error",
    C.ABORTED: "conflict_error",
    C.OUT_OF_RANGE: "invalid_request_error",
    C.UNIMPLEMENTED: "not_implemented_error",
    C.INTERNAL: "api_error",
    C.UNAVAILABLE: "service_unavailable_error",
    C.DATA_LOSS: "api_error",
}
OPAQUE = {C.UNKNOWN, C.INTERNAL, C.DATA_LOSS}
# A service refusing the gateway's own credential: never the client's 401/403 (below).
REFUSED = {C.UNAUTHENTICATED, C.PERMISSION_DENIED}
CHAT = "/v1/chat/completions"
BODY = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


def test_table_covers_every_status_code_as_grpc_gateway_does() -> None:
    assert set(GRPC_TO_HTTP) == set(grpc.StatusCode)
    assert {code: m.status for code, m in GRPC_TO_HTTP.items()} == GRPC_GATEWAY_STATUS


@pytest.mark.parametrize("code", [c for c in OPENAI_TYPE if c not in REFUSED], ids=str)
async def test_router_status_becomes_http_status(
    client: httpx.AsyncClient, router: FakeRouter, code: grpc.StatusCode
) -> None:
    router.failure = Failure(code, f"router says {code.name}", reason="SOME_REASON")

    response = await client.post(CHAT, json=BODY)

    assert response.status_code == GRPC_GATEWAY_STATUS[code]
    error = response.json()["error"]
    assert error["type"] == OPENAI_TYPE[code]
    assert error["code"] == "some_reason"
    if code in OPAQUE:
        assert error["message"] == GENERIC_MESSAGE
    else:
        assert error["message"] == f"router says {code.name}"
    assert response.headers["x-request-id"]
    assert "retry-after" not in response.headers


@pytest.mark.parametrize(("delay", "header"), [(2.0, "2"), (2.5, "3"), (0.2, "1"), (0.0, "0")])
async def test_retry_info_becomes_retry_after(
    client: httpx.AsyncClient, router: FakeRouter, delay: float, header: str
) -> None:
    router.failure = Failure(
        C.RESOURCE_EXHAUSTED, "rate limited", reason="RATE_LIMITED", retry_after=delay
    )

    response = await client.post(CHAT, json=BODY)

    assert response.status_code == 429
    assert response.headers["retry-after"] == header
    assert response.json()["error"] == {
        "message": "rate limited",
        "type": "rate_limit_error",
        "param": None,
        "code": "rate_limited",
    }


async def test_bad_request_detail_becomes_param(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    router.failure = Failure(
        C.INVALID_ARGUMENT, "prompt too long", reason="CONTEXT_LENGTH_EXCEEDED", field="messages"
    )

    response = await client.post(CHAT, json=BODY)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "messages"
    assert response.json()["error"]["code"] == "context_length_exceeded"


async def test_internal_error_details_never_reach_the_client(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    router.failure = Failure(C.INTERNAL, 'Traceback (most recent call last): File "/srv/x.py"')

    response = await client.post(CHAT, json=BODY)

    assert response.status_code == 500
    assert "Traceback" not in response.text
    assert response.json()["error"]["message"] == GENERIC_MESSAGE


async def test_status_without_rich_details_uses_the_code_name(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    router.failure = Failure(C.NOT_FOUND, "no model named gpt-9", rich=False)

    response = await client.post(CHAT, json=BODY)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert response.json()["error"]["message"] == "no model named gpt-9"


async def test_unreachable_router_is_503_without_its_address(
    start_gateway: StartGateway,
) -> None:
    port = free_port()  # nothing listens there
    gateway = await start_gateway(router_addresses=(f"127.0.0.1:{port}",))
    async with httpx.AsyncClient(base_url=gateway.url, headers=AUTH) as http:
        response = await http.post(CHAT, json=BODY)

    assert response.status_code == 503
    assert response.json()["error"]["type"] == "service_unavailable_error"
    assert str(port) not in response.text
    assert "127.0.0.1" not in response.text


async def test_deadline_is_504(start_gateway: StartGateway, router: FakeRouter) -> None:
    router.hold = True
    gateway = await start_gateway(request_timeout_s=0.3)
    async with httpx.AsyncClient(base_url=gateway.url, headers=AUTH) as http:
        response = await http.post(CHAT, json=BODY)

    assert response.status_code == 504
    assert response.json()["error"]["type"] == "timeout_error"


async def test_deadline_mid_stream_is_an_error_event(
    start_gateway: StartGateway, router: FakeRouter
) -> None:
    router.hold_after = 2
    gateway = await start_gateway(request_timeout_s=0.5)
    async with httpx.AsyncClient(base_url=gateway.url, headers=AUTH) as http:
        response = await http.post(CHAT, json={**BODY, "stream": True})

    assert response.status_code == 200
    assert "[DONE]" not in response.text
    assert response.text.rstrip().splitlines()[-1].startswith('data: {"error":')
    assert '"type":"timeout_error"' in response.text


# --- from_rpc_error on real AioRpcError values -------------------------------------------------


def rpc_error(failure: Failure, details: str | None = None) -> grpc.aio.AioRpcError:
    """The AioRpcError a client sees when the server aborts with ``failure``."""
    status = rich_status(failure)
    return grpc.aio.AioRpcError(
        failure.code,
        grpc.aio.Metadata(),
        grpc.aio.Metadata(*status.trailing_metadata),
        details=failure.message if details is None else details,
        debug_error_string=None,
    )


def test_from_rpc_error_reads_every_detail() -> None:
    error = from_rpc_error(
        rpc_error(
            Failure(
                C.RESOURCE_EXHAUSTED, "quota", reason="RATE_LIMITED", retry_after=1.2, field="x"
            )
        )
    )

    assert error.http_status == 429
    assert error.retry_after == 2
    assert error.headers() == {"retry-after": "2"}
    assert error.body() == {
        "error": {
            "message": "quota",
            "type": "rate_limit_error",
            "param": "x",
            "code": "rate_limited",
        }
    }


def test_inconsistent_rich_status_is_ignored() -> None:
    # The status proto says "quota" but the call's details differ: trust neither detail.
    error = from_rpc_error(
        rpc_error(Failure(C.RESOURCE_EXHAUSTED, "quota", retry_after=5), details="other")
    )

    assert error.http_status == 429
    assert error.retry_after is None
    assert error.message == "other"


@pytest.mark.parametrize(
    ("details", "status", "code"),
    [
        # gRPC core's own words (grpcio 1.85), as each side reports a message over its limit.
        ("CLIENT: Sent message larger than max (2097165 vs. 1048576)", 413, "request_too_large"),
        (
            "SERVER: Received message larger than max (2097165 vs. 1048576)",
            413,
            "request_too_large",
        ),
        (
            "Stream removed (CLIENT: Received message larger than max (5242890 vs. 4194304))",
            502,
            "response_too_large",
        ),
        ("SERVER: Sent message larger than max (2097162 vs. 1048576)", 502, "response_too_large"),
    ],
)
def test_a_message_over_a_size_limit_is_not_a_rate_limit(
    details: str, status: int, code: str
) -> None:
    error = from_rpc_error(
        grpc.aio.AioRpcError(
            C.RESOURCE_EXHAUSTED, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details
        )
    )
    assert error.http_status == status
    assert error.code == code
    size, limit = details.rstrip(")").split("(")[-1].split(" vs. ")
    assert size in error.message
    assert limit in error.message
    # An answer too large is produced again by a retry: clients are told not to.
    assert error.headers().get("x-should-retry") == ("false" if status == 502 else None)


def test_the_routers_response_too_large_is_a_502_not_retried() -> None:
    error = from_rpc_error(
        rpc_error(Failure(C.RESOURCE_EXHAUSTED, "too large: 5 MiB", reason="RESPONSE_TOO_LARGE"))
    )
    assert (error.http_status, error.error_type, error.code) == (
        502,
        "upstream_error",
        "response_too_large",
    )
    assert error.headers()["x-should-retry"] == "false"
    # The same words inside a rate limit's ErrorInfo stay a rate limit.
    limited = from_rpc_error(
        rpc_error(
            Failure(
                C.RESOURCE_EXHAUSTED,
                "CLIENT: Sent message larger than max (2 vs. 1)",
                reason="RATE_LIMITED",
            )
        )
    )
    assert limited.http_status == 429


# What access.py answers when the gateway's token or certificate is refused, and neighbours.
REFUSALS = [
    Failure(C.UNAUTHENTICATED, "invalid bearer token (authorization metadata)", "TOKEN_INVALID"),
    Failure(C.UNAUTHENTICATED, "missing bearer token (authorization metadata)", "TOKEN_MISSING"),
    Failure(
        C.UNAUTHENTICATED,
        "the client certificate's common name is not accepted",
        "CERTIFICATE_NOT_ACCEPTED",
    ),
    Failure(
        C.PERMISSION_DENIED,
        "this credential may not call /llmrouter.v1.RouterService/Complete (it needs scope "
        "'inference')",
        "SCOPE_MISSING",
    ),
    Failure(C.UNAUTHENTICATED, "bad credentials", rich=False),
    Failure(C.PERMISSION_DENIED, "denied", rich=False),
]


@pytest.mark.parametrize("failure", REFUSALS, ids=lambda f: f.reason or f.code.name)
async def test_a_refused_gateway_credential_is_a_502_not_the_clients_fault(
    client: httpx.AsyncClient,
    router: FakeRouter,
    failure: Failure,
    caplog: pytest.LogCaptureFixture,
) -> None:
    router.failure = failure

    response = await client.post(CHAT, json=BODY)

    assert response.status_code == 502
    assert response.headers["x-should-retry"] == "false"
    assert "www-authenticate" not in response.headers
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("upstream_error", "gateway_not_authorized")
    assert error["message"] == (
        "The gateway is not authorized by the router. This is a problem in the server's "
        "configuration, not with your API key."
    )
    assert failure.message not in response.text  # no method, scope or credential kind leaks
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "gateway.errors"]
    assert warning.startswith("gateway: the router refused the gateway's credential")
    assert failure.message in warning
    assert "gateway.router_token_env" in warning


def test_a_budget_refusal_is_openais_insufficient_quota_429_not_retried() -> None:
    message = "This request would exceed budget 'alice-daily' ($5 per day): $0.0031 left"
    error = from_rpc_error(
        rpc_error(
            Failure(C.RESOURCE_EXHAUSTED, message, reason="BUDGET_EXCEEDED", retry_after=3600)
        )
    )
    assert error.http_status == 429
    assert error.body() == {
        "error": {
            "message": message,
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_quota",
        }
    }
    assert error.headers() == {"retry-after": "3600", "x-should-retry": "false"}
    # A rate limit stays a rate limit, retried by the SDKs.
    limited = from_rpc_error(rpc_error(Failure(C.RESOURCE_EXHAUSTED, "slow", "RATE_LIMITED")))
    assert (limited.error_type, limited.code) == ("rate_limit_error", "rate_limited")
