"""The deployment of each attempt.

A model may be served by several deployments (the same model on two providers, or two keys or
regions of one; README, "Deployments"); ``deployment`` names the one an attempt went to, while
``model`` stays the logical model, so costs still group by model. Rows from before, and rows
of models configured without deployments, keep "".

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-12
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``deployment`` (string, not null, "" for existing rows)."""
    op.add_column(
        "usage_records",
        sa.Column("deployment", sa.String(), nullable=False, server_default=""),
    )


def downgrade() -> None:
    """Drop ``deployment`` (batch mode: SQLite before 3.35 cannot drop a column)."""
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("deployment")
