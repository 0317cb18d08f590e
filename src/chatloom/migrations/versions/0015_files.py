"""files: uploaded files (their content and extracted text live in the file storage)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 09:00:00.000000

A new table only: no data moves.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import chatloom.store.tables

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", chatloom.store.tables.UTCDateTime(), nullable=False),
        sa.Column("updated_at", chatloom.store.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_files")),
    )
    op.create_index(op.f("ix_files_org_id_created_at"), "files", ["org_id", "created_at"], unique=False)
    op.create_index(op.f("ix_files_org_id_purpose"), "files", ["org_id", "purpose"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_files_org_id_purpose"), table_name="files")
    op.drop_index(op.f("ix_files_org_id_created_at"), table_name="files")
    op.drop_table("files")
