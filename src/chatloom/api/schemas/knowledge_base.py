"""Knowledge base DTOs (`CreateKnowledgeBaseV2DTO`, `UpdateKnowledgeBaseV2DTO`,
`AttachKnowledgeBaseV2FileDTO`) and the records answered (`KnowledgeBaseV2WithFiles`,
`KnowledgeBaseV2File`).

`KnowledgeBaseV2File.failedReason` is chatloom's: why indexing failed (Vapi's schema has none).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from chatloom.api.schemas.common import Strict
from chatloom.api.schemas.records_out import OpenOut, Stored

KnowledgeBaseName = Annotated[str, StringConstraints(min_length=1, max_length=80)]
Description = Annotated[str, StringConstraints(max_length=1000)]
FileId = Annotated[str, StringConstraints(min_length=1, max_length=36)]


class KnowledgeBaseIn(Strict):
    """`POST /v2/knowledge-base`."""

    name: KnowledgeBaseName
    description: Description | None = None


class KnowledgeBasePatch(Strict):
    """`PATCH /v2/knowledge-base/{id}`: the given fields replace the stored ones."""

    name: KnowledgeBaseName | None = None
    description: Description | None = None


class AttachFileIn(Strict):
    """`POST /v2/knowledge-base/{id}/file`: one of the org's uploaded files."""

    file_id: FileId = Field(alias="fileId")


class KnowledgeBaseFile(OpenOut):
    """`KnowledgeBaseV2File`: a file of a knowledge base and its indexing."""

    id: str
    knowledge_base_v2_id: str = Field(alias="knowledgeBaseV2Id")
    file_id: str = Field(alias="fileId")
    file_name: str | None = Field(None, alias="fileName")
    mimetype: str | None = None
    bytes: int | None = None
    status: Literal["indexing", "ready", "failed"]
    failed_reason: str | None = Field(None, alias="failedReason", description="Why indexing failed.")
    created_at: str = Field(alias="createdAt")
    updated_at: str = Field(alias="updatedAt")


class KnowledgeBase(Stored):
    """`KnowledgeBaseV2WithFiles`: a knowledge base, its files and the tool that searches it."""

    name: str
    description: str | None = None
    files: list[KnowledgeBaseFile] | None = None
    tool_id: str | None = Field(None, alias="toolId")
