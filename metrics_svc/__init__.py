"""The usage ledger service: stores every attempt and answers cost questions over gRPC."""

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
    InvalidQuery,
    InvalidRecord,
    MetricsError,
    StorageError,
    UnknownReferenceModel,
)
from metrics_svc.records import UsageRow, UsageStatus
from metrics_svc.repository import Repository

__all__ = [
    "CostFilter",
    "CostGroup",
    "CostQuery",
    "CostReport",
    "CostSummary",
    "Dimension",
    "GroupKey",
    "InvalidQuery",
    "InvalidRecord",
    "MetricsConfig",
    "MetricsError",
    "ReferencePrice",
    "Repository",
    "StorageError",
    "TimeBucket",
    "UnknownReferenceModel",
    "UsageRow",
    "UsageStatus",
    "load_config",
]
