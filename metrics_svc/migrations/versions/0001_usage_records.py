"""The usage ledger as the service first created it (``create_all`` before migrations).

Revision ID: 0001
Revises:
Create Date: 2026-11-20
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``usage_records`` and its indexes."""
    # Types and names are spelled out, not imported from tables.py: a migration describes the
    # schema of its day, and tables.py moves on.
    text = sa.String()
    op.create_table(
        "usage_records",
        sa.Column("id", text, nullable=False),
        sa.Column("request_id", text, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("provider", text, nullable=False),
        sa.Column("model", text, nullable=False),
        sa.Column("category", text, nullable=False),
        sa.Column("task_type", text, nullable=False),
        sa.Column("source", text, nullable=False),
        sa.Column("api_key_id", text, nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.Column("total_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Double(), nullable=False),
        sa.Column("duration_ms", sa.Double(), nullable=False),
        sa.Column("ttft_ms", sa.Double(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_type", text, nullable=False),
        sa.Column("fallback", sa.Boolean(), nullable=False),
        sa.Column("fallback_from", text, nullable=False),
        sa.Column("trace_id", text, nullable=False),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("local", sa.Boolean(), nullable=False),
        sa.Column("streamed", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "status IN ('succeeded', 'failed', 'cancelled')", name="ck_usage_records_status"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_usage_records_time", "usage_records", ["time"])
    op.create_index("ix_usage_records_model", "usage_records", ["model"])
    op.create_index("ix_usage_records_provider", "usage_records", ["provider"])


def downgrade() -> None:
    """Drop ``usage_records`` with everything in it."""
    op.drop_index("ix_usage_records_provider", table_name="usage_records")
    op.drop_index("ix_usage_records_model", table_name="usage_records")
    op.drop_index("ix_usage_records_time", table_name="usage_records")
    op.drop_table("usage_records")
