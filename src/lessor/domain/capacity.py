"""Capacity arithmetic of providers: inventories, what an allocation may take, names.

A provider's inventory of one resource class holds `total` units of which
`reserved` are kept back; `allocation_ratio` overcommits the rest, so its
capacity is (total - reserved) * allocation_ratio. One allocation takes
between `min_unit` and `max_unit` units, in multiples of `step_size`.
The standard resource classes and traits are os-resource-classes' and
os-traits' lists; anything else must be spelled CUSTOM_*.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import cache

import os_resource_classes
import os_traits

CUSTOM = re.compile(r"^CUSTOM_[A-Z0-9_]+$")
"""The spelling of a resource class or trait that is neither standard one."""

MAX_NAME = 255
"""The longest name of a custom resource class or trait (Placement's column)."""

MAX_INT = 2147483647
"""The largest amount Placement's schemas accept (a signed 32-bit integer)."""

DOWN = "down"
"""The reason of a provider whose agent has been silent too long: nothing is placed on it."""

SHARES = "MISC_SHARES_VIA_AGGREGATE"
"""The trait of a provider whose inventory serves every provider of its aggregates."""


@cache
def standard_resource_classes() -> frozenset[str]:
    return frozenset(os_resource_classes.STANDARDS)


@cache
def standard_traits() -> frozenset[str]:
    return frozenset(os_traits.get_traits())


def is_custom(name: str) -> bool:
    return len(name) <= MAX_NAME and CUSTOM.match(name) is not None


@dataclass(frozen=True)
class Inventory:
    """A provider's amount of one resource class."""

    total: int
    reserved: int = 0
    min_unit: int = 1
    max_unit: int = MAX_INT
    step_size: int = 1
    allocation_ratio: float = 1.0

    @property
    def capacity(self) -> int:
        """What allocations may take in all: (total - reserved) * allocation_ratio."""
        return math.floor((self.total - self.reserved) * self.allocation_ratio)

    def problem(self) -> str | None:
        """Why this inventory makes no sense, or None."""
        if self.reserved > self.total:
            return "reserved must not exceed total"
        if self.min_unit > self.max_unit:
            return "min_unit must not exceed max_unit"
        if self.total < 1 or self.min_unit < 1 or self.max_unit < 1 or self.step_size < 1:
            return "total, min_unit, max_unit and step_size must be at least 1"
        if self.allocation_ratio <= 0:
            return "allocation_ratio must be greater than 0"
        return None

    def refusal(self, amount: int, used: int) -> str | None:
        """Why one allocation of `amount` may not be added to `used`, or None when it fits."""
        if amount < self.min_unit:
            return f"{amount} asked, min_unit is {self.min_unit}"
        if amount > self.max_unit:
            return f"{amount} asked, max_unit is {self.max_unit}"
        if amount % self.step_size:
            return f"{amount} asked, step_size is {self.step_size}"
        free = self.capacity - used
        if amount > free:
            return f"{amount} asked, {max(free, 0)} free"
        return None


@dataclass(frozen=True)
class Provider:
    """Something with capacity; `generation` is bumped by every change to it."""

    uuid: str
    name: str
    generation: int = 0
    parent_uuid: str | None = None
    root_uuid: str = ""


@dataclass(frozen=True)
class ProviderState:
    """A provider with what it has and what is taken of it: the input of a candidate search."""

    provider: Provider
    inventories: dict[str, Inventory] = field(default_factory=dict)
    used: dict[str, int] = field(default_factory=dict)
    traits: frozenset[str] = frozenset()
    aggregates: frozenset[str] = frozenset()
    reason: str | None = None
    """Why nothing may be placed on it at all (draining, down), or None."""

    @property
    def uuid(self) -> str:
        return self.provider.uuid

    @property
    def root(self) -> str:
        return self.provider.root_uuid or self.provider.uuid

    @property
    def shares(self) -> bool:
        return SHARES in self.traits

    def refusal(self, resource_class: str, amount: int) -> str | None:
        """Why `amount` of `resource_class` cannot be placed here, or None."""
        if self.reason is not None:
            return f"reserved: {self.reason}"
        inventory = self.inventories.get(resource_class)
        if inventory is None:
            return f"{resource_class}: no inventory"
        refused = inventory.refusal(amount, self.used.get(resource_class, 0))
        return None if refused is None else f"{resource_class}: {refused}"


def overcommitted(
    inventories: dict[str, Inventory], used: dict[str, int]
) -> list[tuple[str, int, int]]:
    """(resource class, used, capacity) of each class whose allocations exceed its capacity,
    or that has allocations and no inventory (capacity 0)."""
    out = []
    for resource_class, amount in sorted(used.items()):
        if amount <= 0:
            continue
        inventory = inventories.get(resource_class)
        capacity = 0 if inventory is None else inventory.capacity
        if amount > capacity:
            out.append((resource_class, amount, capacity))
    return out


class CapacityError(Exception):
    """Base of the refusals of capacity writes: the message is shown as it is."""

    code = "placement.undefined_code"
    """Placement's error code for it."""


class Missing(CapacityError):
    """A provider, consumer, resource class or trait that does not exist."""


class NoProvider(Missing):
    """An allocation on a provider that does not exist."""


class Taken(CapacityError):
    """A name or uuid that another provider, class or trait already has."""

    code = "placement.duplicate_name"


class Stale(CapacityError):
    """A write that named an old provider or consumer generation: someone changed it first."""

    code = "placement.concurrent_update"


class InUse(CapacityError):
    """Something that allocations, children or providers still use."""

    code = "placement.inventory.inuse"


class ProviderInUse(InUse):
    """A provider that allocations still use."""

    code = "placement.resource_provider.inuse"


class Overcommit(CapacityError):
    """Allocations that do not fit in what the providers have."""


@dataclass(frozen=True)
class Consumer:
    """Who holds allocations (a VM, a resource of a placed pool); `generation` guards writes."""

    uuid: str
    project_id: str
    user_id: str
    generation: int = 0


@dataclass(frozen=True)
class ConsumerWrite:
    """All of one consumer's allocations, replacing what it had.

    `generation`: the one the writer last saw (None: it believes there is no consumer yet);
    `check` false skips that guard (Placement before 1.28); `quiet`: the providers it
    frees keep their generations (Placement's `DELETE /allocations/{consumer}`).
    """

    consumer_uuid: str
    allocations: dict[str, dict[str, int]]
    project_id: str
    user_id: str
    generation: int | None = None
    check: bool = True
    quiet: bool = False


def check_allocation(
    provider_uuid: str,
    inventories: dict[str, Inventory],
    used_by_others: dict[str, int],
    amounts: dict[str, int],
) -> None:
    """Refuse (Overcommit) amounts on one provider that its inventory cannot take now,
    with Placement's words."""
    for rc, amount in sorted(amounts.items()):
        inventory = inventories.get(rc)
        if inventory is None:
            raise Overcommit(
                f"Unable to allocate inventory: Inventory for '{rc}' on resource provider "
                f"'{provider_uuid}' invalid."
            )
        if (
            amount < inventory.min_unit
            or amount > inventory.max_unit
            or amount % inventory.step_size
        ):
            raise Overcommit(
                f"Unable to allocate inventory: Unable to create allocation for '{rc}' on "
                f"resource provider '{provider_uuid}'. The requested amount would violate "
                "inventory constraints."
            )
        if used_by_others.get(rc, 0) + amount > inventory.capacity:
            raise Overcommit(
                f"Unable to allocate inventory: Unable to create allocation for '{rc}' on "
                f"resource provider '{provider_uuid}'. The requested amount would exceed "
                "the capacity."
            )
