"""What the planner tells people, where the same words are needed in more than one place."""

from __future__ import annotations


def no_pool_message(missing: list[str]) -> str:
    """Why a ticket no pool can serve waits (or, on lessor's API, is refused)."""
    names = ", ".join(repr(m) for m in missing)
    return f"no pool provides tag {names}" if len(missing) == 1 else f"no pool provides {names}"
