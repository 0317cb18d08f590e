"""`/file`: upload (multipart), list, get, rename and delete files; their text is extracted in the background.

An upload is read by Starlette's multipart parser, which spools a file part to a temporary file on disk
past 1 MiB, so an upload never sits in memory whole; the body's size is bounded before that
(`api/body_limit.py`). The answer is 201 with `status: "processing"` at once.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.responses import Response

from chatloom.api.deps import OrgId, ServicesDep, json_body, json_request_body, json_response, parse_model
from chatloom.api.openapi import WITH_BODY, WITH_ID, PathId, answers
from chatloom.api.routes.listing import base_query
from chatloom.api.schemas.file import (
    MAX_METADATA_CHARS,
    PURPOSES,
    File,
    FilePatch,
    ListFilesParams,
)
from chatloom.domain.errors import InvalidRequest
from chatloom.engine.records.files import NewFile

router = APIRouter(tags=["Files"])

PARTS = ("file", "purpose", "metadata")
MAX_FIELD_BYTES = 64 * 1024
MAX_ORIGINAL_NAME_CHARS = 255
CHUNK_BYTES = 1024 * 1024
MIMETYPE = re.compile(r"[A-Za-z0-9][\w.+-]{0,63}/[A-Za-z0-9][\w.+-]{0,63}")
UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {"$ref": "#/components/schemas/FileUploadIn"}}},
    }
}


def original_name(filename: str) -> str:
    """The file's name as sent, without any directory part or control characters, at most 255
    characters (the extension kept)."""
    name = UNPRINTABLE.sub("", filename.replace("\\", "/").rsplit("/", 1)[-1]).strip() or "file"
    if len(name) > MAX_ORIGINAL_NAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        extension = extension[:20] if dot and stem else ""
        name = name[: MAX_ORIGINAL_NAME_CHARS - len(extension) - 1].rstrip() + (
            "." + extension if extension else ""
        )
    return name


def mimetype_of(upload: UploadFile, name: str) -> str:
    given = (upload.content_type or "").split(";", 1)[0].strip().lower()
    if MIMETYPE.fullmatch(given) and given != "application/octet-stream":
        return given
    return mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"


def _text_part(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{name}: must be a text part, not a file", field=name)
    return value


def _metadata(form: FormData) -> dict[str, Any] | None:
    text = _text_part(form, "metadata")
    if text is None:
        return None
    if len(text) > MAX_METADATA_CHARS:
        raise InvalidRequest(f"metadata: must be at most {MAX_METADATA_CHARS} characters", field="metadata")
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidRequest("metadata: must be a JSON object (sent as a string)", field="metadata") from None
    if not isinstance(value, dict):
        raise InvalidRequest("metadata: must be a JSON object (sent as a string)", field="metadata")
    return value


async def _read_form(request: Request) -> FormData:
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise InvalidRequest(
            "file: send a multipart/form-data body with the file in a part named `file`", field="file"
        )
    try:
        return await request.form(max_files=1, max_fields=len(PARTS), max_part_size=MAX_FIELD_BYTES)
    except HTTPException as error:  # the multipart parser's refusals (too many parts, malformed body)
        raise InvalidRequest(f"file: {error.detail}", field="file") from None


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    await upload.seek(0)
    while chunk := await upload.read(CHUNK_BYTES):
        yield chunk


@router.post(
    "/file",
    status_code=201,
    operation_id="FileController_create",
    openapi_extra=UPLOAD_BODY,
    responses=answers(201, File, "The stored file; its text is extracted in the background.", *WITH_BODY),
)
async def upload_file(request: Request, org_id: OrgId, services: ServicesDep) -> Response:
    form = await _read_form(request)
    try:
        for key in form:
            if key not in PARTS:
                raise InvalidRequest(f"{key[:100]}: property should not exist", field=key[:100])
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidRequest(
                "file: required, as a file part (with a filename) named `file`", field="file"
            )
        purpose = _text_part(form, "purpose")
        if purpose is not None and purpose not in PURPOSES:
            raise InvalidRequest(f"purpose: must be one of {', '.join(PURPOSES)}", field="purpose")
        metadata = _metadata(form)
        size = upload.size or 0
        if size == 0:
            raise InvalidRequest("file: is empty", field="file")
        name = original_name(upload.filename or "")
        new = NewFile(
            original_name=name,
            mimetype=mimetype_of(upload, name),
            size=size,
            content=_chunks(upload),
            purpose=purpose,
            metadata=metadata,
        )
        return json_response(await services.files.create(org_id, new), status_code=201)
    finally:
        await form.close()


@router.get(
    "/file",
    operation_id="FileController_findAll",
    responses=answers(200, list[File], "The org's files, newest first."),
)
async def list_files(
    org_id: OrgId, services: ServicesDep, params: Annotated[ListFilesParams, Query()]
) -> Response:
    query = base_query(params)
    if params.purpose is not None:
        query.equal["purpose"] = params.purpose
    return json_response(await services.files.list(org_id, query))


@router.get(
    "/file/{id}", operation_id="FileController_findOne", responses=answers(200, File, "The file.", *WITH_ID)
)
async def get_file(file_id: PathId, org_id: OrgId, services: ServicesDep) -> Response:
    return json_response(await services.files.get(org_id, file_id))


@router.patch(
    "/file/{id}",
    operation_id="FileController_update",
    openapi_extra=json_request_body("FilePatch"),
    responses=answers(200, File, "The updated file.", *WITH_ID, *WITH_BODY),
)
async def update_file(file_id: PathId, request: Request, org_id: OrgId, services: ServicesDep) -> Response:
    body = parse_model(FilePatch, await json_body(request))
    changes = body.model_dump(exclude_unset=True, mode="json")
    if changes.get("name", "") is None:
        raise InvalidRequest("name: cannot be null", field="name")
    return json_response(await services.files.update(org_id, file_id, changes))


@router.delete(
    "/file/{id}",
    operation_id="FileController_remove",
    responses=answers(200, File, "The deleted file (its content and text are removed too).", *WITH_ID),
)
async def delete_file(file_id: PathId, org_id: OrgId, services: ServicesDep) -> Response:
    return json_response(await services.files.delete(org_id, file_id))
