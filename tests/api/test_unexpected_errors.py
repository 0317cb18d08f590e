"""A server-side fault (here: a table gone from under the server) is answered once, as Vapi's 500 body with
the request id, logged once, and leaves the client's keep-alive connection usable."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import sqlalchemy

from chatloom.config import Settings
from tests.support.server import ServerThread


@pytest.fixture
def doomed_server(tmp_path: Path) -> Iterator[ServerThread]:
    server = ServerThread(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'doomed.db'}")).start()
    yield server
    server.stop()


def exchange(connection: socket.socket, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Sends one HTTP/1.1 request on an open connection and reads its whole answer."""
    connection.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    while len(body) < int(headers["content-length"]):
        body += connection.recv(65536)
    return int(lines[0].split()[1]), headers, body


def test_an_unexpected_error_is_one_500_one_log_line_and_the_connection_lives(
    doomed_server: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    key = doomed_server.create_key("doomed")
    engine = sqlalchemy.create_engine(doomed_server.settings.database_url.replace("+aiosqlite", ""))
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE chats")
    engine.dispose()

    with (
        caplog.at_level(logging.ERROR),
        socket.create_connection(("127.0.0.1", doomed_server.port), timeout=10) as connection,
    ):
        status, headers, body = exchange(
            connection,
            b"GET /chat HTTP/1.1\r\nHost: x\r\nX-Request-Id: probe-123\r\n"
            + f"Authorization: Bearer {key}\r\n\r\n".encode(),
        )
        assert status == 500
        assert orjson.loads(body) == {
            "message": "Internal server error",
            "error": "Internal Server Error",
            "statusCode": 500,
        }
        assert headers["x-request-id"] == "probe-123"
        assert headers.get("connection") != "close"
        status, _, body = exchange(connection, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 200 and orjson.loads(body)["status"] == "ok", "the same connection still works"

    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1, [record.getMessage() for record in errors]
    assert "probe-123" in errors[0].getMessage() and "GET /chat" in errors[0].getMessage()


def test_every_response_carries_a_request_id(doomed_server: ServerThread) -> None:
    with socket.create_connection(("127.0.0.1", doomed_server.port), timeout=10) as connection:
        _, headers, _ = exchange(connection, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        generated = headers["x-request-id"]
        _, headers, _ = exchange(connection, b"GET /nowhere HTTP/1.1\r\nHost: x\r\nX-Request-Id: a b\r\n\r\n")
    assert len(generated) == 32 and headers["x-request-id"] not in ("a b", generated), (
        "unsafe ids are replaced"
    )
