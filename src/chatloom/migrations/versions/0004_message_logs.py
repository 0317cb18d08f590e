"""message logs: every message stored once, chats and sessions pointing into append-only logs

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 12:00:00.000000

Moves every chat's `messages` + `output` and every session's `messages` out of the JSON bodies into
`log_messages` rows, leaving `null` placeholders in the bodies (so the documents keep their key order).
A chat that continues another one (`previousChatId`, or the session chat before it) shares that chat's
log when its history is exactly that chat's messages and output, as new turns do; anything else gets a
log of its own, so what every chat and session reads is unchanged. A body whose `messages`/`output`
are not lists is left as it is (its row keeps no log and is read as before).

Downgrade is not supported: going back would mean copying every history into every chat again.
"""

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

import chatloom.store.tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BATCH = 500
MAX_ANCESTRY = 24


def _create_schema() -> None:
    op.create_table(
        "message_logs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("parent_log_id", sa.String(length=36), nullable=True),
        sa.Column("parent_length", sa.Integer(), nullable=False),
        sa.Column("ancestry", sa.Text(), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("created_at", chatloom.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_logs")),
    )
    op.create_index(
        op.f("ix_message_logs_parent_log_id_parent_length"),
        "message_logs",
        ["parent_log_id", "parent_length"],
        unique=False,
    )
    op.create_table(
        "log_messages",
        sa.Column("log_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("log_id", "seq", name=op.f("pk_log_messages")),
    )
    with op.batch_alter_table("chats", schema=None) as batch_op:
        batch_op.add_column(sa.Column("log_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("history_end", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("input_end", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("output_end", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_chats_log_id_output_end"), ["log_id", "output_end"], unique=False
        )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("log_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("log_length", sa.Integer(), nullable=False, server_default="0"))
        batch_op.create_index(
            batch_op.f("ix_sessions_log_id_log_length"), ["log_id", "log_length"], unique=False
        )


message_logs = sa.table(
    "message_logs",
    sa.column("id"),
    sa.column("org_id"),
    sa.column("parent_log_id"),
    sa.column("parent_length"),
    sa.column("ancestry"),
    sa.column("length"),
    sa.column("created_at", chatloom.store.tables.UTCDateTime()),
)
log_messages = sa.table("log_messages", sa.column("log_id"), sa.column("seq"), sa.column("body"))
chats = sa.table(
    "chats",
    sa.column("id"),
    sa.column("body"),
    sa.column("log_id"),
    sa.column("history_end"),
    sa.column("input_end"),
    sa.column("output_end"),
)
sessions = sa.table(
    "sessions", sa.column("id"), sa.column("body"), sa.column("log_id"), sa.column("log_length")
)


@dataclass
class Log:
    length: int
    ancestry: list[list[Any]]


@dataclass
class Moved:
    """Where a moved chat's messages + output ended up, and a digest of them to recognise its successors."""

    log_id: str
    end: int
    digest: bytes


@dataclass
class Mover:
    bind: sa.engine.Connection
    now: datetime
    logs: dict[str, Log] = field(default_factory=dict)
    moved: dict[str, Moved] = field(default_factory=dict)
    last_in_session: dict[str, str] = field(default_factory=dict)

    def new_log(self, org_id: str, parent: str | None, parent_length: int, ancestry: list[list[Any]]) -> str:
        log_id = str(uuid.uuid4())
        self.bind.execute(
            sa.insert(message_logs).values(
                id=log_id,
                org_id=org_id,
                parent_log_id=parent,
                parent_length=parent_length,
                ancestry=orjson.dumps(ancestry).decode(),
                length=parent_length,
                created_at=self.now,
            )
        )
        self.logs[log_id] = Log(parent_length, ancestry)
        return log_id

    def append(self, log_id: str, bodies: list[bytes]) -> None:
        log = self.logs[log_id]
        if bodies:
            rows = [
                {"log_id": log_id, "seq": log.length + i, "body": body.decode()}
                for i, body in enumerate(bodies)
            ]
            self.bind.execute(sa.insert(log_messages), rows)
            log.length += len(bodies)
            self.bind.execute(
                sa.update(message_logs).where(message_logs.c.id == log_id).values(length=log.length)
            )

    def store(self, org_id: str, bodies: list[bytes], after: Moved | None) -> str:
        """Stores `bodies` as a conversation, sharing `after`'s log when `bodies` continue it."""
        if after is not None and after.end <= len(bodies) and digest(bodies[: after.end]) == after.digest:
            log = self.logs[after.log_id]
            if log.length == after.end:
                self.append(after.log_id, bodies[after.end :])
                return after.log_id
            ancestry = [*log.ancestry, [after.log_id, after.end]]
            if len(ancestry) <= MAX_ANCESTRY:
                fork = self.new_log(org_id, after.log_id, after.end, ancestry)
                self.append(fork, bodies[after.end :])
                return fork
        root = self.new_log(org_id, None, 0, [])
        self.append(root, bodies)
        return root


def digest(bodies: list[bytes]) -> bytes:
    hasher = hashlib.sha256()
    for body in bodies:
        hasher.update(len(body).to_bytes(8, "big"))
        hasher.update(body)
    return hasher.digest()


def _batches(bind: sa.engine.Connection, table: str, columns: str) -> Any:
    """All rows of `table`, oldest first, a batch at a time (keyset paging, so writes between are safe)."""
    last: tuple[Any, str] | None = None
    while True:
        if last is None:
            statement = sa.text(f"SELECT {columns} FROM {table} ORDER BY created_at, id LIMIT {BATCH}")
            rows = bind.execute(statement).all()
        else:
            statement = sa.text(
                f"SELECT {columns} FROM {table} WHERE created_at > :c OR (created_at = :c AND id > :i) "
                f"ORDER BY created_at, id LIMIT {BATCH}"
            )
            rows = bind.execute(statement, {"c": last[0], "i": last[1]}).all()
        if not rows:
            return
        yield from rows
        last = (rows[-1].created_at, rows[-1].id)


def _move_chats(mover: Mover) -> None:
    columns = "id, org_id, session_id, previous_chat_id, body, created_at"
    for row in _batches(mover.bind, "chats", columns):
        body = orjson.loads(row.body)
        messages, output = body.get("messages"), body.get("output")
        if not isinstance(messages, list) or not isinstance(output, list):
            continue
        bodies = [orjson.dumps(message) for message in [*messages, *output]]
        before = row.previous_chat_id or (
            mover.last_in_session.get(row.session_id) if row.session_id else None
        )
        log_id = mover.store(row.org_id, bodies, mover.moved.get(before) if before else None)
        raw_input = body.get("input")
        input_count = (
            1 if isinstance(raw_input, str) else len(raw_input) if isinstance(raw_input, list) else 0
        )
        input_end = mover.logs[log_id].length - len(output)
        body["messages"], body["output"] = None, None
        mover.bind.execute(
            sa.update(chats)
            .where(chats.c.id == row.id)
            .values(
                body=orjson.dumps(body).decode(),
                log_id=log_id,
                history_end=max(0, input_end - input_count),
                input_end=input_end,
                output_end=input_end + len(output),
            )
        )
        mover.moved[row.id] = Moved(log_id, len(bodies), digest(bodies))
        if row.session_id:
            mover.last_in_session[row.session_id] = row.id


def _move_sessions(mover: Mover) -> None:
    for row in _batches(mover.bind, "sessions", "id, org_id, body, created_at"):
        body = orjson.loads(row.body)
        messages = body.get("messages")
        if not isinstance(messages, list):
            continue
        bodies = [orjson.dumps(message) for message in messages]
        log_id: str | None = None
        last = mover.moved.get(mover.last_in_session.get(row.id, ""))
        if last is not None and last.end == len(bodies) and last.digest == digest(bodies):
            log_id = last.log_id  # the session ends where its last chat does: it reads the same log
        elif bodies:
            log_id = mover.store(row.org_id, bodies, last)
        body["messages"] = None
        mover.bind.execute(
            sa.update(sessions)
            .where(sessions.c.id == row.id)
            .values(body=orjson.dumps(body).decode(), log_id=log_id, log_length=len(bodies))
        )


def upgrade() -> None:
    _create_schema()
    mover = Mover(op.get_bind(), datetime.now(UTC))
    _move_chats(mover)
    _move_sessions(mover)


def downgrade() -> None:
    raise NotImplementedError("0004 (message logs) cannot be downgraded; restore a backup taken before it")
