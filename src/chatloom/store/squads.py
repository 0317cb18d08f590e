"""Squad documents (`name`, `members`, `membersOverrides`), scoped to their org."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chatloom.store.documents import DocumentStore
from chatloom.store.tables import squads


def _columns(document: Mapping[str, Any]) -> dict[str, Any]:
    name = document.get("name")
    return {"name": name[:200] if isinstance(name, str) else None}


STORE = DocumentStore(squads, _columns)
get = STORE.get
