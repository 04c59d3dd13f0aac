"""What a response-cache hit saved.

A request answered from the router's response cache is one row with source "cache" and cost 0;
``saved_cost_usd`` keeps what its answer cost when it was served upstream. Rows from before
keep 0.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``saved_cost_usd`` (double, not null, 0 for existing rows)."""
    op.add_column(
        "usage_records",
        sa.Column("saved_cost_usd", sa.Double(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    """Drop ``saved_cost_usd`` (batch mode: SQLite before 3.35 cannot drop a column)."""
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("saved_cost_usd")
