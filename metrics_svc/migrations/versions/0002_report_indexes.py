"""Indexes for fallback reasons and provider health.

A fallback's reason is the error of the attempt before it, found by ``(request_id, attempt)``;
a provider's latest success and failure by ``(provider, status, time)``, which also serves
every lookup the single-column provider index served, so that one goes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the request and provider-outcome indexes, drop the provider index."""
    op.create_index("ix_usage_records_request", "usage_records", ["request_id", "attempt"])
    op.create_index(
        "ix_usage_records_provider_outcome", "usage_records", ["provider", "status", "time"]
    )
    op.drop_index("ix_usage_records_provider", table_name="usage_records")


def downgrade() -> None:
    """Back to the indexes of revision 0001."""
    op.create_index("ix_usage_records_provider", "usage_records", ["provider"])
    op.drop_index("ix_usage_records_provider_outcome", table_name="usage_records")
    op.drop_index("ix_usage_records_request", table_name="usage_records")
