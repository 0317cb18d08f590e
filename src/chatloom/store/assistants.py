"""Assistant documents, scoped to their org."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chatloom.store.documents import DocumentStore
from chatloom.store.tables import assistants


def _columns(document: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": document.get("name")}


STORE = DocumentStore(assistants, _columns)
insert, get, replace, delete, list_ = STORE.insert, STORE.get, STORE.replace, STORE.delete, STORE.list_
