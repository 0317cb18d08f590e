"""stream events: the numbered frames of streamed turns, kept for a while so clients can resume

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 12:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import chatloom.store.tables

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stream_turns",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("background", sa.Boolean(), nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=True),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("expires_at", chatloom.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", chatloom.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stream_turns")),
    )
    with op.batch_alter_table("stream_turns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stream_turns_expires_at"), ["expires_at"], unique=False)
    op.create_table(
        "stream_events",
        sa.Column("turn_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("frame", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("turn_id", "seq", name=op.f("pk_stream_events")),
    )


def downgrade() -> None:
    op.drop_table("stream_events")
    with op.batch_alter_table("stream_turns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stream_turns_expires_at"))
    op.drop_table("stream_turns")
