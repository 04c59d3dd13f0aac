"""Where the router keeps runtime admin changes: overlays on the config file, their version,
the audit log and the alerts fired, in SQLite (one router, or several on one host) or
PostgreSQL (replicas).
"""

from .alert_log import MAX_ALERT_PAGE, AlertLog, StoredAlert
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
    "Overlay",
    "Snapshot",
    "StoredAlert",
    "TeamRecord",
    "async_url",
    "safe_url",
]
