"""The admin store's tables: runtime overlays on the config file, their version, the audit log,
the alerts fired (:mod:`router_svc.alerts`) and the answers sampled for evaluation
(:mod:`router_svc.evaluation`).

The database gets them through the Alembic migrations in ``migrations/``; a change here needs
a new revision there (``tests/router_svc/test_admin_store.py`` compares the two). Values are
JSON text, so SQLite and PostgreSQL store them alike and an operator can read them with psql.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = [
    "alerts",
    "api_keys",
    "audit",
    "eval_samples",
    "metadata",
    "overlays",
    "teams",
    "version",
]

metadata = MetaData()

# SQLite only numbers rows itself for an INTEGER PRIMARY KEY.
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")

#: One row (id 1): the number of the last change; every change adds one in its transaction,
#: so a replica compares one number to know whether it is behind.
version = Table(
    "admin_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
)

#: One row per value set at runtime. ``kind``: model_enabled (value true/false),
#: provider_base_url (a URL) or category ({"chain": [...], "keywords": [...]}, or null for a
#: config category deleted at runtime). Keys absent here take the config file's value.
overlays = Table(
    "admin_overlays",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("key", String(256), primary_key=True),
    Column("value_json", Text, nullable=False),
    # Version of the change that first set this key (orders runtime-only categories).
    Column("created_version", BigInteger, nullable=False),
    Column("updated_version", BigInteger, nullable=False),
    Column("update_time", DateTime(timezone=True), nullable=False),
    Column("updated_by", Text, nullable=False),
)

#: Every admin change: who (the caller's credential and, through the gateway, the API key id),
#: what (action and target), the values before and after (JSON objects by key), and when.
audit = Table(
    "admin_audit",
    metadata,
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("event_time", DateTime(timezone=True), nullable=False),
    # The store's version after this change (unchanged for actions that set no value).
    Column("version", BigInteger, nullable=False),
    Column("actor", Text, nullable=False),
    Column("api_key_id", Text, nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", Text, nullable=False),
    Column("before_json", Text, nullable=False),
    Column("after_json", Text, nullable=False),
    Index("ix_admin_audit_event_time", "event_time"),
)

#: Every alert fired (README, "Alerts"), with how its webhook delivery went. ``alert_id`` is
#: the id receivers see in the payload; ``subject`` the API key id, team or budget id.
alerts = Table(
    "admin_alerts",
    metadata,
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("alert_id", String(64), nullable=False, unique=True),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("subject", Text, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("value", Float, nullable=False),
    # The webhook payload as sent (no prompt, no key secret: see router_svc.alerts.payload).
    Column("payload_json", Text, nullable=False),
    # pending, delivered, failed, partial (some webhooks failed) or no_webhook.
    Column("delivery_status", String(16), nullable=False),
    Column("delivery_attempts", Integer, nullable=False),
    Column("delivery_error", Text, nullable=False),
    Column("delivered_time", DateTime(timezone=True), nullable=True),
    Index("ix_admin_alerts_create_time", "create_time"),
)

#: Virtual API keys (:mod:`router_svc.api_keys`). The secret is never stored: only the SHA-256
#: of the current one (hex) and, during a rotation's overlap, of the one before it. Lists and
#: budgets are JSON text.
api_keys = Table(
    "admin_api_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("team_id", String(64), nullable=True),
    Column("role", String(16), nullable=False),
    Column("allowed_models_json", Text, nullable=False),
    Column("allowed_categories_json", Text, nullable=False),
    Column("rpm_limit", Integer, nullable=True),
    Column("tpm_limit", Integer, nullable=True),
    Column("budgets_json", Text, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("expire_time", DateTime(timezone=True), nullable=True),
    Column("revoke_time", DateTime(timezone=True), nullable=True),
    Column("rotate_time", DateTime(timezone=True), nullable=True),
    Column("secret_sha256", String(64), nullable=False),
    Column("previous_sha256", String(64), nullable=True),
    Column("previous_expire_time", DateTime(timezone=True), nullable=True),
    Column("updated_version", BigInteger, nullable=False),
    Index("ix_admin_api_keys_secret_sha256", "secret_sha256", unique=True),
)

#: Teams of virtual keys, with budgets of their own (JSON text).
teams = Table(
    "admin_teams",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("budgets_json", Text, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("updated_version", BigInteger, nullable=False),
)

#: Answers sampled for evaluation (README, "Evaluation jobs"), waiting for the judge: the only
#: table holding prompts and answers, written only with ``router.store_content`` on. A row is
#: deleted once its grade reached the metrics service; a grade that did not is kept without
#: the content (``messages_json`` and ``answer`` emptied). A replica grading a row holds it
#: until ``claimed_until`` (``claim_id`` is its claim), so replicas sharing the store never
#: grade one twice.
eval_samples = Table(
    "admin_eval_samples",
    metadata,
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    # The router's request id (the usage records' and the feedback's key).
    Column("request_id", String(64), nullable=False, unique=True),
    Column("model", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    # The conversation as JSON ([{"role": ..., "content": ...}], text only) and the answer.
    Column("messages_json", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("claimed_until", DateTime(timezone=True), nullable=True),
    Column("claim_id", String(64), nullable=True),
    # Failed tries (judge call or unreadable grade) and the last one's reason (no content).
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=False),
    # The grade in [0, 1] and as the judge gave it, once graded (content gone), until the
    # metrics service takes it.
    Column("score", Float, nullable=True),
    Column("raw_score", Float, nullable=True),
    Column("label", String(32), nullable=True),
    Index("ix_admin_eval_samples_create_time", "create_time"),
)
