"""Bodies of OpenAI's Conversations API under `/chat/conversations`: what the routes parse (create,
update, add items) and, for the documentation, what they answer (built as dicts, serialised by orjson)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from chatloom.api.schemas.common import Strict
from chatloom.api.schemas.records_out import ClosedOut
from chatloom.api.schemas.responses import Metadata
from chatloom.api.schemas.responses_out import InputItemList

MAX_ITEMS_PER_CALL = 20

Items = Annotated[list[dict[str, Any]], Field(max_length=MAX_ITEMS_PER_CALL)]
"""Input items: messages (`user`, `assistant`, `system`, `developer`), `function_call`,
`function_call_output`."""


class ConversationCreateIn(Strict):
    """`POST /chat/conversations`."""

    items: Items | None = None
    metadata: Metadata | None = None


class ConversationUpdateIn(Strict):
    """`POST /chat/conversations/{id}`: the conversation's new metadata (null clears it)."""

    metadata: Metadata | None


class ConversationItemsIn(Strict):
    """`POST /chat/conversations/{id}/items`."""

    items: Items


class Conversation(ClosedOut):
    """OpenAI's `Conversation`."""

    id: str
    object: Literal["conversation"]
    created_at: int
    metadata: dict[str, str]


class ConversationDeleted(ClosedOut):
    """`DELETE /chat/conversations/{id}`'s answer."""

    id: str
    object: Literal["conversation.deleted"]
    deleted: bool


class ConversationItemList(InputItemList):
    """A page of a conversation's items (also what adding items answers)."""
