"""Keyset pagination on the wire: `limit` and `after` on every list, the next page in a Link
header (RFC 8288), so a list answer stays the JSON array existing clients read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Protocol

from fastapi import Query, Request, Response

from lessor.api.fields import EventId
from lessor.domain.paging import DEFAULT_LIMIT, MAX_LIMIT

Limit = Annotated[
    int,
    Query(
        ge=1,
        le=MAX_LIMIT,
        description=f"rows in this page (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})",
    ),
]
After = Annotated[
    EventId | None,
    Query(description="the cursor: only rows after this id (the last id of the page before)"),
]

NEXT_PAGE: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            "Link": {
                "description": 'the next page, `<...?after=ID&limit=N>; rel="next"`; absent '
                "on the last page",
                "schema": {"type": "string"},
            }
        }
    }
}


class _Row(Protocol):
    @property
    def id(self) -> int: ...


def link_next(request: Request, response: Response, rows: Sequence[_Row], limit: int) -> None:
    """Name the next page when this one is full (a short page is the last)."""
    if len(rows) < limit:
        return
    url = request.url.include_query_params(after=rows[-1].id, limit=limit)
    # relative: right behind any proxy or load balancer, whatever host it was asked as
    response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
