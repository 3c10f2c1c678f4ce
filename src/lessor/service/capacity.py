"""Capacity use cases: providers, inventories, traits, resource classes, allocations, candidates.

The store guards every write with generations; this layer knows the names
(os-traits, os-resource-classes, CUSTOM_*), retries an allocation write whose
providers moved under it (a consumer's own stale generation is the caller's
to fix: it is never retried), and runs the bounded candidate search over one
snapshot of the store.
"""

from __future__ import annotations

from collections.abc import Iterable

from lessor.domain import candidates as search_
from lessor.domain.capacity import (
    CapacityError,
    ConsumerWrite,
    Inventory,
    Missing,
    NoProvider,
    Provider,
    ProviderState,
    Stale,
    is_custom,
    standard_resource_classes,
    standard_traits,
)
from lessor.store.capacity import CapacityStore

RESOURCE_CLASS = "resource_class"
TRAIT = "trait"
RETRIES = 10
"""Allocation writes retried when only a provider's generation moved (Placement does too)."""


class BadName(CapacityError):
    """A resource class or trait name that is neither standard nor CUSTOM_*."""

    code = "placement.undefined_code"


class CapacityService:
    def __init__(self, store: CapacityStore) -> None:
        self.store = store

    # names

    def resource_classes(self) -> list[str]:
        custom = self.store.custom_names(RESOURCE_CLASS)
        return sorted(standard_resource_classes()) + sorted(custom)

    def has_resource_class(self, name: str) -> bool:
        return name in standard_resource_classes() or name in self.store.custom_names(
            RESOURCE_CLASS
        )

    def check_resource_classes(self, names: Iterable[str]) -> None:
        for name in names:
            if not self.has_resource_class(name):
                raise Missing(f"No such resource class {name}.")

    def add_custom(self, kind: str, name: str) -> bool:
        """Whether it is new; a standard name or one not CUSTOM_* is refused."""
        if not is_custom(name):
            raise BadName(f"'{name}' does not match '^CUSTOM_[A-Z0-9_]+$'")
        return self.store.add_custom_name(kind, name)

    def traits(self) -> list[str]:
        return sorted(standard_traits() | self.store.custom_names(TRAIT))

    def check_traits(self, names: Iterable[str]) -> None:
        known = standard_traits() | self.store.custom_names(TRAIT)
        missing = sorted(set(names) - known)
        if missing:
            raise Missing(f"No such trait(s): {', '.join(missing)}.")

    # providers and what they have

    def providers(self) -> list[Provider]:
        return self.store.providers()

    def provider(self, uuid: str) -> Provider:
        found = self.store.provider(uuid)
        if found is None:
            raise Missing(f"No resource provider with uuid {uuid} found")
        return found

    def set_inventories(
        self, uuid: str, generation: int, inventories: dict[str, Inventory]
    ) -> Provider:
        self.provider(uuid)
        self.check_resource_classes(inventories)
        return self.store.set_inventories(uuid, generation, inventories)

    def set_traits(self, uuid: str, generation: int | None, traits: Iterable[str]) -> Provider:
        names = list(traits)
        self.check_traits(names)
        return self.store.set_traits(uuid, generation, names)

    # allocations

    def write_allocations(self, writes: list[ConsumerWrite]) -> None:
        """Replace the consumers' allocations: all at once, or a refusal and nothing changed."""
        for w in writes:
            for p, amounts in w.allocations.items():
                if self.store.provider(p) is None:
                    raise NoProvider(f"Allocation for resource provider '{p}' that does not exist.")
                self.check_resource_classes(amounts)
        for attempt in range(RETRIES):
            try:
                self.store.write_allocations(writes)
                return
            except Stale as e:
                if "consumer" in str(e) or attempt == RETRIES - 1:
                    raise

    # agents

    def heartbeat(self, uuid: str, now: float) -> bool:
        """An agent's host (root provider `uuid`) is alive; whether it was down until now."""
        self.provider(uuid)
        return self.store.heartbeat(uuid, now)

    def mark_silent_down(self, now: float, silence: float) -> list[Provider]:
        """Mark down every agent silent for more than `silence` seconds; their providers."""
        return [
            p for u in self.store.mark_silent_down(now - silence) if (p := self.store.provider(u))
        ]

    # candidates

    def states(self) -> list[ProviderState]:
        return self.store.states()

    def candidates(
        self, request: search_.Request, *, budget: int = 1_000_000, explain: bool = False
    ) -> tuple[search_.Candidates, dict[str, ProviderState]]:
        """The candidates, and the state of every provider (for summaries and explanations)."""
        self.check_resource_classes(request.resources)
        self.check_traits(request.required | request.forbidden | frozenset().union(*request.any_of))
        states = self.store.states()
        found = search_.search(states, request, budget=budget, explain=explain)
        return found, {s.uuid: s for s in states}
