"""usage_limits: requests and tokens per minute, USD per day and month, per API key or per org

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 13:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_limits",
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("requests_per_minute", sa.BigInteger(), nullable=True),
        sa.Column("tokens_per_minute", sa.BigInteger(), nullable=True),
        sa.Column("usd_per_day", sa.Float(), nullable=True),
        sa.Column("usd_per_month", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject", name="pk_usage_limits"),
    )
    op.create_index("ix_usage_limits_org_id", "usage_limits", ["org_id"])


def downgrade() -> None:
    op.drop_index("ix_usage_limits_org_id", table_name="usage_limits")
    op.drop_table("usage_limits")
