"""The ``usage_records`` table as the code expects it.

The database gets it through the Alembic migrations in ``metrics_svc/migrations``; a change
here needs a new revision there (the migration tests compare the two).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Double,
    Index,
    Integer,
    String,
    Table,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import BigInteger, TypeDecorator

from metrics_svc.records import UsageStatus

__all__ = ["Base", "UsageRecordModel", "UtcDateTime", "usage_records"]


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every dialect.

    SQLite has no time zone type and returns naive values, and it compares timestamps as
    text, so values are normalised to UTC before they are bound and tagged UTC when read.
    """

    impl = DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the ledger stores aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of the metrics database."""


class UsageRecordModel(Base):
    """One attempt against one model (``llmrouter.v1.UsageRecord``)."""

    __tablename__ = "usage_records"
    __table_args__ = (
        Index("ix_usage_records_time", "time"),
        Index("ix_usage_records_model", "model"),
        # A fallback's reason is the error of the attempt before it: (request_id, attempt - 1).
        Index("ix_usage_records_request", "request_id", "attempt"),
        # Latest success and failure of a provider; also every lookup by provider alone.
        Index("ix_usage_records_provider_outcome", "provider", "status", "time"),
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s.value}'" for s in UsageStatus) + ")",
            name="ck_usage_records_status",
        ),
    )

    # "<request_id>:<attempt>": the idempotency key of RecordUsage.
    id: Mapped[str] = mapped_column(String, primary_key=True)
    request_id: Mapped[str] = mapped_column(String)
    attempt: Mapped[int] = mapped_column(Integer)
    time: Mapped[datetime] = mapped_column(UtcDateTime())
    provider: Mapped[str] = mapped_column(String)
    model: Mapped[str] = mapped_column(String)
    category: Mapped[str] = mapped_column(String, default="")
    task_type: Mapped[str] = mapped_column(String, default="")
    source: Mapped[str] = mapped_column(String, default="")
    api_key_id: Mapped[str] = mapped_column(String, default="")
    prompt_tokens: Mapped[int] = mapped_column(BigInteger)
    completion_tokens: Mapped[int] = mapped_column(BigInteger)
    total_tokens: Mapped[int] = mapped_column(BigInteger)
    cost_usd: Mapped[float] = mapped_column(Double)
    duration_ms: Mapped[float] = mapped_column(Double)
    ttft_ms: Mapped[float | None] = mapped_column(Double, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    error_type: Mapped[str] = mapped_column(String, default="")
    fallback: Mapped[bool] = mapped_column(Boolean)
    fallback_from: Mapped[str] = mapped_column(String, default="")
    trace_id: Mapped[str] = mapped_column(String, default="")
    # "metadata" is reserved on declarative classes, hence the trailing underscore.
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSON().with_variant(JSONB(), "postgresql"), default=dict
    )
    local: Mapped[bool] = mapped_column(Boolean)
    streamed: Mapped[bool] = mapped_column(Boolean)


#: The table as Core sees it; the repository inserts and selects through Core.
usage_records = cast(Table, UsageRecordModel.__table__)
