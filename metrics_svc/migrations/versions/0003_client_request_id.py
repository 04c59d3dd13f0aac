"""The client's own request id, kept beside the router's as a correlation field.

Ledger ids used to be derived from the client's X-Request-Id, so a client repeating an id had
its later attempts dropped as replays. The router now generates every request id; the client's
goes here (never unique, never part of ``id``). Rows from before keep ``""``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``client_request_id`` (text, not null, ``""`` for existing rows)."""
    op.add_column(
        "usage_records",
        sa.Column("client_request_id", sa.String(), nullable=False, server_default=""),
    )


def downgrade() -> None:
    """Drop ``client_request_id`` (batch mode: SQLite before 3.35 cannot drop a column)."""
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("client_request_id")
