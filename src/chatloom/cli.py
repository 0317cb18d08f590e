"""The `chatloom` command: `serve`, `migrate`, `keys create | list | revoke`, `secret-key` and
`credentials rotate`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from chatloom.config import Settings
from chatloom.engine.credentials import Credentials, OrgCredentialCache
from chatloom.engine.keys import KeyVerifier
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
    import uvicorn

    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    migrate(settings.database_url)
    # A server that could not read its stored credentials must not start: say why, before serving.
    _with_credentials(settings, lambda credentials: credentials.check_key())
    uvicorn.run(
        "chatloom.api.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=settings.log_level.lower(),
        access_log=False,
        loop="auto",
        http="auto",
    )


@keys_app.command("create")
def keys_create(
    org: Annotated[str, typer.Option(help="Org name; created if it does not exist.")],
    name: Annotated[str | None, typer.Option(help="A label for the key.")] = None,
) -> None:
    """Create an API key. The key is printed once, as the last line of output."""
    org_id, key = _with_keys(lambda keys: keys.create(org, name))
    typer.echo(f"org: {org} ({org_id})")
    typer.echo("Store this key now; it cannot be shown again:")
    typer.echo(key)


@keys_app.command("list")
def keys_list(org: Annotated[str | None, typer.Option(help="Only this org's keys.")] = None) -> None:
    """List API keys (prefixes only; keys are stored hashed)."""
    for info in _with_keys(lambda keys: keys.list(org)):
        state = f"revoked {info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else "active"
        label = f" {info.name}" if info.name else ""
        typer.echo(f"{info.id}  {info.prefix}…  org={info.org_name}  {state}{label}")


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


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        credentials, _, host = rest.rpartition("@")
        user = credentials.split(":", 1)[0]
        return f"{scheme}{sep}{user}:***@{host}"
    return url


def main() -> None:
    app()
