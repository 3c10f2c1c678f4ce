"""Keyset pagination: one page of a list in id order, so no request reads unbounded history."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_LIMIT = 500
"""Rows a page holds unless the caller asks for fewer or more."""

MAX_LIMIT = 5000
"""Rows a page may hold at most: a bigger answer is paged through."""


@dataclass(frozen=True)
class Page:
    """At most `limit` rows after the id `after` (oldest first); `newest_first`: before the
    id `after` (None: from the newest). The cursor of the next page is the last id of this
    one: an id never changes, so rows added or gone meanwhile neither repeat nor skip."""

    limit: int = DEFAULT_LIMIT
    after: int | None = None
    newest_first: bool = False

    def holds(self, row_id: int) -> bool:
        """Whether a row of this id lies beyond the cursor (page size apart)."""
        if self.after is None:
            return True
        return row_id < self.after if self.newest_first else row_id > self.after
