"""What the API accepts, each limit stated once: the constrained types of its inputs.

Every body field, path and query parameter is one of these, so a value out
of range is refused at the edge with a 422 naming the field, the same on
SQLite and PostgreSQL, and the OpenAPI document states the limits (lengths,
ranges, patterns) the answers hold to. The store's columns bound what these
allow: `sandbox` and pool names are VARCHAR(255) on PostgreSQL; ids are
64-bit on SQLite and (as INTEGER columns) 32-bit on PostgreSQL, where a
larger id in range here simply names no row (404).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from annotated_types import Interval
from pydantic import AfterValidator, Field, StringConstraints

from lessor.service.policy import MAX_TTL

MAX_ID = 2**63 - 1
"""The largest id: SQLite's INTEGER, PostgreSQL's BIGINT."""

MAX_NAME = 255
"""Characters of a tag, a sandbox or a pool name (VARCHAR(255) columns)."""

MAX_TAGS = 64
"""Tags one ticket may ask for: far more than any pool offers."""

MAX_PRIORITY = 1_000_000
"""A ticket's priority lies within ±MAX_PRIORITY."""

MAX_REASON = 1000
"""Characters of an admin's reason for a hold or a drain."""

NO_NUL = r"^[^\x00]*$"
"""No NUL character: PostgreSQL's text cannot hold one."""

Id = Annotated[int, Interval(ge=1, le=MAX_ID)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME, pattern=NO_NUL)]
Tag = Name
Sandbox = Annotated[str, StringConstraints(max_length=MAX_NAME, pattern=NO_NUL)]
Tags = Annotated[list[Tag], Field(min_length=1, max_length=MAX_TAGS)]
Priority = Annotated[int, Interval(ge=-MAX_PRIORITY, le=MAX_PRIORITY)]
Ttl = Annotated[float, Field(gt=0, le=MAX_TTL, allow_inf_nan=False)]
"""Seconds of a lease: at most 30 days (the service's MAX_TTL)."""
Reason = Annotated[str, StringConstraints(max_length=MAX_REASON, pattern=NO_NUL)]
Kind = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NO_NUL)]
"""An event kind (the events table's VARCHAR(64))."""
EventId = Annotated[int, Interval(ge=0, le=MAX_ID)]
"""An event id to resume after: 0 for the very first."""
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]

FIRST_YEAR, LAST_YEAR = 1970, 9999


def _sane_time(t: datetime) -> datetime:
    """A time whose timestamp exists on every platform (no year 1, no year 10000)."""
    if not FIRST_YEAR <= t.year <= LAST_YEAR:
        raise ValueError(f"must be a time in the years {FIRST_YEAR} to {LAST_YEAR}")
    return t


Time = Annotated[datetime, AfterValidator(_sane_time)]
"""ISO 8601; without a zone, the server's local time."""
