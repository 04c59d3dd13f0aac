"""Feedback: scores of answers by request id and source (users' feedback, judges' grades),
and their sums per model x category x source kind.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``feedback`` with its sequence and time indexes, and ``feedback_stats``."""
    op.create_table(
        "feedback",
        sa.Column("request_id", sa.String(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("scale", sa.String(length=16), nullable=False),
        sa.Column("raw_score", sa.Double(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("api_key_id", sa.String(), nullable=False),
        sa.Column("team_id", sa.String(), nullable=False),
        sa.Column("deployment", sa.String(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("score >= 0 AND score <= 1", name="ck_feedback_score"),
        sa.CheckConstraint("scale IN ('thumbs', 'stars', 'fraction')", name="ck_feedback_scale"),
        sa.PrimaryKeyConstraint("request_id", "source"),
    )
    op.create_index("ix_feedback_sequence", "feedback", ["sequence"], unique=True)
    op.create_index("ix_feedback_time", "feedback", ["time"])
    op.create_table(
        "feedback_stats",
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("source_kind", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("score_sum", sa.Double(), nullable=False),
        sa.Column("score_sum_squares", sa.Double(), nullable=False),
        sa.Column("last_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model", "category", "source_kind"),
    )


def downgrade() -> None:
    """Drop ``feedback`` and ``feedback_stats``."""
    op.drop_table("feedback_stats")
    op.drop_index("ix_feedback_time", table_name="feedback")
    op.drop_index("ix_feedback_sequence", table_name="feedback")
    op.drop_table("feedback")
