"""The real app served by uvicorn on loopback, in a background thread (one per backend)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

from chatloom.api.app import create_app
from chatloom.config import Settings
from chatloom.engine.access.keys import KeyVerifier
from chatloom.store.db import Database, create_engine, migrate
from tests.support.off_loop import off_loop, run_coroutine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerThread:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> ServerThread:
        off_loop(lambda: migrate(self.settings.database_url))
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)

    def create_key(self, org_name: str, **options: Any) -> str:
        """A new key for the org (created if needed); `options` as for `KeyVerifier.create` (public, ...)."""

        async def create() -> str:
            db = Database(create_engine(self.settings.database_url, pool_size=1))
            try:
                return (await KeyVerifier(db).create(org_name, **options))[1]
            finally:
                await db.dispose()

        return run_coroutine(create)
