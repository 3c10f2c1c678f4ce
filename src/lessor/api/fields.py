"""What the API accepts, each limit stated once: the constrained types of its inputs.

Every body field, path and query parameter is one of these, so a value out
of range is refused at the edge with a 422 naming the field, the same on
SQLite and PostgreSQL, and the OpenAPI document states the limits (lengths,
ranges, patterns) the answers hold to. The store's columns bound what these
allow: `sandbox` and pool names are VARCHAR(255) on PostgreSQL, and ids are
INTEGER columns: 64-bit on SQLite but 32-bit on PostgreSQL, which refuses
even to compare a larger number with one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from annotated_types import Interval
from pydantic import (
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from lessor.domain.values import MAX_ID
from lessor.service.policy import MAX_TTL

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

SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
"""What str.strip() removes (str.isspace), as a regular expression's character class."""

NOT_BLANK = rf"^[^\x00]*[^\x00{SPACE}][^\x00]*$"
"""No NUL, and more than spaces: the service strips a tag, and an empty one is no tag."""


@dataclass(frozen=True)
class Matching:
    """Text matching `pattern`, stated in the JSON schema; else the error `message`.

    StringConstraints' own pattern says only "should match pattern '^[^\\x00]*$'".
    """

    pattern: str
    message: str

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        regex = re.compile(self.pattern)

        def check(value: str) -> str:
            if regex.match(value) is None:
                raise PydanticCustomError("pattern", self.message)
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        found = handler(schema)
        found["pattern"] = self.pattern
        return found


NoNul = Matching(NO_NUL, "must not contain a NUL character")
NotBlank = Matching(NOT_BLANK, "must be more than spaces, without a NUL character")

Id = Annotated[int, Interval(ge=1, le=MAX_ID)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME), NoNul]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME), NotBlank]
Sandbox = Annotated[str, StringConstraints(max_length=MAX_NAME), NoNul]
Tags = Annotated[list[Tag], Field(min_length=1, max_length=MAX_TAGS)]
ResallocTags = Annotated[
    list[Annotated[str, StringConstraints(max_length=MAX_NAME), NoNul]],
    Field(max_length=MAX_TAGS),
]
"""Tags as resalloc's clients send them, taken as sent (none at all fits any resource),
within what the store holds."""
Priority = Annotated[int, Interval(ge=-MAX_PRIORITY, le=MAX_PRIORITY)]
Ttl = Annotated[float, Field(gt=0, le=MAX_TTL, allow_inf_nan=False)]
"""Seconds of a lease: at most 30 days (the service's MAX_TTL)."""
Reason = Annotated[str, StringConstraints(max_length=MAX_REASON), NoNul]
RequestKey = Annotated[str, StringConstraints(pattern=r"^([\x21-\x7e]{8,128})?$")]
"""An Idempotency-Key: a client's random string (a UUID) naming one open of a ticket, 8 to
128 printable characters; empty is as none (a header cannot say null)."""

Kind = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z_]*(\.[a-z_]+)*$")
]
"""An event kind: dotted lowercase words, as ticket.assigned (one of a newer server too)."""
"""An event kind (the events table's VARCHAR(64))."""
EventId = Annotated[int, Interval(ge=0, le=MAX_ID)]
"""An event id to resume after: 0 for the very first."""
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]

FIRST_YEAR, LAST_YEAR = 1970, 9999
YEARS = r"^(19[7-9][0-9]|[2-9][0-9]{3})-"
"""How a time in the years FIRST_YEAR..LAST_YEAR begins: year 1 has no timestamp."""


def _time_text(value: object) -> object:
    """A time is ISO 8601 text of a sane year, not a number of seconds (pydantic takes both)."""
    if not isinstance(value, str) or not re.match(YEARS, value):
        raise PydanticCustomError(
            "time", f"must be an ISO 8601 time in the years {FIRST_YEAR} to {LAST_YEAR}"
        )
    return value


Time = Annotated[datetime, BeforeValidator(_time_text), Field(json_schema_extra={"pattern": YEARS})]
"""ISO 8601 (`2024-05-01T10:00:00Z`, `2024-05-01 10:00`); without a zone, the server's."""
