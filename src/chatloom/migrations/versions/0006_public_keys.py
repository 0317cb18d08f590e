"""public keys (key kind and restrictions), the session customer key, and rate-limit counters

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 12:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), server_default="private", nullable=False))
        batch_op.add_column(sa.Column("allowed_origins", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("allowed_assistant_ids", sa.Text(), nullable=True))
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("customer_key", sa.String(length=64), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_sessions_org_id_assistant_id_customer_key_created_at"),
            ["org_id", "assistant_id", "customer_key", "created_at"],
            unique=False,
        )
    # PostgreSQL: UNLOGGED, as counts are ephemeral; a commit that wrote only them waits for no WAL flush.
    unlogged = ["UNLOGGED"] if op.get_bind().dialect.name == "postgresql" else []
    op.create_table(
        "rate_counters",
        sa.Column("bucket", sa.String(length=255), nullable=False),
        sa.Column("window_end", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "window_end", name=op.f("pk_rate_counters")),
        prefixes=unlogged,
    )
    with op.batch_alter_table("rate_counters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rate_counters_window_end"), ["window_end"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rate_counters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rate_counters_window_end"))
    op.drop_table("rate_counters")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sessions_org_id_assistant_id_customer_key_created_at"))
        batch_op.drop_column("customer_key")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("allowed_assistant_ids")
        batch_op.drop_column("allowed_origins")
        batch_op.drop_column("kind")
