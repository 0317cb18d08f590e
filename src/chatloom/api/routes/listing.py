"""Turns list query parameters into a store `ListQuery`, and pages into `PaginationMeta`."""

from __future__ import annotations

import math
from typing import Any

from chatloom.api.schemas.common import ListParams, PagedListParams
from chatloom.store.documents import ListQuery, Page, RangeOp

_RANGES: tuple[tuple[str, str, RangeOp], ...] = tuple(
    (f"{column}_{op}", column, op)
    for column in ("created_at", "updated_at")
    for op in ("gt", "lt", "ge", "le")
)


def base_query(params: ListParams) -> ListQuery:
    query = ListQuery(limit=params.limit)
    for attribute, column, op in _RANGES:
        moment = getattr(params, attribute)
        if moment is not None:
            query.ranges.append((column, op, moment))
    if isinstance(params, PagedListParams):
        query.page = params.page
        query.descending = params.sort_order == "DESC"
    return query


def filtered_query(
    params: ListParams, equal: dict[str, str | None], any_of: dict[str, str | None]
) -> ListQuery:
    """`base_query` plus equality filters and comma-separated "any of" filters, by column name."""
    query = base_query(params)
    query.equal.update({column: value for column, value in equal.items() if value})
    query.any_of.update({column: split_ids(value) for column, value in any_of.items() if value})
    return query


def split_ids(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def paginated(page: Page, query: ListQuery) -> dict[str, Any]:
    total_pages = math.ceil(page.total / query.limit) if query.limit else 0
    return {
        "results": page.items,
        "metadata": {
            "itemsPerPage": query.limit,
            "totalItems": page.total,
            "currentPage": query.page,
            "totalPages": total_pages,
            "hasNextPage": query.page < total_pages,
            "sortOrder": "DESC" if query.descending else "ASC",
            # Every stored item is listed: nothing is held back past a retention period.
            "itemsBeyondRetention": False,
        },
    }
