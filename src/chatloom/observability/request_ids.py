"""The id of the request being served, for code far from the request (webhooks sent during it)."""

from __future__ import annotations

from contextvars import ContextVar

current_request_id: ContextVar[str] = ContextVar("chatloom_request_id", default="")
