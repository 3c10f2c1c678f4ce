"""The capacity store's in-memory twin: the same Protocol, the same contract tests.

One lock makes each call a transaction; a write that is refused changes nothing
because every check runs before the first change.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import replace

from lessor.domain.capacity import (
    DOWN,
    Consumer,
    ConsumerWrite,
    InUse,
    Inventory,
    Missing,
    Provider,
    ProviderInUse,
    ProviderState,
    Stale,
    Taken,
    check_allocation,
)
from lessor.store.capacity import Allocations


class MemoryCapacityStore:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._providers: dict[str, Provider] = {}
        self._inventories: dict[str, dict[str, Inventory]] = {}
        self._traits: dict[str, frozenset[str]] = {}
        self._aggregates: dict[str, frozenset[str]] = {}
        self._consumers: dict[str, Consumer] = {}
        self._allocations: dict[str, Allocations] = {}
        """Consumer uuid → provider uuid → resource class → amount."""
        self._custom: set[tuple[str, str]] = set()
        self._agents: dict[str, tuple[float, bool]] = {}
        """Root provider uuid → (last heartbeat, down)."""

    def providers(self) -> list[Provider]:
        with self._lock:
            return sorted(self._providers.values(), key=lambda p: p.name)

    def provider(self, uuid: str) -> Provider | None:
        return self._providers.get(uuid)

    def _must(self, uuid: str) -> Provider:
        found = self._providers.get(uuid)
        if found is None:
            raise Missing(f"No resource provider with uuid {uuid} found")
        return found

    def create_provider(self, uuid: str, name: str, parent_uuid: str | None) -> Provider:
        with self._lock:
            if uuid in self._providers:
                raise Taken(f"Conflicting resource provider uuid: {uuid} already exists.")
            if any(p.name == name for p in self._providers.values()):
                raise Taken(f"Conflicting resource provider name: {name} already exists.")
            root = uuid
            if parent_uuid is not None:
                parent = self._providers.get(parent_uuid)
                if parent is None:
                    raise Missing(f"parent provider UUID {parent_uuid} does not exist.")
                root = parent.root_uuid
            made = Provider(uuid, name, 0, parent_uuid, root)
            self._providers[uuid] = made
            return made

    def update_provider(self, uuid: str, name: str, parent_uuid: str | None) -> Provider:
        with self._lock:
            old = self._must(uuid)
            if any(p.name == name and p.uuid != uuid for p in self._providers.values()):
                raise Taken(f"Conflicting resource provider name: {name} already exists.")
            root = old.root_uuid
            if parent_uuid != old.parent_uuid:
                if parent_uuid is None or old.parent_uuid is not None:
                    raise InUse("re-parenting a provider is not currently allowed.")
                parent = self._providers.get(parent_uuid)
                if parent is None:
                    raise Missing(f"parent provider UUID {parent_uuid} does not exist.")
                if parent.root_uuid == old.root_uuid:
                    raise InUse("creating loop in the provider tree is not allowed.")
                root = parent.root_uuid
                for p in list(self._providers.values()):
                    if p.root_uuid == old.root_uuid:
                        self._providers[p.uuid] = replace(p, root_uuid=root)
            made = replace(self._providers[uuid], name=name, parent_uuid=parent_uuid)
            self._providers[uuid] = made
            return made

    def delete_provider(self, uuid: str) -> None:
        with self._lock:
            self._must(uuid)
            if any(uuid in a for a in self._allocations.values()):
                raise ProviderInUse(
                    f"Unable to delete resource provider {uuid}: Resource provider has allocations."
                )
            if any(p.parent_uuid == uuid for p in self._providers.values()):
                raise InUse(
                    f"Unable to delete parent resource provider {uuid}: It has child resource "
                    "providers."
                )
            for table in (self._inventories, self._traits, self._aggregates, self._agents):
                table.pop(uuid, None)
            del self._providers[uuid]

    def _bump(self, uuid: str, generation: int | None) -> Provider:
        current = self._must(uuid)
        if generation is not None and generation != current.generation:
            raise Stale(
                "resource provider generation conflict: Resource provider's generation already "
                "changed. Please update the generation and try again."
            )
        made = replace(current, generation=current.generation + 1)
        self._providers[uuid] = made
        return made

    def inventories(self, uuid: str) -> dict[str, Inventory]:
        self._must(uuid)
        return dict(self._inventories.get(uuid, {}))

    def set_inventories(
        self, uuid: str, generation: int, inventories: dict[str, Inventory]
    ) -> Provider:
        with self._lock:
            self._must(uuid)
            if generation != self._providers[uuid].generation:
                raise Stale(
                    "resource provider generation conflict: Resource provider's generation already "
                    "changed. Please update the generation and try again."
                )
            used = self._usages(uuid)
            gone = sorted(rc for rc in used if used[rc] and rc not in inventories)
            if gone:
                raise InUse(
                    f"update conflict: Inventory for '{', '.join(gone)}' on resource provider "
                    f"'{uuid}' in use."
                )
            self._inventories[uuid] = dict(inventories)
            return self._bump(uuid, generation)

    def traits(self, uuid: str) -> frozenset[str]:
        self._must(uuid)
        return self._traits.get(uuid, frozenset())

    def set_traits(self, uuid: str, generation: int | None, traits: Iterable[str]) -> Provider:
        with self._lock:
            bumped = self._bump(uuid, generation)
            self._traits[uuid] = frozenset(traits)
            return bumped

    def aggregates(self, uuid: str) -> frozenset[str]:
        self._must(uuid)
        return self._aggregates.get(uuid, frozenset())

    def set_aggregates(
        self, uuid: str, generation: int | None, aggregates: Iterable[str]
    ) -> Provider:
        with self._lock:
            bumped = self._bump(uuid, generation)
            self._aggregates[uuid] = frozenset(aggregates)
            return bumped

    def usages(self, uuid: str) -> dict[str, int]:
        self._must(uuid)
        return self._usages(uuid)

    def _usages(self, uuid: str, without: Iterable[str] = ()) -> dict[str, int]:
        excluded = set(without)
        out: dict[str, int] = {}
        for consumer, allocations in self._allocations.items():
            if consumer in excluded:
                continue
            for rc, n in allocations.get(uuid, {}).items():
                out[rc] = out.get(rc, 0) + n
        return out

    def consumer(self, uuid: str) -> tuple[Consumer | None, Allocations]:
        with self._lock:
            had = self._allocations.get(uuid, {})
            return self._consumers.get(uuid), {p: dict(a) for p, a in had.items()}

    def provider_allocations(self, uuid: str) -> Allocations:
        with self._lock:
            self._must(uuid)
            return {c: dict(a[uuid]) for c, a in self._allocations.items() if uuid in a}

    def write_allocations(self, writes: list[ConsumerWrite]) -> None:
        with self._lock:
            consumers = [w.consumer_uuid for w in writes]
            touched: set[str] = set()
            for w in writes:
                if not w.quiet:
                    touched.update(self._allocations.get(w.consumer_uuid, {}))
                _guard_consumer(w, self._consumers.get(w.consumer_uuid))
            new: dict[str, dict[str, int]] = {}
            for w in writes:
                for p, amounts in w.allocations.items():
                    for rc, n in amounts.items():
                        new.setdefault(p, {})
                        new[p][rc] = new[p].get(rc, 0) + n
            for p in sorted(set(new) | touched):
                self._must(p)
                if p in new:
                    check_allocation(
                        p, self._inventories.get(p, {}), self._usages(p, consumers), new[p]
                    )
            for p in sorted(set(new) | touched):
                self._bump(p, None)
            for w in writes:
                old = self._consumers.get(w.consumer_uuid)
                if not w.allocations:
                    self._consumers.pop(w.consumer_uuid, None)
                    self._allocations.pop(w.consumer_uuid, None)
                    continue
                generation = 1 if old is None else old.generation + 1
                self._consumers[w.consumer_uuid] = Consumer(
                    w.consumer_uuid, w.project_id, w.user_id, generation
                )
                self._allocations[w.consumer_uuid] = {p: dict(a) for p, a in w.allocations.items()}

    def project_usages(self, project_id: str, user_id: str | None) -> dict[str, int]:
        with self._lock:
            out: dict[str, int] = {}
            for uuid, consumer in self._consumers.items():
                if consumer.project_id != project_id:
                    continue
                if user_id is not None and consumer.user_id != user_id:
                    continue
                for amounts in self._allocations.get(uuid, {}).values():
                    for rc, n in amounts.items():
                        out[rc] = out.get(rc, 0) + n
            return out

    def custom_names(self, kind: str) -> frozenset[str]:
        return frozenset(n for k, n in self._custom if k == kind)

    def add_custom_name(self, kind: str, name: str) -> bool:
        with self._lock:
            if (kind, name) in self._custom:
                return False
            self._custom.add((kind, name))
            return True

    def rename_custom_class(self, old: str, new: str) -> None:
        with self._lock:
            if ("resource_class", old) not in self._custom:
                raise Missing(f"No such resource class {old}.")
            if ("resource_class", new) in self._custom:
                raise Taken(f"Resource class already exists: {new}")
            self._custom.discard(("resource_class", old))
            self._custom.add(("resource_class", new))
            for uuid, inv in self._inventories.items():
                self._inventories[uuid] = {new if rc == old else rc: i for rc, i in inv.items()}
            for allocs in self._allocations.values():
                for p, amounts in allocs.items():
                    allocs[p] = {new if rc == old else rc: a for rc, a in amounts.items()}

    def delete_custom_name(self, kind: str, name: str) -> None:
        with self._lock:
            if kind == "trait":
                used = any(name in ts for ts in self._traits.values())
            else:
                used = any(name in inv for inv in self._inventories.values()) or any(
                    name in a for allocs in self._allocations.values() for a in allocs.values()
                )
            if used:
                raise InUse(
                    f"The trait {name} is in use by a resource provider."
                    if kind == "trait"
                    else f"Error in delete resource class '{name}': Unable to delete resource "
                    f"class {name}. Class is in use in inventory or allocation."
                )
            if (kind, name) not in self._custom:
                raise Missing(f"No such {kind.replace('_', ' ')}: {name}")
            self._custom.discard((kind, name))

    def states(self) -> list[ProviderState]:
        with self._lock:
            return [
                ProviderState(
                    p,
                    dict(self._inventories.get(p.uuid, {})),
                    self._usages(p.uuid),
                    self._traits.get(p.uuid, frozenset()),
                    self._aggregates.get(p.uuid, frozenset()),
                    DOWN if self._agents.get(p.root_uuid or p.uuid, (0, False))[1] else None,
                )
                for p in self._providers.values()
            ]

    def heartbeat(self, uuid: str, now: float) -> bool:
        with self._lock:
            self._must(uuid)
            was = self._agents.get(uuid, (now, False))[1]
            self._agents[uuid] = (now, False)
            return was

    def mark_silent_down(self, cutoff: float) -> list[str]:
        with self._lock:
            marked = [u for u, (seen, down) in self._agents.items() if not down and seen < cutoff]
            for u in marked:
                self._agents[u] = (self._agents[u][0], True)
            return marked


def _guard_consumer(w: ConsumerWrite, old: Consumer | None) -> None:
    if not w.check:
        return
    if old is None and w.generation is not None:
        raise Stale(f"consumer generation conflict - expected null but got {w.generation}")
    if old is not None and w.generation != old.generation:
        raise Stale(
            "consumer generation conflict - expected "
            f"{old.generation} but got {'null' if w.generation is None else w.generation}"
        )
