"""Structured-output documents (`StructuredOutput`), scoped to their org.

`type` and `name` are copied into columns for filtering; the document is the truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chatloom.store.documents import DocumentStore
from chatloom.store.tables import structured_outputs


def _columns(document: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": str(document.get("type") or "ai"), "name": str(document["name"])}


STORE = DocumentStore(structured_outputs, _columns)
insert, get, get_many, replace, delete, list_, count = (
    STORE.insert,
    STORE.get,
    STORE.get_many,
    STORE.replace,
    STORE.delete,
    STORE.list_,
    STORE.count,
)
