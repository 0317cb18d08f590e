"""The schema. Every tenant-owned row carries `org_id`; documents are JSON text (orjson) in `body`.

Hot filters get their own columns and composite indexes that lead with `org_id`, so listing stays
an index range scan with millions of rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC instants; always returns timezone-aware UTC datetimes, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(36)

orgs = Table(
    "orgs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("name", String(200), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
    # "private" (the whole API) or "public" (web chat only, for pages); a public key's allowed
    # origins and assistants are JSON arrays, NULL meaning any.
    Column("kind", String(16), nullable=False, server_default="private"),
    Column("allowed_origins", Text, nullable=True),
    Column("allowed_assistant_ids", Text, nullable=True),
    # A public key's identity secret, sealed with the server's secret key (a Fernet token); NULL: none,
    # and its web visitors cannot be identified as customers.
    Column("identity_secret", Text, nullable=True),
)

assistants = Table(
    "assistants",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, nullable=False),
    Column("name", String(200), nullable=True),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index(None, "org_id", "created_at"),
)

chats = Table(
    "chats",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, nullable=False),
    Column("assistant_id", ID, nullable=True),
    Column("squad_id", ID, nullable=True),
    Column("session_id", ID, nullable=True),
    Column("previous_chat_id", ID, nullable=True),
    Column("name", String(40), nullable=True),
    Column("cost", Float, nullable=False, default=0.0),
    # The model that produced the reply (the last entry of `costs`), for costs per model.
    Column("model", String(100), nullable=True),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # Where the chat's messages live: `messages` is log[0:input_end), `output` log[input_end:output_end),
    # and the turn's input starts at history_end. NULL only for a row the migration could not move
    # (its body then still holds its messages).
    Column("log_id", ID, nullable=True),
    Column("history_end", Integer, nullable=True),
    Column("input_end", Integer, nullable=True),
    Column("output_end", Integer, nullable=True),
    Index(None, "org_id", "created_at"),
    Index(None, "org_id", "assistant_id", "created_at"),
    Index(None, "org_id", "session_id", "created_at"),
    Index(None, "org_id", "previous_chat_id"),
    Index(None, "org_id", "cost"),
    Index(None, "log_id", "output_end"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, nullable=False),
    Column("assistant_id", ID, nullable=True),
    Column("squad_id", ID, nullable=True),
    Column("name", String(40), nullable=True),
    Column("status", String(16), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("lease_owner", ID, nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("cost", Float, nullable=False, default=0.0),
    Column("body", Text, nullable=False),
    Column("prompt", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # The session's messages are log[0:log_length) (no log while it has none).
    Column("log_id", ID, nullable=True),
    Column("log_length", Integer, nullable=False, default=0, server_default="0"),
    # A hash of the customer's identity (externalId, number, email or sipUri), so web chat can find a
    # returning customer's session.
    Column("customer_key", String(64), nullable=True),
    Index(None, "org_id", "created_at"),
    Index(None, "org_id", "assistant_id", "created_at"),
    Index(None, "org_id", "name"),
    Index(None, "log_id", "log_length"),
    Index(None, "org_id", "assistant_id", "customer_key", "created_at"),
    # Expired sessions, for a sweep that finds them without reading every session.
    Index(None, "status", "expires_at"),
)

message_logs = Table(
    "message_logs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, nullable=False),
    # A fork starts with its parent's first `parent_length` messages; `ancestry` is the JSON list of
    # [log_id, upto] segments from the root to the parent (immutable, so a read needs no recursion).
    Column("parent_log_id", ID, nullable=True),
    Column("parent_length", Integer, nullable=False),
    Column("ancestry", Text, nullable=False),
    # The tip: messages are only ever appended at `length`, so a (log_id, seq) is written at most once.
    Column("length", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index(None, "parent_log_id", "parent_length"),
)

conversations = Table(
    "conversations",
    metadata,
    # "conv_" and a UUIDv7's hex digits (OpenAI's Conversations API).
    Column("id", String(40), primary_key=True),
    Column("org_id", ID, nullable=False),
    # The conversation's messages are log[0:log_length) (no log while it has none), less `hidden`: the
    # JSON list of the items deleted from it (`engine/records/conversations.py` names them).
    Column("log_id", ID, nullable=True),
    Column("log_length", Integer, nullable=False, default=0, server_default="0"),
    Column("hidden", Text, nullable=False, server_default="[]"),
    Column("metadata", Text, nullable=False, server_default="{}"),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index(None, "log_id", "log_length"),
)

log_messages = Table(
    "log_messages",
    metadata,
    # `seq` is the message's position in the conversation (a fork's own rows start at parent_length).
    Column("log_id", ID, primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("body", Text, nullable=False),
)

tools = Table(
    "tools",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, nullable=False),
    Column("type", String(32), nullable=False),
    Column("name", String(64), nullable=True),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index(None, "org_id", "created_at"),
)

structured_outputs = Table(
    "structured_outputs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, nullable=False),
    Column("type", String(16), nullable=False),
    Column("name", String(40), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index(None, "org_id", "created_at"),
    Index(None, "org_id", "name"),
)

files = Table(
    "files",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, nullable=False),
    Column("purpose", String(32)),
    Column("status", String(16), nullable=False),
    # The content's size, summed for the org's quota; the content itself is in the file storage.
    Column("bytes", BigInteger, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index(None, "org_id", "created_at"),
    Index(None, "org_id", "purpose"),
)

squads = Table(
    "squads",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, nullable=False),
    Column("name", String(200), nullable=True),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index(None, "org_id", "created_at"),
)
"""Squads: assistants that hand a conversation off to each other (`members`, `membersOverrides`)."""

credentials = Table(
    "credentials",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, nullable=False),
    Column("provider", String(64), nullable=False),
    Column("name", String(200), nullable=True),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index(None, "org_id", "created_at"),
)
"""Provider credentials; `body` is the sealed credential (its secrets encrypted, never in plaintext)."""
rate_counters = Table(
    "rate_counters",
    metadata,
    # One row per limited subject and time window (e.g. "web:<key id>:<address>"); old windows are swept.
    Column("bucket", String(255), primary_key=True),
    Column("window_end", BigInteger, primary_key=True),
    Column("hits", BigInteger, nullable=False),
    Index(None, "window_end"),
)

usage_limits = Table(
    "usage_limits",
    metadata,
    # "key:<key id>" or "org:<org id>"; a None limit is no limit.
    Column("subject", String(80), primary_key=True),
    Column("org_id", ID, nullable=False, index=True),
    Column("requests_per_minute", BigInteger, nullable=True),
    Column("tokens_per_minute", BigInteger, nullable=True),
    Column("usd_per_day", Float, nullable=True),
    Column("usd_per_month", Float, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    # Background work (`store/jobs.py`): one row per logical job, claimed by one process at a time with a
    # lease, as session turns are. `kind` names the handler; `key` makes the job one of a kind (e.g. the
    # session it is about), so queueing it twice queues it once.
    Column("id", ID, primary_key=True),
    Column("org_id", ID, nullable=True),
    Column("kind", String(64), nullable=False),
    Column("key", String(200), nullable=False),
    Column("payload", Text, nullable=False),
    # queued -> running -> done | failed; a retried job goes back to queued with a later run_after.
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("run_after", UTCDateTime(), nullable=False),
    Column("lease_owner", ID, nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    # The last failure's exception class and message, bounded (never the payload).
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    UniqueConstraint("kind", "key"),
    Index(None, "status", "run_after"),
    Index(None, "status", "lease_until"),
    Index(None, "status", "finished_at"),
)

passages = Table(
    "passages",
    metadata,
    # Knowledge-base passages (`store/passages.py`): a file's text cut into chunks, searched by full text and,
    # when embedded, by vector. A knowledge base is a set of sources (file ids); a search names them.
    # The integer id is the full-text index's row id (SQLite's `passages_fts`, an FTS5 table over heading and
    # body that the store keeps in step); PostgreSQL indexes a generated `search_vector` column instead. Both
    # are created by migration 0016 for their database only.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("org_id", ID, nullable=False),
    Column("source_id", ID, nullable=False),
    Column("ordinal", Integer, nullable=False),
    # The passage's context: the file's name and the markdown heading path above it.
    Column("heading", Text, nullable=False),
    Column("body", Text, nullable=False),
    # L2-normalized little-endian float32 values, and the model that made them.
    Column("embedding", LargeBinary, nullable=True),
    Column("embedding_model", String(200), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index(None, "org_id", "source_id", "ordinal", unique=True),
)

knowledge_bases = Table(
    "knowledge_bases",
    metadata,
    # `/v2/knowledge-base` records (`KnowledgeBaseV2`); their files are rows of `knowledge_base_files`.
    Column("id", ID, primary_key=True),
    Column("org_id", ID, nullable=False),
    Column("name", String(80), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index(None, "org_id", "created_at"),
)

knowledge_base_files = Table(
    "knowledge_base_files",
    metadata,
    # Which files a knowledge base uses, and how far their indexing got. The owner is a v2 knowledge base or a
    # query tool (whose `knowledgeBases[].fileIds` it mirrors); a file's passages are shared by its owners.
    Column("owner_id", ID, primary_key=True),
    Column("file_id", ID, primary_key=True),
    Column("org_id", ID, nullable=False),
    Column("id", ID, nullable=False, unique=True),
    # indexing -> ready | failed (with `reason`).
    Column("status", String(16), nullable=False),
    Column("reason", String(500), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index(None, "org_id", "file_id"),
)
