"""knowledge_bases: v2 knowledge bases and the files each knowledge base (or query tool) uses

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 06:10:00.000000

New tables only: no data moves.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import chatloom.store.tables

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "knowledge_bases",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", chatloom.store.tables.UTCDateTime(), nullable=False),
        sa.Column("updated_at", chatloom.store.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_bases")),
    )
    op.create_index(
        op.f("ix_knowledge_bases_org_id_created_at"),
        "knowledge_bases",
        ["org_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "knowledge_base_files",
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("file_id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", chatloom.store.tables.UTCDateTime(), nullable=False),
        sa.Column("updated_at", chatloom.store.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", "file_id", name=op.f("pk_knowledge_base_files")),
        sa.UniqueConstraint("id", name=op.f("uq_knowledge_base_files_id")),
    )
    op.create_index(
        op.f("ix_knowledge_base_files_org_id_file_id"),
        "knowledge_base_files",
        ["org_id", "file_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_knowledge_base_files_org_id_file_id"), table_name="knowledge_base_files")
    op.drop_table("knowledge_base_files")
    op.drop_index(op.f("ix_knowledge_bases_org_id_created_at"), table_name="knowledge_bases")
    op.drop_table("knowledge_bases")
