"""jobs: durable background work, claimed with leases; an index of sessions by status and expiry

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-09 10:00:00.000000

A new table and a new index only: no data moves. `jobs` holds one row per logical job (UNIQUE kind, key),
claimed by one process at a time with a lease (`store/jobs.py`). The sessions index lets a sweep find
expired sessions without reading every session.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import chatloom.store.tables

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("run_after", chatloom.store.tables.UTCDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(length=36), nullable=True),
        sa.Column("lease_until", chatloom.store.tables.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", chatloom.store.tables.UTCDateTime(), nullable=False),
        sa.Column("updated_at", chatloom.store.tables.UTCDateTime(), nullable=False),
        sa.Column("finished_at", chatloom.store.tables.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("kind", "key", name=op.f("uq_jobs_kind_key")),
    )
    op.create_index(op.f("ix_jobs_status_run_after"), "jobs", ["status", "run_after"], unique=False)
    op.create_index(op.f("ix_jobs_status_lease_until"), "jobs", ["status", "lease_until"], unique=False)
    op.create_index(op.f("ix_jobs_status_finished_at"), "jobs", ["status", "finished_at"], unique=False)
    op.create_index(op.f("ix_sessions_status_expires_at"), "sessions", ["status", "expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_sessions_status_expires_at"), table_name="sessions")
    op.drop_index(op.f("ix_jobs_status_finished_at"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_status_lease_until"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_status_run_after"), table_name="jobs")
    op.drop_table("jobs")
