"""squads: assistants that hand a conversation off to each other

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 13:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import chatloom.store.tables

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "squads",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", chatloom.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", chatloom.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_squads")),
    )
    with op.batch_alter_table("squads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_squads_org_id_created_at"), ["org_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("squads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_squads_org_id_created_at"))
    op.drop_table("squads")
