"""Cached-read, cache-write and reasoning tokens on each usage record.

Providers report how much of a prompt was read from or written to their prompt cache (priced
at other rates than the rest of the prompt) and how much of a completion was reasoning. The
router now sends these counts; they are parts of ``prompt_tokens`` and ``completion_tokens``,
not additions to them. Rows from before keep 0.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("cache_read_tokens", "cache_write_tokens", "reasoning_tokens")


def upgrade() -> None:
    """Add the three counts (bigint, not null, 0 for existing rows)."""
    for name in _COLUMNS:
        op.add_column(
            "usage_records",
            sa.Column(name, sa.BigInteger(), nullable=False, server_default="0"),
        )


def downgrade() -> None:
    """Drop the three counts (batch mode: SQLite before 3.35 cannot drop a column)."""
    with op.batch_alter_table("usage_records") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
