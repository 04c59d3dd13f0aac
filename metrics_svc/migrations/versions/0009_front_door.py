"""The front door of each request.

The gateway serves the same router through several APIs (chat completions, the Anthropic
Messages API, ...); ``front_door`` says which one a request came through. Rows from before
keep "".

Revision ID: 0009
Revises: 0007 (the lead re-points it after the branch that adds 0008)
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``front_door`` (string, not null, "" for existing rows)."""
    op.add_column(
        "usage_records",
        sa.Column("front_door", sa.String(), nullable=False, server_default=""),
    )


def downgrade() -> None:
    """Drop ``front_door`` (batch mode: SQLite before 3.35 cannot drop a column)."""
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("front_door")
