"""Where the router keeps runtime admin changes: overlays on the config file, their version,
the audit log, the alerts fired and the answers sampled for evaluation, in SQLite (one router,
or several on one host) or PostgreSQL (replicas).
"""

from .alert_log import MAX_ALERT_PAGE, AlertLog, StoredAlert
from .eval_samples import EvalSamples, NewSample, StoredSample
from .key_rows import ApiKeyRecord, TeamRecord
from .store import (
    MAX_AUDIT_PAGE,
    Actor,
    AdminStore,
    AdminStoreError,
    AuditEvent,
    Change,
    Overlay,
    Snapshot,
    async_url,
    safe_url,
)

__all__ = [
    "MAX_ALERT_PAGE",
    "MAX_AUDIT_PAGE",
    "Actor",
    "AdminStore",
    "AdminStoreError",
    "AlertLog",
    "ApiKeyRecord",
    "AuditEvent",
    "Change",
    "EvalSamples",
    "NewSample",
    "Overlay",
    "Snapshot",
    "StoredAlert",
    "StoredSample",
    "TeamRecord",
    "async_url",
    "safe_url",
]
