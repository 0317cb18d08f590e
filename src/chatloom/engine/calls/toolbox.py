"""The tools an assistant offers its model: from inline `model.tools` and stored `model.toolIds`.

Function tools carry an OpenAI function definition (`function: {name, description, parameters}`) plus
Vapi-only settings (`server`, `messages`); apiRequest tools are offered under their `name` with their
body schema (minus fixed values) as parameters; query and knowledgeBase tools as a function taking a
`query`. An mcp tool
stands for the tools its server lists when the turn starts (`add_mcp_tools`), each offered under its
own name, or as `mcp<N>_<name>` (N: the mcp tool's 1-based place among the assistant's mcp tools) when
the name is taken. A handoff tool is offered as Vapi builds it: one function whose description lists its
destinations and whose `destination` argument names one.
Other Vapi tool types are kept on the assistant but are not offered in chats.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.domain.errors import InvalidRequest
from chatloom.engine.assistants.views import ModelView
from chatloom.store import tools as tools_store
from chatloom.tools.api_request import model_parameters
from chatloom.tools.mcp import McpListing

CALLER_FUNCTION = "caller-function"
"""The toolbox's own type for a function the caller defined for this turn (OpenAI Responses `tools`): always
answered by the caller, never by a server (never stored as a tool)."""
KNOWLEDGE_BASE = "knowledgeBase"
"""A `/v2/knowledge-base`'s search tool: offered like a query tool."""
CHAT_TOOL_TYPES = frozenset(("function", "apiRequest", "query", "handoff", KNOWLEDGE_BASE, CALLER_FUNCTION))
HANDOFF = "handoff"
MCP_SERVER_TOOL = "mcp-server-tool"
"""The toolbox's own type for one tool listed by an MCP server (never stored)."""
QUERY_PARAMETERS = {
    "type": "object",
    "properties": {"query": {"type": "string", "description": "What to look up, as a full question."}},
    "required": ["query"],
}
_NOT_A_NAME_CHAR = re.compile(r"[^a-zA-Z0-9_-]")


def query_tool_name(tool: dict[str, Any]) -> str:
    function = tool.get("function")
    name = function.get("name") if isinstance(function, dict) else None
    if isinstance(name, str) and name:
        return name
    bases = tool.get("knowledgeBases") or []
    first = bases[0].get("name") if bases and isinstance(bases[0], dict) else None
    return safe_name(f"query_{first}") if isinstance(first, str) and first else "query_knowledge_base"


def tool_name(tool: dict[str, Any]) -> str | None:
    kind = tool.get("type")
    if kind in ("function", CALLER_FUNCTION):
        function = tool.get("function")
        name = function.get("name") if isinstance(function, dict) else None
    elif kind in ("query", KNOWLEDGE_BASE):
        name = query_tool_name(tool)
    elif kind == HANDOFF:
        name = handoff_tool_name(tool)
    else:
        name = tool.get("name")
    return name if isinstance(name, str) and name else None


def destination_label(destination: dict[str, Any]) -> str:
    """How the model names a hand-off destination (the `destination` argument)."""
    if destination.get("type") == "dynamic":
        return "dynamic"
    assistant = destination.get("assistant")
    inline_name = assistant.get("name") if isinstance(assistant, dict) else None
    for label in (destination.get("assistantName"), destination.get("assistantId"), inline_name):
        if isinstance(label, str) and label:
            return label
    return "assistant"


def handoff_tool_name(tool: dict[str, Any]) -> str:
    function = tool.get("function")
    name = function.get("name") if isinstance(function, dict) else None
    if isinstance(name, str) and name:
        return name
    destinations = [d for d in tool.get("destinations") or [] if isinstance(d, dict)]
    if len(destinations) == 1 and destinations[0].get("type") != "dynamic":
        return safe_name(f"handoff_to_{destination_label(destinations[0])}")
    dynamic_only = destinations and all(d.get("type") == "dynamic" for d in destinations)
    return "handoff_to_assistant" if destinations and not dynamic_only else "handoff"


def handoff_definition(name: str, tool: dict[str, Any]) -> dict[str, Any]:
    """Vapi's function for a handoff tool: the description lists the destinations, the `destination`
    argument takes one of their labels; a given `function` overrides the parts it sets."""
    destinations = [d for d in tool.get("destinations") or [] if isinstance(d, dict)]
    labels = [destination_label(d) for d in destinations]
    lines = [
        "Use this function to handoff the call to the next assistant.",
        "Only use it when instructions explicitly ask you to use the handoff_to_assistant function.",
        "DO NOT call this function unless you are instructed to do so.",
        "Here are the destinations you can handoff the call to:",
    ]
    options = []
    for index, (label, destination) in enumerate(zip(labels, destinations, strict=True), start=1):
        when = destination.get("description")
        lines.append(f"{index}. {label}. When: {when}" if when else f"{index}. {label}")
        options.append(f"{label} ({when})" if when else label)
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": {
            "destination": {
                "type": "string",
                "description": "Options: " + ", ".join(options),
                "enum": list(dict.fromkeys(labels)),
            }
        },
        "required": ["destination"],
    }
    function = tool.get("function") if isinstance(tool.get("function"), dict) else {}
    assert isinstance(function, dict)
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": function.get("description") or "\n".join(lines),
            "parameters": function.get("parameters") or parameters,
        },
    }


def safe_name(name: str) -> str:
    """A function name every provider accepts: `[a-zA-Z0-9_-]{1,64}`."""
    return (_NOT_A_NAME_CHAR.sub("_", name) or "tool")[:64]


def query_description(tool: dict[str, Any]) -> str:
    function = tool.get("function")
    given = function.get("description") if isinstance(function, dict) else None
    if isinstance(given, str) and given:
        return given
    bases = [b for b in tool.get("knowledgeBases") or [] if isinstance(b, dict)]
    about = "; ".join(
        f"{b.get('name') or 'knowledge base'}: {b['description']}"
        if b.get("description")
        else str(b.get("name"))
        for b in bases
        if b.get("name") or b.get("description")
    )
    return "Looks up information in the knowledge base" + (f" ({about})." if about else ".")


def definition(name: str, tool: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI function definition the model sees for a tool."""
    kind = tool.get("type")
    if kind in ("function", MCP_SERVER_TOOL, CALLER_FUNCTION):
        function = tool["function"]
        described = {k: function[k] for k in ("description", "parameters", "strict") if k in function}
        return {"type": "function", "function": {"name": name, **described}}
    if kind == HANDOFF:
        return handoff_definition(name, tool)
    if kind in ("query", KNOWLEDGE_BASE):
        return {
            "type": "function",
            "function": {
                "name": name,
                "description": query_description(tool),
                "parameters": QUERY_PARAMETERS,
            },
        }
    described = {"name": name, "parameters": model_parameters(tool)}
    if tool.get("description"):
        described["description"] = tool["description"]
    return {"type": "function", "function": described}


@dataclass(slots=True)
class Toolbox:
    """The assistant's chat tools by the name the model calls them."""

    by_name: dict[str, dict[str, Any]] = field(default_factory=dict)
    mcp_tools: list[dict[str, Any]] = field(default_factory=list)
    """The assistant's mcp tools, whose servers are listed when the turn starts."""
    handoffs: bool = False
    """Whether some tool hands the conversation off (the engine, not a server, answers those calls)."""

    @classmethod
    def of(cls, tools: list[dict[str, Any]]) -> Toolbox:
        box = cls()
        for tool in tools:
            if not isinstance(tool, dict):
                continue
            if tool.get("type") == "mcp":
                box.mcp_tools.append(tool)
                continue
            name = tool_name(tool) if tool.get("type") in CHAT_TOOL_TYPES else None
            if name is None:
                continue
            if tool.get("type") == HANDOFF:
                box.handoffs = True
                base, count = name, 1
                while name in box.by_name:  # several handoff tools left unnamed: each gets its own name
                    count += 1
                    name = safe_name(f"{base[:60]}_{count}")
            box.by_name[name] = tool
        return box

    def with_caller_tools(self, tools: Sequence[dict[str, Any]]) -> Toolbox:
        """This toolbox and the caller's functions (`CALLER_FUNCTION` tools); a name the assistant's tools
        already use is a 400 naming it."""
        if not tools:
            return self
        by_name = dict(self.by_name)
        for index, tool in enumerate(tools):
            name = tool["function"]["name"]
            if name in by_name:
                raise InvalidRequest(
                    f"tools[{index}].name: '{name}' is already a tool of the assistant",
                    field=f"tools[{index}].name",
                )
            by_name[name] = tool
        return Toolbox(by_name, self.mcp_tools, self.handoffs)

    def with_mcp_tools(self, listings: Sequence[McpListing]) -> Toolbox:
        """This toolbox and what each of `mcp_tools` listed (same order); a name offered twice is
        prefixed."""
        by_name = dict(self.by_name)
        counts: dict[str, int] = {}
        for listing in listings:
            for spec in listing.tools:
                counts[spec.name] = counts.get(spec.name, 0) + 1
        for index, (tool, listing) in enumerate(zip(self.mcp_tools, listings, strict=True), start=1):
            for spec in listing.tools:
                name = safe_name(spec.name)
                if counts[spec.name] > 1 or name in by_name:
                    name = safe_name(f"mcp{index}_{spec.name}")
                if name in by_name:
                    continue
                function: dict[str, Any] = {"parameters": spec.input_schema}
                if spec.description:
                    function["description"] = spec.description
                by_name[name] = {
                    "type": MCP_SERVER_TOOL,
                    "mcpTool": tool,
                    "toolName": spec.name,
                    "function": function,
                }
        return Toolbox(by_name, self.mcp_tools, self.handoffs)

    def definitions(self) -> list[dict[str, Any]]:
        return [definition(name, tool) for name, tool in self.by_name.items()]


async def resolve_tools(conn: AsyncConnection, org_id: str, model: ModelView) -> list[dict[str, Any]]:
    """The caller's stored tools named by `model.toolIds`, in that order (all must exist)."""
    tool_ids = list(model.tool_ids)
    found = {tool["id"]: tool for tool in await tools_store.get_many(conn, org_id, tool_ids)}
    missing = [tool_id for tool_id in tool_ids if tool_id not in found]
    if missing:
        raise InvalidRequest(f"model.toolIds: tool {missing[0]} not found", field="model.toolIds")
    return [found[tool_id] for tool_id in tool_ids]
