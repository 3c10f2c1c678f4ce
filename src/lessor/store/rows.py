"""Rows to domain values and back, derived from the dataclasses' fields.

A table's columns are named after the fields of the value it holds
(tables.py); only the fields whose database form differs (tuples stored as
JSON lists or objects, enums as strings) have a converter here. A new field
is then a column and nothing else.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from lessor.domain.model import Resource, Ticket
from lessor.domain.states import ResourceState, TicketState

V = TypeVar("V")
Convert = Mapping[str, Callable[[Any], Any]]


def reader(cls: type[V], convert: Convert) -> Callable[[Any], V]:
    """A function making a `cls` of a row (anything with the fields as attributes).

    The value is built without its `__init__`, as `Evolving.evolve` builds
    copies: a frozen dataclass's `__init__` sets each field through
    `object.__setattr__`, which costs more than reading the row.
    """
    names = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    converted = tuple((name, convert[name]) for name in names if name in convert)
    fields_of = operator.attrgetter(*names)  # one C call for all of them
    new, set_fields = object.__new__, object.__setattr__

    def read(row: Any) -> V:
        fields = dict(zip(names, fields_of(row), strict=True))
        for name, convert_one in converted:
            fields[name] = convert_one(fields[name])
        value = new(cls)
        set_fields(value, "__dict__", fields)
        return value

    return read


def writer(cls: type[V], convert: Convert) -> Callable[[V], dict[str, Any]]:
    """A function giving the column values of a `cls`, every field of it."""
    names = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]

    def write(value: V) -> dict[str, Any]:
        values = {name: getattr(value, name) for name in names}
        for name, convert_one in convert.items():
            values[name] = convert_one(values[name])
        return values

    return write


def _counters(stored: Any) -> tuple[tuple[str, int], ...]:
    return tuple(sorted((stored or {}).items()))


ticket_of = reader(Ticket, {"tags": tuple, "state": TicketState})
resource_of = reader(
    Resource,
    {"tags": tuple, "state": ResourceState, "counters": _counters},
)
ticket_values = writer(Ticket, {"tags": list, "state": str})
resource_values = writer(Resource, {"tags": list, "state": str, "counters": dict})
