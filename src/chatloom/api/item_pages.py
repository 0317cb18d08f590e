"""A page of OpenAI list items, as `GET /chat/responses/{id}/input_items` and
`GET /chat/conversations/{id}/items` answer it: `limit`, `order`, `after` and `include` are typed query
parameters (so /api-json documents them and a bad value is a 400 naming it), and one page shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Query

from chatloom.api.schemas.response_options import checked_include
from chatloom.domain.errors import InvalidRequest

Limit = Annotated[int, Query(ge=1, le=100, description="Items per page (1-100).")]
Order = Annotated[Literal["asc", "desc"], Query(description="`asc`: oldest first; `desc`: newest first.")]
After = Annotated[str | None, Query(max_length=200, description="List the items after this item id.")]
Include = Annotated[
    list[str] | None,
    Query(max_length=16, description="Extra fields: `message.input_image.image_url` (always included)."),
]
IncludeBrackets = Annotated[
    list[str] | None, Query(alias="include[]", max_length=16, include_in_schema=False)
]


@dataclass
class PageQuery:
    """The query parameters of an item list (a FastAPI dependency: each is documented in /api-json)."""

    limit: Limit = 20
    order: Order = "desc"
    after: After = None
    include: Include = None
    include_brackets: IncludeBrackets = None

    def page(self, items: list[dict[str, Any]], missing: str) -> dict[str, Any]:
        """The page of `items` (oldest first) these parameters ask for; see `item_page`."""
        check_include(self.include, self.include_brackets)
        return item_page(items, self.limit, self.order, self.after, missing)


def check_include(*values: list[str] | None) -> None:
    """`include` values this server applies; any other is a 400 naming `include`."""
    for value in values:
        try:
            checked_include(value)
        except ValueError as error:
            raise InvalidRequest(str(error), field="include") from None


def item_page(
    items: list[dict[str, Any]], limit: int, order: str, after: str | None, missing: str
) -> dict[str, Any]:
    """The page of `items` (oldest first) that the parameters ask for; `missing` says what an unknown
    `after` names (e.g. "input item '{after}' in this response")."""
    if order == "desc":
        items = items[::-1]
    if after:
        ids = [item["id"] for item in items]
        if after not in ids:
            raise InvalidRequest(f"after: no {missing.format(after=after)}", field="after")
        items = items[ids.index(after) + 1 :]
    return page_of(items[:limit], len(items) > limit)


def page_of(data: list[dict[str, Any]], has_more: bool = False) -> dict[str, Any]:
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }
