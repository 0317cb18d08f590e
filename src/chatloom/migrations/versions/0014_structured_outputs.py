"""structured_outputs: saved structured-output definitions

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 05:30:00.000000

A new table only: no data moves. A session's extracted results live in its document (`artifact`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import chatloom.store.tables

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "structured_outputs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", chatloom.store.tables.UTCDateTime(), nullable=False),
        sa.Column("updated_at", chatloom.store.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_structured_outputs")),
    )
    op.create_index(
        op.f("ix_structured_outputs_org_id_created_at"),
        "structured_outputs",
        ["org_id", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_structured_outputs_org_id_name"), "structured_outputs", ["org_id", "name"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_structured_outputs_org_id_name"), table_name="structured_outputs")
    op.drop_index(op.f("ix_structured_outputs_org_id_created_at"), table_name="structured_outputs")
    op.drop_table("structured_outputs")
