"""Squads: their CRUD (members must name assistants of the caller's org), and, in a turn, which of
their assistants answers: `Agent`s found by squad member name, stored assistant id or inline assistant.

A chat or session remembers its active assistant as a reference (`activeAssistant`: `assistantName`
within the squad, `assistantId` or inline `assistant`, with `assistantOverrides`), found again here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.domain.errors import InvalidRequest, NotFound
from chatloom.store import assistants
from chatloom.store import squads as squads_store
from chatloom.store.documents import Document


def merged_overrides(*layers: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Assistant overrides applied in order: later layers win; `variableValues` are merged."""
    result: dict[str, Any] = {}
    for layer in layers:
        if not layer:
            continue
        values = {**(result.get("variableValues") or {}), **(layer.get("variableValues") or {})}
        result.update(layer)
        if values:
            result["variableValues"] = values
    return result or None


@dataclass(slots=True)
class Agent:
    """One assistant that can answer in a turn, and how the chat refers to it."""

    assistant: dict[str, Any]
    assistant_id: str | None
    overrides: dict[str, Any] | None
    ref: dict[str, Any]
    destinations: list[dict[str, Any]] = field(default_factory=list)
    """The squad member's `assistantDestinations`, offered as one more handoff tool."""

    @property
    def label(self) -> dict[str, Any]:
        """Who wrote an output message, as `Chat.outputAssistants` shows it."""
        name = self.assistant.get("name")
        return {
            **({"assistantId": self.assistant_id} if self.assistant_id else {}),
            **({"assistantName": name} if isinstance(name, str) and name else {}),
        }


@dataclass(slots=True)
class Squad:
    squad_id: str | None
    inline: dict[str, Any] | None
    members: list[Agent]

    def named(self, name: str) -> Agent | None:
        return next((m for m in self.members if m.assistant.get("name") == name), None)

    def with_id(self, assistant_id: str) -> Agent | None:
        return next((m for m in self.members if m.assistant_id == assistant_id), None)


async def check_members(conn: AsyncConnection, org_id: str, members: Sequence[Any]) -> list[Document]:
    """The stored assistants of `members` (by `assistantId`), in order; a missing or foreign one is a
    400 naming `members[i].assistantId`."""
    ids = [str(m["assistantId"]) for m in members if isinstance(m, dict) and m.get("assistantId")]
    found = {a["id"]: a for a in await assistants.STORE.get_many(conn, org_id, ids)}
    for index, member in enumerate(members):
        assistant_id = member.get("assistantId") if isinstance(member, dict) else None
        if assistant_id and assistant_id not in found:
            where = f"members[{index}].assistantId"
            raise InvalidRequest(f"{where}: assistant {assistant_id} not found", field=where)
    return [found[i] for i in ids]


async def load_squad(
    conn: AsyncConnection, org_id: str, squad_id: str | None, inline: dict[str, Any] | None
) -> Squad:
    document = inline
    if squad_id is not None:
        document = await squads_store.get(conn, org_id, squad_id)
        if document is None:
            raise NotFound(f"Squad {squad_id} not found")
    members_in = [m for m in (document or {}).get("members") or [] if isinstance(m, dict)]
    if not members_in:
        raise InvalidRequest("the squad has no members", field="squad.members")
    stored = {a["id"]: a for a in await check_members(conn, org_id, members_in)}
    shared = (document or {}).get("membersOverrides")
    members = []
    for member in members_in:
        assistant_id = member.get("assistantId")
        assistant = stored[assistant_id] if assistant_id else member.get("assistant") or {}
        overrides = merged_overrides(member.get("assistantOverrides"), shared)
        name = assistant.get("name")
        ref: dict[str, Any] = (
            {"assistantName": name} if isinstance(name, str) and name else {"assistantId": assistant_id}
        )
        destinations = [d for d in member.get("assistantDestinations") or [] if isinstance(d, dict)]
        members.append(Agent(assistant, assistant_id, overrides, ref, destinations))
    return Squad(squad_id, inline if squad_id is None else None, members)


async def find_agent(
    conn: AsyncConnection, org_id: str, squad: Squad | None, ref: Mapping[str, Any]
) -> Agent | None:
    """The assistant `ref` (a hand-off destination, or a chat's `activeAssistant`) names; None when it
    names no member of the squad, or no assistant of the org."""
    extra = ref.get("assistantOverrides") if isinstance(ref.get("assistantOverrides"), dict) else None
    found: Agent | None = None
    name, assistant_id, inline = ref.get("assistantName"), ref.get("assistantId"), ref.get("assistant")
    if isinstance(name, str):
        found = squad.named(name) if squad is not None else None
    elif isinstance(assistant_id, str):
        found = squad.with_id(assistant_id) if squad is not None else None
        if found is None:
            stored = await assistants.get(conn, org_id, assistant_id)
            if stored is not None:
                found = Agent(stored, assistant_id, None, {"assistantId": assistant_id})
    elif isinstance(inline, dict) and isinstance(inline.get("model"), dict):
        found = Agent(inline, None, None, {"assistant": inline})
    if found is None or extra is None:
        return found
    return Agent(
        found.assistant,
        found.assistant_id,
        merged_overrides(found.overrides, extra),
        {**found.ref, "assistantOverrides": extra},
        found.destinations,
    )
