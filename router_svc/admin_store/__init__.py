"""Where the router keeps runtime admin changes: overlays on the config file, their version,
and the audit log, in SQLite (one router, or several on one host) or PostgreSQL (replicas).
"""

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
    "MAX_AUDIT_PAGE",
    "Actor",
    "AdminStore",
    "AdminStoreError",
    "ApiKeyRecord",
    "AuditEvent",
    "Change",
    "Overlay",
    "Snapshot",
    "TeamRecord",
    "async_url",
    "safe_url",
]
