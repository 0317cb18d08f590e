"""Tool documents (`function`, `apiRequest`), scoped to their org.

`type` and the name the model calls the tool by are copied into columns; the document is the truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chatloom.store.documents import DocumentStore
from chatloom.store.tables import tools


def _columns(document: Mapping[str, Any]) -> dict[str, Any]:
    function = document.get("function")
    name = function.get("name") if isinstance(function, Mapping) else document.get("name")
    return {"type": document["type"], "name": name if isinstance(name, str) else None}


STORE = DocumentStore(tools, _columns)
insert, get, get_many, replace, delete, list_ = (
    STORE.insert,
    STORE.get,
    STORE.get_many,
    STORE.replace,
    STORE.delete,
    STORE.list_,
)
