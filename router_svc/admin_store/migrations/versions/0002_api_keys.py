"""Virtual API keys and teams.

Revision ID: 0002
Revises: 0001
Create Date: 2027-01-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``admin_api_keys`` (secrets as SHA-256 digests only) and ``admin_teams``."""
    op.create_table(
        "admin_api_keys",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("team_id", sa.String(64), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("allowed_models_json", sa.Text(), nullable=False),
        sa.Column("allowed_categories_json", sa.Text(), nullable=False),
        sa.Column("rpm_limit", sa.Integer(), nullable=True),
        sa.Column("tpm_limit", sa.Integer(), nullable=True),
        sa.Column("budgets_json", sa.Text(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expire_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoke_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rotate_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("previous_sha256", sa.String(64), nullable=True),
        sa.Column("previous_expire_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_admin_api_keys_secret_sha256", "admin_api_keys", ["secret_sha256"], unique=True
    )
    op.create_table(
        "admin_teams",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("budgets_json", sa.Text(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    """Drop the keys and teams."""
    op.drop_table("admin_teams")
    op.drop_index("ix_admin_api_keys_secret_sha256", table_name="admin_api_keys")
    op.drop_table("admin_api_keys")
