"""Builds the FastAPI app: the single place where concrete classes are wired together."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pydantic import BaseModel

from chatloom import __version__
from chatloom.api import hot_routes
from chatloom.api.body_limit import BodySizeLimit
from chatloom.api.cors import CorsPolicy
from chatloom.api.deps import Services
from chatloom.api.docs import serve_docs
from chatloom.api.errors import install_error_handlers
from chatloom.api.openapi import finish_document
from chatloom.api.request_guard import RequestGuard
from chatloom.api.routes import (
    analytics,
    assistants,
    chats,
    conversations,
    credentials,
    files,
    health,
    knowledge_bases,
    limits,
    metrics,
    responses,
    sessions,
    squads,
    stored_responses,
    structured_outputs,
    tools,
    web_chat,
)
from chatloom.api.schemas.assistant import AssistantIn, AssistantPatch
from chatloom.api.schemas.chat import CreateChatIn
from chatloom.api.schemas.conversation import ConversationCreateIn, ConversationItemsIn, ConversationUpdateIn
from chatloom.api.schemas.credential import CredentialIn, CredentialPatch
from chatloom.api.schemas.file import FilePatch, FileUploadIn
from chatloom.api.schemas.knowledge_base import AttachFileIn, KnowledgeBaseIn, KnowledgeBasePatch
from chatloom.api.schemas.records_out import ChatStreamError, CreateChatStreamResponse
from chatloom.api.schemas.responses import ResponsesRequestIn
from chatloom.api.schemas.responses_out import ResponseStreamEvent
from chatloom.api.schemas.session import CreateSessionIn, UpdateSessionIn
from chatloom.api.schemas.squad import SquadIn, SquadPatch
from chatloom.api.schemas.structured_output import (
    StructuredOutputIn,
    StructuredOutputPatch,
    StructuredOutputRunIn,
)
from chatloom.api.schemas.tool import ToolIn, ToolPatch
from chatloom.api.schemas.web_chat import CreateWebChatIn, WebResponsesRequestIn
from chatloom.api.sse import HEARTBEAT
from chatloom.api.wiring_files import build_files, build_knowledge
from chatloom.config import Settings
from chatloom.console import routes as console
from chatloom.counters.memory import MemoryCounter
from chatloom.engine.access.credentials import Credentials, OrgCredentialCache
from chatloom.engine.access.keys import KeyVerifier
from chatloom.engine.access.rate_limits import Counter, Limit, RateLimiter
from chatloom.engine.access.usage_gate import UsageGate
from chatloom.engine.artifacts.extraction import Extractor
from chatloom.engine.artifacts.jobs import EXPIRY_JOB, ArtifactJobs
from chatloom.engine.artifacts.session_artifacts import SessionArtifacts
from chatloom.engine.assistants.cache import AssistantCache
from chatloom.engine.calls.grounding import Grounding
from chatloom.engine.calls.models import ModelCaller, RetryPolicy
from chatloom.engine.calls.pricing import PriceBook
from chatloom.engine.calls.tools import ToolRunner
from chatloom.engine.notify.server_messages import ServerMessages
from chatloom.engine.records.assistants import AssistantRecords
from chatloom.engine.records.chats import ChatRecords
from chatloom.engine.records.conversations import ConversationRecords
from chatloom.engine.records.documents import structured_output_records, tool_records
from chatloom.engine.records.leases import SessionLeases
from chatloom.engine.records.sessions import SessionRecords
from chatloom.engine.squads.records import SquadRecords
from chatloom.engine.turn.engine import ChatEngine
from chatloom.engine.turn.in_flight import TurnsInFlight
from chatloom.engine.turn.record import TurnStore
from chatloom.engine.turn.web import WebChats
from chatloom.jobs.recurring import Recurring
from chatloom.jobs.runner import JobHandler, JobRunner
from chatloom.observability.access_log import AccessLog
from chatloom.observability.hooks import Observer
from chatloom.observability.metrics import observer_for
from chatloom.observability.tracing import tracing_from_environment
from chatloom.outbound.guard import GuardedResolver, OutboundPolicy
from chatloom.outbound.http import OutboundHttp
from chatloom.providers.anthropic import AnthropicProvider
from chatloom.providers.attachment_fetch import AttachmentFetcher
from chatloom.providers.base import ChatProvider
from chatloom.providers.google import GoogleProvider
from chatloom.providers.openai_compat import OpenAICompatibleProvider
from chatloom.providers.registry import ProviderRegistry
from chatloom.relay.memory import MemoryRelay
from chatloom.relay.postgres import PostgresRelay
from chatloom.store.db import Database, create_engine
from chatloom.store.rate_counters import database_counter
from chatloom.store.turns.writer import TurnWriter
from chatloom.templates.liquid import render_prompt_async, set_template_limits
from chatloom.tools.api_request import ApiRequestRunner
from chatloom.tools.function import FunctionToolServer
from chatloom.tools.knowledge_base import KnowledgeBaseClient
from chatloom.tools.mcp import McpClient
from chatloom.vault.box import SecretBox
from chatloom.webhooks.deliver import WebhookDispatcher

log = logging.getLogger("chatloom")

DOCUMENTED_SCHEMAS: tuple[type[BaseModel], ...] = (  # bodies routes parse themselves; stream payloads
    CreateChatIn,
    AssistantIn,
    AssistantPatch,
    CreateSessionIn,
    UpdateSessionIn,
    ResponsesRequestIn,
    ConversationCreateIn,
    ConversationUpdateIn,
    ConversationItemsIn,
    ToolIn,
    ToolPatch,
    SquadIn,
    SquadPatch,
    CreateChatStreamResponse,
    ChatStreamError,
    ResponseStreamEvent,
    CredentialIn,
    CredentialPatch,
    CreateWebChatIn,
    WebResponsesRequestIn,
    StructuredOutputIn,
    StructuredOutputPatch,
    StructuredOutputRunIn,
    FileUploadIn,
    FilePatch,
    KnowledgeBaseIn,
    KnowledgeBasePatch,
    AttachFileIn,
)


def price_book(settings: Settings) -> PriceBook:
    return PriceBook.from_file(settings.prices_file) if settings.prices_file else PriceBook()


def build_services(
    settings: Settings,
    db: Database,
    observer: Observer | None = None,
    prices: PriceBook | None = None,
    adapters: Mapping[str, ChatProvider] | None = None,
    turns: TurnStore | None = None,
) -> Services:
    """Everything the routes use, wired. `adapters` (by dialect or provider name) replace the HTTP
    provider adapters and `turns` the database's turn writer (in-process engine tests use both)."""
    observer = observer or Observer()
    prices = prices or price_book(settings)
    outbound = OutboundPolicy(block_private=settings.block_private_urls)
    if adapters is None:
        adapters = {
            "openai": OpenAICompatibleProvider(),
            "anthropic": AnthropicProvider(),
            "google": GoogleProvider(),
            # custom-llm URLs come from users: their host names are checked again at connect time.
            "custom-llm": OpenAICompatibleProvider(resolver=GuardedResolver(outbound)),
        }
    providers = ProviderRegistry(adapters, settings.provider_env)
    leases = SessionLeases(db, settings.session_lease_seconds, settings.session_wait_seconds)
    http = OutboundHttp(outbound, max_response_bytes=settings.max_upstream_bytes)
    models = ModelCaller(
        RetryPolicy(
            max_retries=settings.llm_max_retries,
            base_delay_seconds=settings.llm_retry_base_seconds,
            budget_seconds=settings.llm_retry_budget_seconds,
            turn_timeout_seconds=settings.turn_timeout_seconds,
        ),
        observer,
        # Remote attachments are fetched through the URL guard, once per model call.
        AttachmentFetcher(http),
    )
    assistant_cache = AssistantCache(settings.assistant_cache_seconds)
    credentials = Credentials(
        db, SecretBox(settings.secret_keys()), OrgCredentialCache(settings.assistant_cache_seconds)
    )
    server_messages = ServerMessages(
        WebhookDispatcher(http, default_secret=settings.webhook_secret, observer=observer),
        db,
        assistant_cache,
        credentials,
    )
    file_records, file_jobs = build_files(settings, db)
    knowledge = build_knowledge(settings, db, file_records, providers, credentials, prices)
    mcp = McpClient(outbound, cache_seconds=settings.mcp_tools_cache_seconds)
    knowledge_bases = KnowledgeBaseClient(http, settings.webhook_secret)
    tools = ToolRunner(
        FunctionToolServer(http, settings.webhook_secret),
        ApiRequestRunner(http, render_prompt_async),
        mcp,
        knowledge_bases,
        observer,
        knowledge.search,
    )
    usage_counter, web_counter = build_counters(settings, db)
    usage = UsageGate(db, usage_counter, cache_seconds=settings.auth_cache_seconds)
    engine = ChatEngine(
        db,
        providers,
        prices,
        outbound,
        leases,
        models,
        tools,
        server_messages,
        settings.llm_timeout_seconds,
        max_tool_rounds=settings.max_tool_rounds,
        max_handoffs_per_turn=settings.max_handoffs_per_turn,
        assistant_cache=assistant_cache,
        max_upstream_bytes=settings.max_upstream_bytes,
        credentials=credentials,
        grounding=Grounding(mcp, knowledge_bases),
        observer=observer,
        usage=usage,
        turns=turns or TurnWriter(db),
    )
    sessions = SessionRecords(db, server_messages)
    extractor = Extractor(
        providers,
        credentials,
        models,
        prices,
        outbound,
        settings.llm_timeout_seconds,
        settings.max_upstream_bytes,
    )
    artifacts = SessionArtifacts(db, extractor, server_messages, usage, observer)
    return Services(
        engine=engine,
        assistants=AssistantRecords(db, assistant_cache, credentials),
        credentials=credentials,
        sessions=sessions,
        tools=tool_records(db),
        squads=SquadRecords(db, credentials),
        chats=ChatRecords(db, server_messages),
        conversations=ConversationRecords(db),
        structured_outputs=structured_output_records(db),
        artifacts=artifacts,
        artifact_jobs=ArtifactJobs(artifacts, sessions),
        files=file_records,
        file_jobs=file_jobs,
        knowledge_bases=knowledge.records,
        knowledge_jobs=knowledge.jobs,
        keys=KeyVerifier(db),
        in_flight=TurnsInFlight(),
        auth_cache_seconds=settings.auth_cache_seconds,
        outbound_http=http,
        relay=build_relay(settings, db),
        web_chats=WebChats(db, engine, sessions),
        limiter=RateLimiter(web_counter),
        web_turn_limit=Limit("web chat turns", settings.web_rate_per_minute, window_seconds=60),
        web_max_input_chars=settings.web_max_input_chars,
        usage=usage,
    )


def build_counters(settings: Settings, db: Database) -> tuple[Counter, Counter]:
    """The counters of usage limits and of web chat's rate limit: one shared Redis counter when configured
    (every process pointed at that Redis counts together, whatever the database). Else usage limits count
    in the database, on SQLite too (budgets survive restarts; with no limits set nothing is counted), and
    web chat in the database on PostgreSQL (straight on asyncpg: it is every web turn's hot path) but in
    memory on SQLite, which serves one process (a database write per request would cost more than the
    rest of the check)."""
    if settings.redis_url:
        from chatloom.counters.redis import RedisCounter

        shared: Counter = RedisCounter(settings.redis_url)
        return shared, shared
    if db.shared:  # PostgreSQL: every process counts in the same table
        shared = database_counter(db)
        return shared, shared
    return database_counter(db), MemoryCounter()


def build_relay(settings: Settings, db: Database) -> MemoryRelay:
    """Streams shared through Redis when configured, else through PostgreSQL; one process on SQLite."""
    shared = {
        "retention_seconds": settings.stream_retention_seconds,
        "heartbeat_seconds": settings.stream_heartbeat_seconds,
        "heartbeat": HEARTBEAT,
        "in_flight_seconds": settings.session_lease_seconds,
        "flush_seconds": settings.stream_flush_seconds,
    }
    if settings.redis_url:
        from chatloom.relay.redis import RedisRelay

        return RedisRelay(settings.redis_url, **shared)
    if db.shared:
        return PostgresRelay(settings.database_url, **shared)
    return MemoryRelay(settings.stream_retention_seconds, settings.stream_heartbeat_seconds, HEARTBEAT)


JOB_GRACE_SECONDS = 5.0
"""How long a stopping server lets running jobs finish before it hands them back to the queue."""


def job_handlers(services: Services) -> dict[str, JobHandler]:
    """The handler of each kind of background job, by kind (a job of a kind without one is never run)."""
    return {
        **services.artifact_jobs.handlers(),
        **services.file_jobs.handlers(),
        **services.knowledge_jobs.handlers(),
    }


def build_jobs(
    settings: Settings, db: Database, observer: Observer, handlers: Mapping[str, JobHandler]
) -> JobRunner | None:
    """This process's job runner, or None when CHATLOOM_JOBS is off (jobs are still queued then)."""
    if not settings.jobs_enabled:
        return None
    return JobRunner(
        db,
        handlers,
        concurrency=settings.job_concurrency,
        lease_seconds=settings.job_lease_seconds,
        poll_seconds=settings.job_poll_seconds,
        max_attempts=settings.job_max_attempts,
        recurring=[Recurring(EXPIRY_JOB, settings.session_sweep_seconds)],
        observer=observer,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    set_template_limits(settings.template_max_ms, settings.template_max_bytes)
    prices = price_book(settings)
    observer = observer_for(
        settings.metrics,
        settings.metrics_per_org,
        tracing_from_environment(),
        known_model=prices.knows,
        max_models=settings.metrics_max_models,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(
            create_engine(settings.database_url, settings.database_pool_size, settings.sqlite_synchronous),
            message_cache_bytes=int(settings.message_cache_mb * 1024 * 1024),
        )
        services = build_services(settings, db, observer, prices)
        try:
            await services.credentials.check_key()
        except BaseException:
            await db.dispose()
            raise
        await services.relay.start()
        services.jobs = build_jobs(settings, db, observer, job_handlers(services))
        if services.jobs is not None:
            # A job queued by this process (a session completed) starts at once, not at the next poll.
            services.sessions.job_queued = services.jobs.wake
            services.files.job_queued = services.jobs.wake  # an upload's parse
            services.knowledge_bases.job_queued = services.jobs.wake  # a file's indexing
            await services.jobs.start()
        app.state.services = services
        try:
            yield
        finally:
            await services.in_flight.wait(grace_seconds=settings.llm_timeout_seconds)
            if services.jobs is not None:  # before what its handlers use is closed
                await services.jobs.aclose(grace_seconds=JOB_GRACE_SECONDS)
            await services.relay.aclose()
            close_counter = getattr(services.usage.counter, "aclose", None)  # shared with the web limiter
            if close_counter is not None:
                await close_counter()
            dispatcher = services.engine.server_messages.dispatcher
            if isinstance(dispatcher, WebhookDispatcher):
                await dispatcher.drain(grace_seconds=5.0)
                await dispatcher.aclose()
            await services.outbound_http.aclose()
            if services.engine.grounding is not None:
                await services.engine.grounding.mcp.aclose()
            await services.engine.providers.aclose()
            if services.engine.loop.tools.files is not None:
                await services.engine.loop.tools.files.aclose()  # the embeddings' HTTP session
            await db.dispose()
            if observer.tracing is not None:
                observer.tracing.shutdown()  # sends the spans still batched

    app = FastAPI(
        title="chatloom",
        version=__version__,
        description="A self-hostable server for text conversations with LLM assistants (Vapi's Chat API).",
        lifespan=lifespan,
        openapi_url="/api-json",
        docs_url=None,  # served by `serve_docs`, with its assets
        redoc_url=None,
    )
    app.state.observer = observer
    app.state.metrics_token = settings.metrics_token
    install_error_handlers(app)
    serve_docs(app, title=f"{app.title} API")
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(limits.router)
    app.include_router(web_chat.router)
    app.include_router(responses.router)
    app.include_router(stored_responses.router)
    app.include_router(conversations.router)
    app.include_router(chats.router)
    app.include_router(assistants.router)
    app.include_router(sessions.router)
    app.include_router(tools.router)
    app.include_router(structured_outputs.router)
    app.include_router(files.router)
    app.include_router(knowledge_bases.router)
    app.include_router(squads.router)
    app.include_router(credentials.router)
    app.include_router(analytics.router)
    app.include_router(console.router)
    hot_routes.install(app, hot_routes.TURN_ROUTES)
    app.add_middleware(
        BodySizeLimit,
        limit=settings.max_body_bytes,
        turn_limit=settings.max_turn_body_bytes,
        file_limit=settings.max_file_bytes,
    )
    app.add_middleware(RequestGuard)
    # Just outside the guard: it sees the request id and the guard's own 400s and 500s.
    app.add_middleware(AccessLog, observer=observer, enabled=settings.access_log)
    # Outermost: web chat's CORS headers go on every response, the guard's 400s and 500s included.
    app.add_middleware(CorsPolicy, private_origins=settings.cors_origin_list)
    finish_document(app, DOCUMENTED_SCHEMAS, public_paths={"/health"})
    return app
