"""What is shown of credentials: never a secret. Org credentials show a `hint` (the last characters of
their key); inline `credentials` of assistants, chats and sessions show each secret field as its mask."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chatloom.store.documents import Document
from chatloom.vault.sealed import mask, primary_hint


def public_credential(document: Mapping[str, Any]) -> Document:
    """A credential as the API shows it: no secret, only the last characters of its key as `hint`."""
    shown: Document = {"id": document["id"], "orgId": document["orgId"], "provider": document["provider"]}
    if document.get("name") is not None:
        shown["name"] = document["name"]
    shown["hint"] = primary_hint(document)
    shown["createdAt"] = document["createdAt"]
    shown["updatedAt"] = document["updatedAt"]
    return shown


def public_credentials(entries: Any) -> Any:
    """Inline `credentials` as shown: each secret field replaced by its hint."""
    if not isinstance(entries, list):
        return entries
    return [mask(entry) if isinstance(entry, Mapping) else entry for entry in entries]


def public_assistant_document(assistant: Mapping[str, Any]) -> dict[str, Any]:
    document = dict(assistant)
    if "credentials" in document:
        document["credentials"] = public_credentials(document["credentials"])
    return document


def public_document(document: Mapping[str, Any]) -> dict[str, Any]:
    """A chat or session as shown: the credentials of its inline assistant and overrides masked."""
    shown = dict(document)
    for name in ("assistant", "assistantOverrides"):
        value = shown.get(name)
        if isinstance(value, Mapping) and "credentials" in value:
            shown[name] = public_assistant_document(value)
    return shown
