"""Whether a usage record's counts are estimates.

An attempt that ends before its upstream reported its usage (the caller left, a hedge's loser,
a stream broken mid-answer) is billed counts the router estimated. The router now says so;
rows from before keep false (their counts may be estimates all the same: the ledger cannot
tell).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``usage_estimated`` (boolean, not null, false for existing rows)."""
    op.add_column(
        "usage_records",
        sa.Column("usage_estimated", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    """Drop ``usage_estimated`` (batch mode: SQLite before 3.35 cannot drop a column)."""
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("usage_estimated")
