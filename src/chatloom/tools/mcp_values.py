"""The plain values an MCP exchange works with: where a server is and how to reach it (`McpTarget`), and
one tool it offers (`McpToolSpec`). Shared by `chatloom.tools.mcp` and `chatloom.tools.mcp_session`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class McpToolSpec:
    name: str
    description: str | None
    input_schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class McpTarget:
    url: str
    protocol: str
    headers: dict[str, str]
    timeout_seconds: float

    def cache_key(self, org_id: str) -> str:
        # Headers may hold credentials: the key keeps only a digest of them.
        digest = hashlib.sha256(orjson.dumps(self.headers, option=orjson.OPT_SORT_KEYS)).hexdigest()
        return f"{org_id} {self.protocol} {self.url} {digest}"
