"""Server settings from environment variables (pydantic-settings); built once and injected.

Provider keys and base URLs follow one rule: `<PROVIDER>_API_KEY` and `<PROVIDER>_BASE_URL`, where
PROVIDER is the Vapi provider name upper-cased with `-` turned into `_` (e.g. `TOGETHER_AI_API_KEY`).
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/chatloom.db"


def _provider_environment() -> dict[str, str]:
    """A snapshot of the `*_API_KEY` / `*_BASE_URL` environment variables."""
    return {k: v for k, v in os.environ.items() if k.endswith(("_API_KEY", "_BASE_URL")) and v}


class Settings(BaseSettings):
    # populate_by_name: a field read from a variable named otherwise (jobs_enabled: CHATLOOM_JOBS) is still
    # set by its name in code.
    model_config = SettingsConfigDict(
        env_prefix="CHATLOOM_", extra="ignore", frozen=True, populate_by_name=True
    )

    database_url: str = Field(DEFAULT_DATABASE_URL, description="SQLAlchemy async URL.")
    database_pool_size: int = Field(10, ge=1, description="PostgreSQL connections per process.")
    sqlite_synchronous: Literal["FULL", "NORMAL", "EXTRA"] = Field(
        "FULL", description="SQLite durability: FULL survives power loss, NORMAL only process crashes."
    )
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest request body accepted.")
    max_turn_body_bytes: int = Field(
        37_748_736,
        ge=1024,
        description="Largest body of POST /chat and /chat/responses (images and files inline; never below "
        "max_body_bytes). Web chat keeps max_body_bytes.",
    )
    llm_timeout_seconds: float = Field(60.0, gt=0, description="Time to the first byte / between bytes.")
    session_lease_seconds: float = Field(
        30.0,
        gt=0,
        description="How long a session stays held by a turn that stopped renewing it (a crashed process).",
    )
    session_wait_seconds: float = Field(
        120.0, gt=0, description="Longest a chat waits for earlier turns on its session (then 409)."
    )
    llm_max_retries: int = Field(
        2, ge=0, le=10, description="Extra attempts per model on 429/5xx/connection errors."
    )
    llm_retry_base_seconds: float = Field(
        0.5, ge=0, description="First backoff; doubles per attempt, jittered."
    )
    llm_retry_budget_seconds: float = Field(
        30.0, ge=0, description="Most time one call may spend waiting to retry."
    )
    turn_timeout_seconds: float = Field(300.0, gt=0, description="Longest one model call may take in all.")
    prices_file: str | None = Field(
        None, description="JSON file of per-model prices overriding the built-in table."
    )
    max_tool_rounds: int = Field(10, ge=1, le=100, description="Model/tool rounds in one chat turn.")
    max_handoffs_per_turn: int = Field(
        5, ge=0, le=50, description="Hand-offs between a squad's assistants in one chat turn."
    )
    webhook_secret: str | None = Field(
        None, description="Signs server messages (HMAC-SHA256) when an assistant's server has no secret."
    )
    assistant_cache_seconds: float = Field(
        2.0,
        ge=0,
        description="How long a process reuses an assistant it read (changes made elsewhere show then).",
    )
    message_cache_mb: float = Field(
        64.0,
        ge=0,
        description="Memory per process for decoded conversation messages, so a turn reads only new ones.",
    )
    auth_cache_seconds: float = Field(
        5.0, ge=0, description="How long a verified API key is trusted before it is looked up again."
    )
    provider_env: dict[str, str] = Field(
        default_factory=_provider_environment,
        exclude=True,
        description="`<PROVIDER>_API_KEY` / `<PROVIDER>_BASE_URL` values; read from the environment.",
    )
    template_max_ms: float = Field(
        50.0, gt=0, le=10_000, description="Longest one Liquid prompt render may take."
    )
    template_max_bytes: int = Field(
        1_000_000, ge=1024, description="Most bytes a render's assigned variables, and its output, may hold."
    )
    max_upstream_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1024,
        description="Largest answer (or one SSE event) read from an LLM, tool server or webhook receiver.",
    )
    secret_key: str | None = Field(
        None,
        repr=False,
        exclude=True,
        description="Fernet key(s) encrypting stored credentials, comma-separated: the first encrypts, all "
        "decrypt. Make one with `chatloom secret-key`.",
    )
    secret_key_file: str | None = Field(
        None, description="A file holding CHATLOOM_SECRET_KEY (used when that variable is not set)."
    )
    cors_origins: str = Field(
        "",
        description="Comma-separated origins (https://admin.example) whose pages may call the private API; "
        "web chat (/chat/web) answers every origin, its public keys restrict them.",
    )
    web_rate_per_minute: int = Field(
        20, ge=1, description="Web chat turns per minute per public key and client address."
    )
    web_max_input_chars: int = Field(
        4_000, ge=1, description="Longest web chat input (characters, all messages together)."
    )
    mcp_tools_cache_seconds: float = Field(
        60.0,
        ge=0,
        description="How long the tool listing of an MCP server is reused before it is asked again.",
    )
    block_private_urls: bool = Field(
        False, description="Refuse outbound calls (custom-llm, tools, webhooks) to private addresses."
    )
    stream_retention_seconds: float = Field(
        300.0, ge=0, description="How long a streamed turn's events are kept for resuming after it ends."
    )
    stream_heartbeat_seconds: float = Field(
        15.0, gt=0, description="Idle time after which a stream sends an SSE comment (`: keep-alive`)."
    )
    stream_flush_seconds: float = Field(
        0.05,
        gt=0,
        le=5,
        description="How often a running turn's new events are written out once another process follows it.",
    )
    redis_url: str | None = Field(
        None,
        description="Relay streamed turns between processes through Redis instead of PostgreSQL, and count "
        "usage limits and web chat's rate limit there (shared by every process using it).",
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as readable text or as one JSON object per line."
    )
    access_log: bool = Field(True, description="Log one line per request (at INFO, on chatloom.access).")
    metrics: bool = Field(True, description="Count requests and turns for GET /metrics (Prometheus).")
    metrics_token: str | None = Field(
        None, repr=False, exclude=True, description="When set, GET /metrics requires 'Bearer <token>'."
    )
    metrics_per_org: bool = Field(
        False, description="Label request and turn metrics with the org id (one series per org)."
    )
    metrics_max_models: int = Field(
        100,
        ge=0,
        le=100_000,
        description="Models the price table does not know that get a label of their own in metrics; "
        "any further model is counted as 'other'.",
    )
    jobs_enabled: bool = Field(
        True,
        validation_alias="chatloom_jobs",
        description="Run background jobs in this process (CHATLOOM_JOBS); off, it still queues them for "
        "processes that run them.",
    )
    job_concurrency: int = Field(4, ge=1, le=256, description="Background jobs one process runs at once.")
    job_lease_seconds: float = Field(
        60.0,
        ge=1,
        le=3600,
        description="How long a job stays held by a process that stopped renewing its hold (a crashed "
        "process) before another process runs it again.",
    )
    job_poll_seconds: float = Field(
        1.0,
        gt=0,
        le=300,
        description="How often a process looks for due jobs (those it queues itself start at once).",
    )
    job_max_attempts: int = Field(
        5, ge=1, le=100, description="Runs of a failing job (with growing pauses) before it is given up."
    )
    session_sweep_seconds: float = Field(
        30.0,
        ge=1,
        le=86_400,
        description="How often sessions whose time ran out are marked completed and their structured outputs "
        "queued for extraction (one process per period does it).",
    )
    files_dir: str | None = Field(
        None,
        description="Where uploaded files and their extracted text are kept; default: a `files` directory "
        "beside the SQLite database, or ./data/files with PostgreSQL.",
    )
    max_file_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, le=1024**3, description="Largest file POST /file accepts (then 413)."
    )
    max_files_per_org: int = Field(1000, ge=1, le=10_000_000, description="Files one org may keep.")
    max_file_bytes_per_org: int = Field(
        1024**3, ge=1024, description="Bytes of uploaded files one org may keep, all together."
    )
    file_parse_seconds: float = Field(
        30.0, gt=0, le=3600, description="Longest text extraction of one file; its worker is then killed."
    )
    file_parse_memory_mb: int = Field(
        512, ge=64, le=65_536, description="Address space of one file's extraction worker process (MiB)."
    )
    file_parse_concurrency: int = Field(
        2, ge=1, le=64, description="Extraction workers one process runs at once (others wait their turn)."
    )
    max_parsed_text_bytes: int = Field(
        5 * 1024 * 1024,
        ge=1024,
        le=256 * 1024 * 1024,
        description="Most text extracted from one file; a file with more fails (`failedReason` says so).",
    )
    kb_embeddings: bool = Field(
        True,
        description="Knowledge bases also search by embeddings when the org has an OpenAI or Google key "
        "(false: full text only, no embedding calls).",
    )

    def secret_keys(self) -> str | None:
        """CHATLOOM_SECRET_KEY, else the contents of CHATLOOM_SECRET_KEY_FILE, else None."""
        if self.secret_key:
            return self.secret_key
        if self.secret_key_file:
            from chatloom.vault.box import read_key_file

            return read_key_file(self.secret_key_file) or None
        return None

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip().rstrip("/") for origin in self.cors_origins.split(",") if origin.strip()]
