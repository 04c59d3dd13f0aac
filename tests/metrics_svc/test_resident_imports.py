"""What a serving process keeps loaded: Alembic only when the ledger needs migrating, the
genai-prices catalogue only once a query names a model the configuration does not price. Each
stays resident once imported (about 8 and 10 MB), so each check runs in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from metrics_svc import schema
from metrics_svc.config import MetricsConfig
from metrics_svc.server import migrate

REPO = Path(__file__).resolve().parents[2]

#: A model genai-prices knows and the default configuration does not price.
CATALOGUE_MODEL = "gpt-4o-mini"

# Serves the ledger at argv[1] the way the service does, records one attempt, asks for costs
# against the configured reference and then against catalogue model argv[2], and reports what
# was loaded along the way.
_CHILD = """
import asyncio, json, sys

import grpc

from llmrouter.v1 import metrics_service_pb2 as pb
from llmrouter.v1 import metrics_service_pb2_grpc
from metrics_svc.config import MetricsConfig
from metrics_svc.server import start


def loaded():
    return sorted(n for n in ("alembic", "genai_prices") if n in sys.modules)


async def main():
    config = MetricsConfig(port=0, prometheus_port=0, database_url=sys.argv[1])
    running = await start(config)
    report = {"after_start": loaded()}
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = metrics_service_pb2_grpc.MetricsServiceStub(channel)
            record = pb.UsageRecord(
                id="r:1", provider="openai", model="gpt-4o-mini", prompt_tokens=1000,
                completion_tokens=1000, total_tokens=2000, status=pb.USAGE_STATUS_SUCCEEDED,
                cost_usd=0.00075,  # priced: an unpriced attempt has no reference cost
            )
            stored = await stub.RecordUsage(pb.RecordUsageRequest(records=[record]))
            configured = await stub.QueryCosts(pb.QueryCostsRequest())
            report["after_configured_query"] = loaded()
            asked = pb.QueryCostsRequest(reference_model=sys.argv[2])
            catalogue = await stub.QueryCosts(asked)
            report["after_catalogue_query"] = loaded()
    finally:
        await running.stop()
    report["inserted"] = stored.inserted_count
    report["references"] = [configured.reference_model, catalogue.reference_model]
    report["reference_costs"] = [
        configured.totals.reference_cost_usd, catalogue.totals.reference_cost_usd
    ]
    print(json.dumps(report))


asyncio.run(main())
"""


def serve_once(database_url: str) -> dict[str, Any]:
    """Run :data:`_CHILD` on ``database_url`` in a new interpreter; its report."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMROUTER_")}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
    )
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, database_url, CATALOGUE_MODEL],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


async def test_an_up_to_date_ledger_is_served_without_alembic_or_the_catalogue(
    database_url: str,
) -> None:
    assert await migrate(MetricsConfig(database_url=database_url)) == schema.head()

    report = serve_once(database_url)

    assert report["after_start"] == []
    assert report["after_configured_query"] == []
    # The catalogue still answers when asked, loaded then.
    assert report["after_catalogue_query"] == ["genai_prices"]
    assert report["inserted"] == 1
    assert report["references"] == [MetricsConfig().reference_model, CATALOGUE_MODEL]
    assert all(cost > 0 for cost in report["reference_costs"])


async def test_a_new_ledger_is_migrated_on_start_without_loading_the_catalogue(
    database_url: str,
) -> None:
    report = serve_once(database_url)

    assert "genai_prices" not in report["after_start"]
    assert report["inserted"] == 1
    assert await migrate(MetricsConfig(database_url=database_url)) == schema.head()
