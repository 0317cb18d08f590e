"""A short-lived in-process cache of stored assistants, so a turn usually needs no read for them.

Entries live `ttl_seconds` (CHATLOOM_ASSISTANT_CACHE_SECONDS); this process drops an entry as soon as
it updates or deletes the assistant, and other processes see the change within the TTL. Each entry also
keeps the typed view of the assistant's model, parsed once (`ModelView`).
"""

from __future__ import annotations

import time
from typing import Any

from chatloom.engine.assistants.views import ModelView

MAX_ENTRIES = 10_000


class AssistantCache:
    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self._entries: dict[tuple[str, str], tuple[float, dict[str, Any], ModelView]] = {}

    def get(self, org_id: str, assistant_id: str) -> tuple[dict[str, Any], ModelView] | None:
        """The stored assistant and its model's view, while cached."""
        entry = self._entries.get((org_id, assistant_id))
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._entries[(org_id, assistant_id)]
            return None
        return entry[1], entry[2]

    def put(self, org_id: str, assistant_id: str, assistant: dict[str, Any]) -> ModelView:
        """Caches the assistant; returns its model's view (a 400 when it has no model)."""
        view = ModelView.of(assistant)
        if self.ttl_seconds <= 0:
            return view
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[(org_id, assistant_id)] = (time.monotonic() + self.ttl_seconds, assistant, view)
        return view

    def forget(self, org_id: str, assistant_id: str) -> None:
        self._entries.pop((org_id, assistant_id), None)
