"""Teams: the team of the API key that made each attempt.

Team budgets and ``/v1/costs`` group and filter by it (``CostFilter.team_ids``,
``DIMENSION_TEAM``). Rows from before keep "".

Revision ID: 0008
Revises: 0007
Create Date: 2027-01-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``team_id`` (string, not null, "" for existing rows)."""
    op.add_column(
        "usage_records",
        sa.Column("team_id", sa.String(), nullable=False, server_default=""),
    )


def downgrade() -> None:
    """Drop ``team_id`` (batch mode: SQLite before 3.35 cannot drop a column)."""
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("team_id")
