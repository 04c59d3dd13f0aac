"""``GET /v1/requests`` and its CSV export over a fake MetricsService on a real gRPC server:
what the gateway asks for, the pages of a long export, a failure mid-export, and cells a
spreadsheet would run."""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from gateway import ApiKeyConfig, RunningGateway, hash_key
from llmrouter.v1 import metrics_service_pb2 as m

from .fake_metrics import FakeMetrics
from .support import AUTH, StartGateway

VIEWER_KEY = "sk-viewer-requests-0123456789"


async def test_the_filter_reaches_the_metrics_service(
    client: httpx.AsyncClient, metrics: FakeMetrics
) -> None:
    reply = await client.get(
        "/v1/requests",
        params=[
            ("key", "a,b"),
            ("model", "gpt-4o"),
            ("status", "failed"),
            ("status", "cancelled"),
            ("category", "code"),
            ("start", "2026-11-01T00:00:00Z"),
            ("end", "1793577600"),
            ("limit", "2"),
        ],
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["object"] == "list"
    assert [e["request_id"] for e in body["data"]] == ["req-00000", "req-00001"]
    assert body["has_more"] is True
    assert body["next_page_token"] == "2"
    assert body["data"][0]["models"] == ["gpt-4o", "backup"]
    assert body["data"][0]["latency_ms"] == 250.0
    [sent] = metrics.requests["ListRequests"]
    assert sent.page_size == 2
    assert list(sent.filter.api_key_ids) == ["a", "b"]
    assert list(sent.filter.models) == ["gpt-4o"]
    assert list(sent.filter.statuses) == [m.USAGE_STATUS_FAILED, m.USAGE_STATUS_CANCELLED]
    assert list(sent.filter.categories) == ["code"]
    assert sent.start_time.ToJsonString() == "2026-11-01T00:00:00Z"
    assert sent.end_time.ToJsonString() == "2026-11-02T00:00:00Z"

    last = (await client.get("/v1/requests", params={"page_token": "2"})).json()
    assert [e["request_id"] for e in last["data"]] == ["req-00002"]
    assert (last["has_more"], last["next_page_token"]) == (False, None)


async def test_a_key_that_is_not_admin_is_limited_to_itself(
    start_gateway: StartGateway, metrics: FakeMetrics
) -> None:
    gateway: RunningGateway = await start_gateway(
        api_keys=(ApiKeyConfig(id="viewer", sha256=hash_key(VIEWER_KEY)),)
    )
    headers = {"authorization": f"Bearer {VIEWER_KEY}"}
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers) as http:
        assert (await http.get("/v1/requests")).status_code == 200
        denied = await http.get("/v1/requests.csv", params={"key": "viewer,other"})
    assert denied.status_code == 403
    assert denied.json()["error"]["param"] == "key"
    [sent] = metrics.requests["ListRequests"]  # the 403 never reached it
    assert list(sent.filter.api_key_ids) == ["viewer"]


async def test_the_export_reads_page_after_page_up_to_its_limit(
    client: httpx.AsyncClient, metrics: FakeMetrics
) -> None:
    metrics.logged = 1234
    reply = await client.get("/v1/requests.csv", params={"limit": "1100"})
    assert reply.status_code == 200
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    assert [r["request_id"] for r in rows] == [f"req-{i:05d}" for i in range(1100)]
    assert [r.page_size for r in metrics.requests["ListRequests"]] == [500, 500, 100]
    assert rows[0]["models"] == "gpt-4o > backup"
    # A cell a spreadsheet would take for a formula is text.
    assert rows[1]["source"] == "'=HYPERLINK(evil)"
    assert reply.text.startswith("time,request_id,")
    assert "\r\n" in reply.text

    everything = await client.get("/v1/requests", params={"format": "csv"})
    assert len(list(csv.DictReader(io.StringIO(everything.text)))) == 1234


async def test_an_export_that_fails_midway_is_cut_off_not_shortened(
    gateway: RunningGateway, metrics: FakeMetrics
) -> None:
    metrics.logged = 2000
    metrics.requests_fail_after = 2
    async with httpx.AsyncClient(base_url=gateway.url, headers=AUTH) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get("/v1/requests.csv")


async def test_an_export_whose_first_page_fails_is_an_error_status(
    client: httpx.AsyncClient, metrics: FakeMetrics
) -> None:
    metrics.requests_fail_after = 0
    reply = await client.get("/v1/requests.csv")
    assert reply.status_code == 503
    assert reply.headers["content-type"].startswith("application/json")
