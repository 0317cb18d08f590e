"""conversations: OpenAI's Conversations API, each conversation's items in a message log

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 02:00:00.000000

A new table only: no data moves. A conversation points into `message_logs` as a session does (its
messages are `log[0:log_length)`), so a turn on it appends its messages once, to the same log its chat
reads.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import chatloom.store.tables

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("log_id", sa.String(length=36), nullable=True),
        sa.Column("log_length", sa.Integer(), server_default="0", nullable=False),
        sa.Column("hidden", sa.Text(), server_default="[]", nullable=False),
        sa.Column("metadata", sa.Text(), server_default="{}", nullable=False),
        sa.Column("created_at", chatloom.store.tables.UTCDateTime(), nullable=False),
        sa.Column("updated_at", chatloom.store.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
    )
    op.create_index(
        op.f("ix_conversations_log_id_log_length"), "conversations", ["log_id", "log_length"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_conversations_log_id_log_length"), table_name="conversations")
    op.drop_table("conversations")
