"""`/file`: uploads in every supported format extracted in the background, the records' CRUD, org scoping,
refused requests, and hostile files and bodies (each fails alone, the server stays responsive), on every
backend. PDF and DOCX fixtures are built here, byte by byte."""

from __future__ import annotations

import io
import os
import socket
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatloom.engine.records.files import FileQuota, FileRecords
from chatloom.files.storage import DirectoryStorage
from chatloom.store.db import Database, create_engine
from tests.support.client import Api
from tests.support.off_loop import run_coroutine
from tests.support.serve import ServeProcess, cli
from tests.support.server import ServerThread

# --- fixtures built in the test ------------------------------------------------------------------------


def pdf(objects: list[bytes]) -> bytes:
    """A PDF of `objects` (object 1 is the catalog) with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def text_pdf(content: bytes, count: int = 1) -> bytes:
    """One page drawing `content` (a content stream) in Helvetica; the page tree claims `count` pages."""
    page = (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>"
    )
    return pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count %d >>" % count,
            page,
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


def docx(paragraphs: list[str]) -> bytes:
    body = "".join(f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>" for text in paragraphs)
    document = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body>{body}</w:body></w:document>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("word/document.xml", document)
    return buffer.getvalue()


def zip_bomb() -> bytes:
    """A .docx whose text part unpacks to 200 MB (about 200 KB packed)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"<w:document>" + b" " * 200_000_000 + b"</w:document>")
    return buffer.getvalue()


def million_kids_pdf() -> bytes:
    """A page tree that lists one page a million times."""
    return pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [" + b"3 0 R " * 1_000_000 + b"] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] >>",
        ]
    )


def slow_pdf() -> bytes:
    """About 4 MB of tiny text operations: many seconds of extraction."""
    return text_pdf(b"BT /F1 12 Tf " + b"1 0 Td (a) Tj " * 300_000 + b"ET")


FORMATS: list[tuple[str, bytes, str]] = [
    ("notes.md", b"# Title\n\nSome *markdown* text.\n", "# Title\n\nSome *markdown* text.\n"),
    ("notes.txt", "Plain text, caf\u00e9.\n".encode(), "Plain text, caf\u00e9.\n"),
    ("table.csv", b"name,age\nAda,36\n", "name,age\nAda,36\n"),
    ("table.tsv", b"name\tage\nAda\t36\n", "name\tage\nAda\t36\n"),
    ("data.json", b'{"hello": "world"}', '{"hello": "world"}'),
    ("config.yaml", b"hello: world\nlist: [1, 2]\n", "hello: world\nlist: [1, 2]\n"),
    ("server.log", b"12:00 started\n12:01 stopped\n", "12:00 started\n12:01 stopped\n"),
    ("doc.xml", b"<root><a>Hello</a><b>XML <c>world</c></b></root>", "Hello\nXML\nworld"),
    (
        "page.html",
        b"<html><head><title>Page</title><style>p{color:red}</style><script>alert(1)</script></head>"
        b"<body><h1>Heading</h1><p>Some <b>bold</b> text.</p></body></html>",
        "Page\nHeading\nSome bold text.",
    ),
    ("report.pdf", text_pdf(b"BT /F1 12 Tf 72 700 Td (Hello PDF world) Tj ET"), "Hello PDF world"),
    ("letter.docx", docx(["First paragraph", "Second paragraph"]), "First paragraph\nSecond paragraph"),
]

# --- helpers ---------------------------------------------------------------------------------------------


def upload(
    client: httpx.Client | Api,
    name: str,
    data: bytes,
    mimetype: str = "application/octet-stream",
    **parts: str,
) -> httpx.Response:
    http = client.http if isinstance(client, Api) else client
    return http.post("/file", files={"file": (name, data, mimetype)}, data=parts)


def uploaded(client: httpx.Client | Api, name: str, data: bytes, **parts: str) -> dict[str, Any]:
    response = upload(client, name, data, **parts)
    assert response.status_code == 201, response.text
    return dict(response.json())


def settled(client: httpx.Client | Api, file_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """The file once its parse has ended (`done` or `failed`), polled through the API."""
    http = client.http if isinstance(client, Api) else client
    deadline = time.monotonic() + timeout
    while True:
        found = http.get(f"/file/{file_id}").json()
        if found["status"] != "processing":
            return dict(found)
        assert time.monotonic() < deadline, found
        time.sleep(0.05)


def parsed_text(server: ServerThread, org_id: str, file_id: str) -> str | None:
    """`FileRecords.parsed_text`, as the knowledge bases read it, over the server's database and storage."""

    async def read() -> str | None:
        db = Database(create_engine(server.settings.database_url, pool_size=1))
        try:
            assert server.settings.files_dir is not None
            storage = DirectoryStorage(server.settings.files_dir)
            return await FileRecords(db, storage, FileQuota(1024, 1, 1024)).parsed_text(org_id, file_id)
        finally:
            await db.dispose()

    return run_coroutine(read)


def stored(server: ServerThread, key: str) -> bool:
    assert server.settings.files_dir is not None
    return (Path(server.settings.files_dir) / key).exists()


# --- the formats -----------------------------------------------------------------------------------------


def test_every_format_is_extracted(api: Api, server: ServerThread) -> None:
    files = [uploaded(api, name, data) for name, data, _ in FORMATS]
    for file in files:
        assert file["status"] == "processing" and file["object"] == "file"
    for (name, data, expected), file in zip(FORMATS, files, strict=True):
        done = settled(api, file["id"])
        assert done["status"] == "done", (name, done)
        assert done["originalName"] == name and done["name"] == name and done["bytes"] == len(data)
        assert done["parsedTextBytes"] == len(expected.encode()), (name, done)
        assert "failedReason" not in done
        assert parsed_text(server, done["orgId"], done["id"]) == expected, name
    assert uploaded(api, "report.pdf", FORMATS[9][1])["mimetype"] == "application/pdf"


def test_an_unparsed_or_foreign_file_has_no_text(api: Api, other_api: Api, server: ServerThread) -> None:
    file = uploaded(api, "a.txt", b"hello")
    settled(api, file["id"])
    assert parsed_text(server, file["orgId"], file["id"]) == "hello"
    other_org = uploaded(other_api, "b.txt", b"x")["orgId"]
    assert parsed_text(server, other_org, file["id"]) is None
    failed = uploaded(api, "bad.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)
    assert settled(api, failed["id"])["status"] == "failed"
    assert parsed_text(server, failed["orgId"], failed["id"]) is None


# --- the records -----------------------------------------------------------------------------------------


def test_list_filter_get_patch_and_delete(api: Api, server: ServerThread) -> None:
    first = uploaded(api, "kb.md", b"# kb", purpose="knowledge-base-v2", metadata='{"team": "a"}')
    second = uploaded(api, "chat.txt", b"chat", purpose="assistant")
    third = uploaded(api, "plain.txt", b"plain")
    assert first["purpose"] == "knowledge-base-v2" and first["metadata"] == {"team": "a"}
    assert "purpose" not in third and first["key"] == first["id"]
    for cloud_only in ("url", "path", "bucket", "parsedTextUrl"):
        assert cloud_only not in first

    listed = api.get("/file").json()
    assert [file["id"] for file in listed] == [third["id"], second["id"], first["id"]]
    assert [file["id"] for file in api.get("/file", params={"purpose": "assistant"}).json()] == [second["id"]]
    assert [file["id"] for file in api.get("/file", params={"limit": 1}).json()] == [third["id"]]
    assert api.get("/file", params={"purpose": "other"}).status_code == 400

    done = settled(api, first["id"])
    assert api.get(f"/file/{first['id']}").json() == done
    patched = api.patch(f"/file/{first['id']}", {"name": "Renamed", "metadata": {"team": "b"}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Renamed" and patched.json()["metadata"] == {"team": "b"}
    assert patched.json()["status"] == "done" and patched.json()["originalName"] == "kb.md"
    cleared = api.patch(f"/file/{first['id']}", {"metadata": None}).json()
    assert "metadata" not in cleared and cleared["name"] == "Renamed"

    assert stored(server, first["id"]) and stored(server, f"{first['id']}.txt")
    deleted = api.delete(f"/file/{first['id']}")
    assert deleted.status_code == 200 and deleted.json()["id"] == first["id"]
    assert api.get(f"/file/{first['id']}").status_code == 404
    assert api.delete(f"/file/{first['id']}").status_code == 404
    assert not stored(server, first["id"]) and not stored(server, f"{first['id']}.txt")
    assert first["id"] not in [file["id"] for file in api.get("/file").json()]


def test_another_org_never_sees_a_file(api: Api, other_api: Api) -> None:
    file = uploaded(api, "secret.txt", b"secret")
    path = f"/file/{file['id']}"
    assert other_api.get(path).status_code == 404
    assert other_api.patch(path, {"name": "mine"}).status_code == 404
    assert other_api.delete(path).status_code == 404
    assert file["id"] not in [found["id"] for found in other_api.get("/file").json()]
    assert api.get(path).status_code == 200


@pytest.mark.parametrize(
    ("parts", "field"),
    [
        ({"purpose": "billing"}, "purpose"),
        ({"metadata": "{not json"}, "metadata"),
        ({"metadata": "[1, 2]"}, "metadata"),
        ({"metadata": '{"a": "' + "x" * 5000 + '"}'}, "metadata"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_refused_uploads_name_the_field(api: Api, parts: dict[str, str], field: str) -> None:
    response = upload(api, "a.txt", b"hello", **parts)
    assert response.status_code == 400, response.text
    assert field in str(response.json()["message"])


def test_an_upload_needs_a_file_part(api: Api) -> None:
    for response in (
        api.http.post("/file", files={"purpose": (None, "assistant")}),
        api.http.post("/file", data={"file": "not a file part"}),
        api.post("/file", {"file": "json is not an upload"}),
        upload(api, "empty.txt", b""),
    ):
        assert response.status_code == 400, response.text
        assert "file" in str(response.json()["message"])


def test_refused_updates_name_the_field(api: Api) -> None:
    file = uploaded(api, "a.txt", b"hello")
    for body, field in (
        ({"name": "x" * 41}, "name"),
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"metadata": "text"}, "metadata"),
        ({"status": "done"}, "status"),
    ):
        response = api.patch(f"/file/{file['id']}", body)
        assert response.status_code == 400, (body, response.text)
        assert field in str(response.json()["message"])


def test_a_long_or_pathed_name_is_kept_safely(api: Api) -> None:
    file = uploaded(api, "../../etc/" + "n" * 300 + ".txt", b"hello")
    assert file["originalName"].endswith(".txt") and "/" not in file["originalName"]
    assert len(file["originalName"]) <= 255 and len(file["name"]) == 40
    assert settled(api, file["id"])["status"] == "done"


# --- hostile files ---------------------------------------------------------------------------------------

HOSTILE: list[tuple[str, bytes, str]] = [
    ("bomb.docx", zip_bomb(), "unpacks to"),
    ("pages.pdf", text_pdf(b"BT ET", count=1_000_000), "pages"),
    ("kids.pdf", million_kids_pdf(), "PDF"),
    ("binary.txt", b"\x89PNG\r\n\x1a\n" + os.urandom(2048), "not text"),
    ("nul.txt", b"text\x00with\x00nul bytes" * 10, "not text"),
    ("legacy.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, "legacy .doc is not supported"),
    ("fake.pdf", b"this is not a pdf", "not a PDF"),
    ("fake.docx", b"PK\x03\x04 truncated", "docx"),
    ("entities.xml", b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;&a;</x>', "XML"),
    ("program.exe", b"MZ\x90\x00", "unsupported file type"),
]


def test_hostile_files_each_fail_alone_with_a_reason(api: Api) -> None:
    good = uploaded(api, "good.txt", b"fine")
    files = [(uploaded(api, name, data), reason) for name, data, reason in HOSTILE]
    for file, reason in files:
        found = settled(api, file["id"])
        assert found["status"] == "failed", found
        assert reason in found["failedReason"], found
        assert "parsedTextBytes" not in found
    assert settled(api, good["id"])["status"] == "done"


# --- a server with small limits, in its own process ------------------------------------------------------

MAX_FILE_BYTES = 6 * 1024 * 1024


class Served:
    def __init__(self, server: ServeProcess, env: dict[str, str]) -> None:
        self.server = server
        self.env = env

    def client(self) -> httpx.Client:
        """A client of a new org."""
        org = f"files-{uuid.uuid4().hex[:10]}"
        key = cli(self.env, "keys", "create", "--org", org).strip().splitlines()[-1]
        return httpx.Client(base_url=self.server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)

    def peak_memory(self) -> int:
        status = Path(f"/proc/{self.server.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024


@pytest.fixture(scope="module")
def served(server: ServerThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update(
        CHATLOOM_DATABASE_URL=server.settings.database_url,
        CHATLOOM_FILES_DIR=str(tmp_path_factory.mktemp("served-files")),
        CHATLOOM_MAX_FILE_BYTES=str(MAX_FILE_BYTES),
        CHATLOOM_MAX_FILES_PER_ORG="3",
        CHATLOOM_MAX_FILE_BYTES_PER_ORG=str(8 * 1024 * 1024),
        CHATLOOM_FILE_PARSE_SECONDS="2",
        CHATLOOM_ACCESS_LOG="false",
    )
    with ServeProcess(env) as process:
        yield Served(process, env)


def test_an_oversized_upload_is_refused_while_it_streams(served: Served) -> None:
    boundary = "chatloom-test-boundary"

    def body() -> Iterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        chunk = b"a" * (1024 * 1024)
        for _ in range(50):
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    with served.client() as client:
        response = client.post(
            "/file", content=body(), headers={"content-type": f"multipart/form-data; boundary={boundary}"}
        )
        assert response.status_code == 413, response.text
        assert "larger than" in response.json()["message"]
        key = client.headers["authorization"]
        with socket.create_connection(("127.0.0.1", served.server.port), timeout=10) as raw:
            raw.sendall(  # a body declared larger than accepted is refused before any of it is read
                f"POST /file HTTP/1.1\r\nHost: test\r\nAuthorization: {key}\r\n"
                "Content-Length: 10000000000\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n".encode()
            )
            assert raw.recv(4096).startswith(b"HTTP/1.1 413")
        just_over = upload(client, "over.txt", b"a" * (MAX_FILE_BYTES + 1))
        assert just_over.status_code == 413 and "file" in just_over.json()["message"]
        assert client.get("/file").json() == []
    assert served.peak_memory() < 300 * 1024 * 1024


def test_quotas_per_org(served: Served) -> None:
    with served.client() as client:
        for index in range(3):
            uploaded(client, f"{index}.txt", b"hello")
        refused = upload(client, "3.txt", b"hello")
        assert refused.status_code == 400 and "at most 3 files" in refused.json()["message"]
    with served.client() as client:
        uploaded(client, "big.txt", b"a" * (5 * 1024 * 1024))
        refused = upload(client, "more.txt", b"a" * (4 * 1024 * 1024))
        assert refused.status_code == 413 and "bytes of files" in refused.json()["message"]
        assert len(client.get("/file").json()) == 1


def test_the_server_answers_at_once_during_a_hostile_parse(served: Served) -> None:
    with served.client() as client, httpx.Client(base_url=served.server.url) as health:
        file = uploaded(client, "slow.pdf", slow_pdf())
        latencies = []
        while client.get(f"/file/{file['id']}").json()["status"] == "processing":
            started = time.perf_counter()
            assert health.get("/health").status_code == 200
            latencies.append(time.perf_counter() - started)
            time.sleep(0.02)
        found = settled(client, file["id"])
        assert found["status"] == "failed" and "longer than 2 seconds" in found["failedReason"]
        assert len(latencies) >= 10, latencies
        assert max(latencies) < 0.1, sorted(latencies)[-5:]
