"""The router's reason for each fallback, stored instead of guessed.

Fallback events used to take their reason from the error of the attempt before, which is wrong
for a hedge (the first attempt failed only because the hedge won, or not at all) and empty for
a model skipped because its breaker was open. The router now sends the reason it acted on; rows
from before keep ``""`` and their events still use the previous attempt's ``error_type``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``fallback_reason`` (text, not null, ``""`` for existing rows)."""
    op.add_column(
        "usage_records",
        sa.Column("fallback_reason", sa.String(), nullable=False, server_default=""),
    )


def downgrade() -> None:
    """Drop ``fallback_reason`` (batch mode: SQLite before 3.35 cannot drop a column)."""
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("fallback_reason")
