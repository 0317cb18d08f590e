"""File DTOs: the upload (`CreateFileDTO`, multipart), the update (`UpdateFileDTO`), the list's query and
the `File` record.

`File` here: `status` is `processing` until the text is extracted, then `done` (with `parsedTextBytes`)
or `failed` (with `failedReason`, a chatloom field: Vapi's schema has none). `key` is the content's key in
chatloom's file storage. Vapi's cloud-only fields (`path`, `bucket`, `url`, `parsedTextUrl`) are never
set: the content stays on this server.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, Field, StringConstraints

from chatloom.api.schemas.common import ListParams, Strict
from chatloom.api.schemas.records_out import Stored

Purpose = Literal["assistant", "composer-attachment", "knowledge-base-v2"]
PURPOSES: tuple[str, ...] = ("assistant", "composer-attachment", "knowledge-base-v2")
MAX_METADATA_CHARS = 4096
"""`CreateFileDTO.metadata`'s limit in Vapi's schema: the JSON text of the object, for updates too."""


def checked_metadata(value: dict[str, Any]) -> dict[str, Any]:
    if len(orjson.dumps(value)) > MAX_METADATA_CHARS:
        raise ValueError(f"must be at most {MAX_METADATA_CHARS} characters of JSON")
    return value


Metadata = Annotated[dict[str, Any], AfterValidator(checked_metadata)]


class FileUploadIn(Strict):
    """`POST /file`: a `multipart/form-data` body (documentation; the route reads the parts itself)."""

    file: str = Field(
        json_schema_extra={"format": "binary"},
        description="The file: txt, md, csv, tsv, json, yaml/yml, xml, log, html/htm, pdf or docx.",
    )
    purpose: Purpose | None = Field(None, description="Optional product flow that owns the uploaded file.")
    metadata: Annotated[str, StringConstraints(max_length=MAX_METADATA_CHARS)] | None = Field(
        None, description="Optional metadata: a JSON object, sent as a string."
    )


class FilePatch(Strict):
    """`PATCH /file/{id}`: Vapi's `UpdateFileDTO` (`name`), plus `metadata` (replaced whole)."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    metadata: Metadata | None = None


class ListFilesParams(ListParams):
    purpose: Purpose | None = Field(
        None, description="Only files of this purpose (required by Vapi's API; optional here)."
    )


class File(Stored):
    """Vapi's `File`: an uploaded file and the state of its text extraction."""

    object: Literal["file"] = "file"
    status: Literal["processing", "done", "failed"]
    name: Annotated[str, StringConstraints(max_length=40)]
    original_name: str = Field(alias="originalName")
    bytes: int
    purpose: Purpose | None = None
    mimetype: str
    key: str = Field(description="The content's key in this server's file storage.")
    parsed_text_bytes: int | None = Field(
        None, alias="parsedTextBytes", description="Size of the extracted text (UTF-8), once `done`."
    )
    failed_reason: str | None = Field(
        None, alias="failedReason", description="Why the text could not be extracted, when `failed`."
    )
    metadata: dict[str, Any] | None = None
