"""Serves the console's static files at `/` and `/console/...`: from memory, with their content types, a
strict Content-Security-Policy and ETag revalidation. Nothing here touches API requests (no middleware).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

from fastapi import APIRouter, Request
from starlette.responses import Response

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
}
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "font-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
# Files keep their names from release to release (no build step), so browsers revalidate each one:
# an unchanged file costs a 304 with no body.
CACHE_CONTROL = "no-cache"


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    content_type: str
    etag: str


def _load(directory: Traversable, prefix: str = "") -> dict[str, StaticFile]:
    found: dict[str, StaticFile] = {}
    for entry in directory.iterdir():
        name = f"{prefix}{entry.name}"
        if entry.is_dir():
            found.update(_load(entry, f"{name}/"))
            continue
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        content_type = CONTENT_TYPES.get(suffix)
        if content_type is None:
            continue
        body = entry.read_bytes()
        found[name] = StaticFile(body, content_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    return found


FILES = _load(files("chatloom.console") / "static")
INDEX = "index.html"

router = APIRouter(include_in_schema=False)


def _serve(request: Request, name: str) -> Response:
    found = FILES.get(name)
    if found is None:
        return Response(
            b"Not found", status_code=404, media_type="text/plain; charset=utf-8", headers=SECURITY_HEADERS
        )
    headers = {**SECURITY_HEADERS, "Cache-Control": CACHE_CONTROL, "ETag": found.etag}
    if found.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type=found.content_type, headers=headers)


@router.get("/")
async def console_page(request: Request) -> Response:
    return _serve(request, INDEX)


@router.get("/console")
@router.get("/console/")
async def console_index(request: Request) -> Response:
    return _serve(request, INDEX)


@router.get("/console/{name:path}")
async def console_file(name: str, request: Request) -> Response:
    return _serve(request, name)
