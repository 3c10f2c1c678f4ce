"""What every frozen domain value can do besides holding its fields."""

from __future__ import annotations

from typing import Any, Self

MAX_ID = 2**63 - 1
"""The largest id of a ticket, resource or event the stores hold (64-bit on both databases):
what the edges (API, UI, XML-RPC) accept, so a larger one is "not found", never an error."""


class Evolving:
    """`evolve(**changes)`: a copy with some fields changed, the others shared.

    `dataclasses.replace` costs several microseconds a call (it walks the
    fields and runs `__init__`), and the store evolves a dozen values per
    ticket cycle. These classes have no `__post_init__` to run, so the copy
    is the instance's fields with the changes laid over them; a name that is
    not a field is still refused.
    """

    __dataclass_fields__: dict[str, Any]

    def evolve(self, **changes: object) -> Self:
        if not changes.keys() <= self.__dataclass_fields__.keys():  # no set built when fine
            unknown = changes.keys() - self.__dataclass_fields__.keys()
            raise TypeError(f"{type(self).__name__} has no field {', '.join(sorted(unknown))}")
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new
