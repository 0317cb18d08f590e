"""The `chatloom` command: `serve`, `migrate`, `keys create | list | revoke | limit | identity-secret`,
`secret-key` and `credentials rotate`."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from chatloom.config import Settings
from chatloom.domain.errors import ChatloomError
from chatloom.engine.access.credentials import Credentials, OrgCredentialCache
from chatloom.engine.access.keys import ApiKeyInfo, KeyVerifier, new_identity_secret, normalize_origin
from chatloom.store.db import Database, create_engine, migrate
from chatloom.vault.box import SecretBox, SecretKeyError, new_key

T = TypeVar("T")

app = typer.Typer(
    help="chatloom: a self-hostable server for LLM chats, speaking Vapi's Chat API.", no_args_is_help=True
)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
credentials_app = typer.Typer(help="Manage stored provider credentials.", no_args_is_help=True)
app.add_typer(credentials_app, name="credentials")


def _with_keys(action: Callable[[KeyVerifier], Awaitable[T]]) -> T:
    settings = Settings()
    migrate(settings.database_url)

    async def run() -> T:
        db = Database(create_engine(settings.database_url, pool_size=1))
        try:
            return await action(KeyVerifier(db))
        finally:
            await db.dispose()

    return asyncio.run(run())


def _with_credentials(settings: Settings, action: Callable[[Credentials], Awaitable[T]]) -> T:
    """Runs `action` on the stored credentials; a missing, malformed or wrong key exits with its reason."""

    async def run() -> T:
        db = Database(create_engine(settings.database_url, pool_size=1))
        try:
            box = SecretBox(settings.secret_keys())
            return await action(Credentials(db, box, OrgCredentialCache(0)))
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except SecretKeyError as error:
        typer.echo(f"chatloom: {error}", err=True)
        raise typer.Exit(1) from None


def _sealing_box(settings: Settings) -> SecretBox:
    """The box identity secrets are sealed with; exits with the reason when the secret key is missing or
    malformed (the same key as the server's, which opens them)."""
    try:
        box = SecretBox(settings.secret_keys())
    except SecretKeyError as error:
        typer.echo(f"chatloom: {error}", err=True)
        raise typer.Exit(1) from None
    if not box.configured:
        typer.echo(
            "chatloom: an identity secret is stored encrypted with the server's secret key, and neither "
            "CHATLOOM_SECRET_KEY nor CHATLOOM_SECRET_KEY_FILE is set: set the server's key (make one with "
            "`chatloom secret-key`)",
            err=True,
        )
        raise typer.Exit(1)
    return box


@app.command("secret-key")
def secret_key() -> None:
    """Print a new key for CHATLOOM_SECRET_KEY (a Fernet key), which encrypts stored credentials."""
    typer.echo(new_key())


@credentials_app.command("rotate")
def credentials_rotate() -> None:
    """Re-encrypt every stored secret with the first key of CHATLOOM_SECRET_KEY.

    To rotate: put the new key first and keep the old one after it (`NEW,OLD`), restart, run this,
    then drop the old key."""
    settings = Settings()
    migrate(settings.database_url)

    async def rotate(credentials: Credentials) -> int:
        await credentials.check_key()
        return await credentials.rotate()

    count = _with_credentials(settings, rotate)
    typer.echo(f"re-encrypted {count} secret(s) with the first key of CHATLOOM_SECRET_KEY")


@app.command("migrate")
def migrate_command() -> None:
    """Apply pending database migrations and exit."""
    settings = Settings()
    migrate(settings.database_url)
    typer.echo(f"database is up to date ({_redact(settings.database_url)})")


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default: CHATLOOM_HOST or 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: CHATLOOM_PORT or 8000).")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes sharing the port.")] = 1,
) -> None:
    """Apply pending migrations, then serve the API."""
    import logging.config

    import uvicorn

    from chatloom.observability.logs import logging_config

    settings = Settings()
    log_config = logging_config(settings.log_level, settings.log_format)
    logging.config.dictConfig(log_config)
    metrics_dir = None
    if workers > 1 and settings.metrics and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker writes its metrics to files here; GET /metrics on any worker sums them all.
        metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="chatloom-metrics-")
    migrate(settings.database_url)
    # A server that could not read its stored credentials must not start: say why, before serving.
    _with_credentials(settings, lambda credentials: credentials.check_key())
    try:
        uvicorn.run(
            "chatloom.api.app:create_app",
            factory=True,
            host=host or settings.host,
            port=port or settings.port,
            workers=workers,
            log_level=settings.log_level.lower(),
            log_config=log_config,
            access_log=False,
            loop="auto",
            http="auto",
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


@keys_app.command("create")
def keys_create(
    org: Annotated[str, typer.Option(help="Org name; created if it does not exist.")],
    name: Annotated[str | None, typer.Option(help="A label for the key.")] = None,
    public: Annotated[
        bool, typer.Option("--public", help="A public key for web pages: it opens /chat/web only.")
    ] = False,
    origin: Annotated[
        list[str] | None,
        typer.Option(help="Public keys: a page origin allowed to use the key (repeatable; default any)."),
    ] = None,
    assistant: Annotated[
        list[str] | None,
        typer.Option(help="Public keys: an assistant id the key may chat with (repeatable; default any)."),
    ] = None,
    identity_secret: Annotated[
        bool,
        typer.Option(
            "--identity-secret",
            help="Public keys: also make an identity secret, with which your server signs the customers "
            "it vouches for (customer.identityHash). Needs CHATLOOM_SECRET_KEY.",
        ),
    ] = False,
) -> None:
    """Create an API key. The key is printed once, as the last line of output."""
    assistants = assistant or []
    if identity_secret and not public:
        typer.echo("error: --identity-secret is for public keys (add --public)", err=True)
        raise typer.Exit(2)
    secret, sealed = new_identity_secret(_sealing_box(Settings())) if identity_secret else (None, None)
    try:
        origins = [normalize_origin(value) for value in origin or []]
        org_id, key = _with_keys(
            lambda keys: keys.create(
                org,
                name,
                public=public,
                origins=origins,
                assistant_ids=assistants,
                sealed_identity_secret=sealed,
            )
        )
    except ChatloomError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"org: {org} ({org_id})")
    if public:
        typer.echo("kind: public (web chat only: POST /chat/web and /chat/web/responses)")
        typer.echo(f"origins: {', '.join(origins)}" if origins else "origins: any (no --origin given)")
        typer.echo(
            f"assistants: {', '.join(assistants)}"
            if assistants
            else "assistants: any assistant of the org (no --assistant given)"
        )
    if secret is not None:
        typer.echo(f"identity secret (for your server only, never the page; shown once): {secret}")
    typer.echo("Store this key now; it cannot be shown again:")
    typer.echo(key)


def _restrictions(info: ApiKeyInfo) -> str:
    if info.kind != "public":
        return "private"
    origins = ",".join(info.origins) if info.origins else "any"
    assistants = ",".join(info.assistant_ids) if info.assistant_ids else "any"
    identity = "yes" if info.has_identity_secret else "no"
    return f"public origins={origins} assistants={assistants} identity-secret={identity}"


@keys_app.command("list")
def keys_list(org: Annotated[str | None, typer.Option(help="Only this org's keys.")] = None) -> None:
    """List API keys (prefixes only; keys are stored hashed), with each key's kind and restrictions."""
    for info in _with_keys(lambda keys: keys.list(org)):
        state = f"revoked {info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else "active"
        label = f" {info.name}" if info.name else ""
        typer.echo(f"{info.id}  {info.prefix}…  org={info.org_name}  {_restrictions(info)}  {state}{label}")


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="The key's id, its prefix, or the key itself.")],
) -> None:
    """Revoke an API key."""
    count = _with_keys(lambda keys: keys.revoke(key))
    if count == 0:
        typer.echo("no active key matched", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {count} key(s)")


@keys_app.command("identity-secret")
def keys_identity_secret(
    key: Annotated[str, typer.Argument(help="The public key's id, its prefix, or the key itself.")],
    remove: Annotated[
        bool, typer.Option("--remove", help="Remove the key's identity secret instead of making one.")
    ] = False,
) -> None:
    """Make a new identity secret for a public key, replacing (and revoking) any it had. The secret is
    printed once, as the last line of output."""
    if remove:
        sealed = secret = None
    else:
        secret, sealed = new_identity_secret(_sealing_box(Settings()))
    if _with_keys(lambda keys: keys.set_identity_secret(key, sealed)) == 0:
        typer.echo("error: no active public key matched", err=True)
        raise typer.Exit(1)
    if secret is None:
        typer.echo("identity secret removed: customer.identityHash is refused for this key from now on")
        return
    typer.echo("Any previous identity secret of this key no longer verifies.")
    typer.echo("Store this identity secret now (on your server, never in a page); it cannot be shown again:")
    typer.echo(secret)


@keys_app.command("limit")
def keys_limit(
    key: Annotated[str | None, typer.Argument(help="A key's id or display prefix (or use --org).")] = None,
    org: Annotated[str | None, typer.Option(help="Set the limits of this org (by name) instead.")] = None,
    requests_per_minute: Annotated[
        int | None, typer.Option(min=0, help="Requests (turns) per minute.")
    ] = None,
    tokens_per_minute: Annotated[
        int | None, typer.Option(min=0, help="Prompt + completion tokens per minute.")
    ] = None,
    usd_per_day: Annotated[float | None, typer.Option(min=0, help="USD per UTC day.")] = None,
    usd_per_month: Annotated[float | None, typer.Option(min=0, help="USD per UTC calendar month.")] = None,
    remove: Annotated[
        list[str] | None,
        typer.Option(
            help="Remove a limit: requests-per-minute, tokens-per-minute, usd-per-day, usd-per-month."
        ),
    ] = None,
) -> None:
    """Set usage limits of an API key or an org; over one, chats answer 429 with Retry-After."""
    from chatloom.engine.access.usage_gate import UsageGate
    from chatloom.store.rate_counters import DatabaseCounter
    from chatloom.store.usage_limits import LIMIT_FIELDS

    if (key is None) == (org is None):
        typer.echo("error: name a key (its id or prefix) or --org, not both", err=True)
        raise typer.Exit(2)
    given = {
        "requests_per_minute": requests_per_minute,
        "tokens_per_minute": tokens_per_minute,
        "usd_per_day": usd_per_day,
        "usd_per_month": usd_per_month,
    }
    changes: dict[str, object] = {name: value for name, value in given.items() if value is not None}
    for name in remove or []:
        field = name.replace("-", "_")
        if field not in LIMIT_FIELDS:
            typer.echo(f"error: --remove: no limit named {name!r}", err=True)
            raise typer.Exit(2)
        changes[field] = None
    settings = Settings()
    migrate(settings.database_url)

    async def run() -> object:
        db = Database(create_engine(settings.database_url, pool_size=1))
        try:
            return await UsageGate(db, DatabaseCounter(db)).set_limits(key, org, changes)
        finally:
            await db.dispose()

    limits = asyncio.run(run())
    if limits is None:
        typer.echo("error: no such key" if key is not None else f"error: no org named {org!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"limits: {limits}")


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        credentials, _, host = rest.rpartition("@")
        user = credentials.split(":", 1)[0]
        return f"{scheme}{sep}{user}:***@{host}"
    return url


def main() -> None:
    app()
