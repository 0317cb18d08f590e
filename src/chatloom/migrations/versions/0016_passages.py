"""passages: knowledge-base passages and their full-text index

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 05:20:00.000000

A new table only: no data moves. The full-text index is each database's own: on SQLite an FTS5 table over
the passages (external content, row id = passage id, Porter stemming) that `store/passages.py` keeps in
step; on PostgreSQL a generated `tsvector` column (English configuration, the heading weighted above the
body) with a GIN index.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import chatloom.store.tables

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "passages",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("source_id", sa.String(length=36), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("heading", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("embedding_model", sa.String(length=200), nullable=True),
        sa.Column("created_at", chatloom.store.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passages")),
    )
    op.create_index(
        op.f("ix_passages_org_id_source_id_ordinal"),
        "passages",
        ["org_id", "source_id", "ordinal"],
        unique=True,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE passages ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
            "setweight(to_tsvector('english'::regconfig, heading), 'C') || "
            "setweight(to_tsvector('english'::regconfig, body), 'D')) STORED"
        )
        op.execute("CREATE INDEX ix_passages_search_vector ON passages USING gin (search_vector)")
    else:
        op.execute(
            "CREATE VIRTUAL TABLE passages_fts USING fts5(heading, body, content='passages', "
            "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_passages_search_vector")
    else:
        op.execute("DROP TABLE IF EXISTS passages_fts")
    op.drop_index(op.f("ix_passages_org_id_source_id_ordinal"), table_name="passages")
    op.drop_table("passages")
