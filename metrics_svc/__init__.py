"""The usage ledger service: stores every attempt and answers cost questions over gRPC.

Batch policy of ``RecordUsage``: a batch is stored whole or not at all. Records are keyed by
id, so a replayed record is counted as a duplicate and never stored twice. One invalid record
rejects the whole batch with INVALID_ARGUMENT, nothing written, and the error names every bad
field (``records[3].prompt_tokens``...) in a ``BadRequest`` detail. The router's outbox then
ships that batch's records one by one and sets aside those still rejected, so one bad record
never blocks the rest of the ledger.

The schema comes from the Alembic migrations in ``metrics_svc/migrations``, applied at start
(or alone with ``python -m metrics_svc --migrate-only``).
"""

from metrics_svc.config import MetricsConfig, load_config
from metrics_svc.costs import (
    CostFilter,
    CostGroup,
    CostQuery,
    CostReport,
    CostSummary,
    Dimension,
    GroupKey,
    ReferencePrice,
    TimeBucket,
)
from metrics_svc.errors import (
    InvalidFallbackQuery,
    InvalidHealthQuery,
    InvalidQuery,
    InvalidRecord,
    MetricsError,
    StorageError,
    UnknownReferenceModel,
)
from metrics_svc.fallbacks import FallbackEvent, FallbackQuery
from metrics_svc.health import HealthQuery, ProviderHealth
from metrics_svc.records import UsageRow, UsageStatus
from metrics_svc.repository import Repository

__all__ = [
    "CostFilter",
    "CostGroup",
    "CostQuery",
    "CostReport",
    "CostSummary",
    "Dimension",
    "FallbackEvent",
    "FallbackQuery",
    "GroupKey",
    "HealthQuery",
    "InvalidFallbackQuery",
    "InvalidHealthQuery",
    "InvalidQuery",
    "InvalidRecord",
    "MetricsConfig",
    "MetricsError",
    "ProviderHealth",
    "ReferencePrice",
    "Repository",
    "StorageError",
    "TimeBucket",
    "UnknownReferenceModel",
    "UsageRow",
    "UsageStatus",
    "load_config",
]
