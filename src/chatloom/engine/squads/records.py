"""`/squad`: squads stored per org, members naming stored assistants of the caller's org, inline members'
credentials sealed and shown masked."""

from __future__ import annotations

from typing import Any

from chatloom.engine.access.credentials import Credentials
from chatloom.engine.records.documents import STORED_FIELDS, DocumentRecords
from chatloom.engine.records.redaction import public_assistant_document
from chatloom.engine.squads.members import check_members
from chatloom.store import squads as squads_store
from chatloom.store.db import Database
from chatloom.store.documents import Document


def public_squad(squad: Document) -> Document:
    """The squad as shown: its inline members' credentials masked."""
    members = squad.get("members")
    if not isinstance(members, list):
        return squad
    shown = [
        {**m, "assistant": public_assistant_document(m["assistant"])}
        if isinstance(m, dict) and isinstance(m.get("assistant"), dict)
        else m
        for m in members
    ]
    return {**squad, "members": shown}


def sealed_members(credentials: Credentials, members: Any) -> Any:
    """The members with their inline assistants' `credentials` sealed (anything else as it is)."""
    if not isinstance(members, list):
        return members
    return [
        {**member, "assistant": credentials.seal_assistant(member["assistant"])}
        if isinstance(member, dict) and isinstance(member.get("assistant"), dict)
        else member
        for member in members
    ]


def seal_members(credentials: Credentials, fields: dict[str, Any]) -> None:
    """Seals the inline credentials of a squad's members in the squad's `fields` (a request body)."""
    if "members" in fields:
        fields["members"] = sealed_members(credentials, fields["members"])


class SquadRecords(DocumentRecords):
    """`/squad`: members naming stored assistants are checked against the caller's org; inline members'
    credentials are stored sealed and shown masked."""

    def __init__(self, db: Database, credentials: Credentials) -> None:
        super().__init__(db, squads_store.STORE, "Squad", present=public_squad)
        self.credentials = credentials

    async def check_members(self, org_id: str, members: Any) -> None:
        if isinstance(members, list):
            async with self.db.read() as conn:
                await check_members(conn, org_id, members)

    async def create(self, org_id: str, fields: dict[str, Any]) -> Document:
        await self.check_members(org_id, fields.get("members"))
        seal_members(self.credentials, fields)
        return await super().create(org_id, fields)

    async def merge(self, org_id: str, doc_id: str, changes: dict[str, Any]) -> Document:
        await self.check_members(org_id, changes.get("members"))
        seal_members(self.credentials, changes)

        def merged(stored: Document) -> dict[str, Any]:
            return {**{k: v for k, v in stored.items() if k not in STORED_FIELDS}, **changes}

        return await self.update(org_id, doc_id, merged)
