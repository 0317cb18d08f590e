"""chats.model: the model that produced each chat's reply, for costs per model

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 12:05:00.000000
"""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BATCH = 1000


def _model_of(body: str) -> str | None:
    try:
        costs: Any = orjson.loads(body).get("costs")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    if not isinstance(costs, list):
        return None
    for entry in reversed(costs):
        model = entry.get("model") if isinstance(entry, dict) else None
        if isinstance(model, dict) and isinstance(model.get("model"), str):
            return str(model["model"])[:100]
    return None


def upgrade() -> None:
    with op.batch_alter_table("chats", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model", sa.String(length=100), nullable=True))
    # Existing chats get their model from their stored `costs`, in batches (keyset by id).
    chats = sa.table("chats", sa.column("id", sa.String), sa.column("body", sa.Text), sa.column("model"))
    connection = op.get_bind()
    last_id = ""
    while True:
        rows = connection.execute(
            sa.select(chats.c.id, chats.c.body).where(chats.c.id > last_id).order_by(chats.c.id).limit(BATCH)
        ).all()
        if not rows:
            break
        updates = [{"chat_id": row.id, "new_model": model} for row in rows if (model := _model_of(row.body))]
        if updates:
            connection.execute(
                sa.update(chats)
                .where(chats.c.id == sa.bindparam("chat_id"))
                .values(model=sa.bindparam("new_model")),
                updates,
            )
        last_id = rows[-1].id


def downgrade() -> None:
    with op.batch_alter_table("chats", schema=None) as batch_op:
        batch_op.drop_column("model")
