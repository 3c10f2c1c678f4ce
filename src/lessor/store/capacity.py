"""The capacity store: providers, inventories, traits, aggregates, consumers, allocations.

Every write to a provider is a guarded update of its generation
(`UPDATE providers SET generation = g + 1 WHERE uuid = :u AND generation = g`)
in the transaction that checks capacity, so two writers that read the same
usage can never both commit: the second finds its generation gone and is
refused (Stale), never an overcommit. Providers are locked in uuid order,
so writers over several providers cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import sqlalchemy as sa

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
from lessor.store import tables as t
from lessor.store.transactions import Transactions

Allocations = dict[str, dict[str, int]]
"""Provider uuid → resource class → amount (or consumer uuid → … on one provider)."""


class CapacityStore(Protocol):
    """What the capacity service needs of a database."""

    def providers(self) -> list[Provider]: ...
    def provider(self, uuid: str) -> Provider | None: ...
    def create_provider(self, uuid: str, name: str, parent_uuid: str | None) -> Provider: ...
    def update_provider(self, uuid: str, name: str, parent_uuid: str | None) -> Provider: ...
    def delete_provider(self, uuid: str) -> None: ...
    def inventories(self, uuid: str) -> dict[str, Inventory]: ...
    def set_inventories(
        self, uuid: str, generation: int, inventories: dict[str, Inventory]
    ) -> Provider: ...
    def traits(self, uuid: str) -> frozenset[str]: ...
    def set_traits(self, uuid: str, generation: int | None, traits: Iterable[str]) -> Provider: ...
    def aggregates(self, uuid: str) -> frozenset[str]: ...
    def set_aggregates(
        self, uuid: str, generation: int | None, aggregates: Iterable[str]
    ) -> Provider: ...
    def usages(self, uuid: str) -> dict[str, int]: ...
    def consumer(self, uuid: str) -> tuple[Consumer | None, Allocations]: ...
    def provider_allocations(self, uuid: str) -> Allocations: ...
    def write_allocations(self, writes: list[ConsumerWrite]) -> None: ...
    def project_usages(self, project_id: str, user_id: str | None) -> dict[str, int]: ...
    def custom_names(self, kind: str) -> frozenset[str]: ...
    def add_custom_name(self, kind: str, name: str) -> bool: ...
    def delete_custom_name(self, kind: str, name: str) -> None: ...
    def rename_custom_class(self, old: str, new: str) -> None: ...
    def states(self) -> list[ProviderState]: ...
    def heartbeat(self, uuid: str, now: float) -> bool: ...
    def mark_silent_down(self, cutoff: float) -> list[str]: ...


def _provider(row: Any) -> Provider:
    return Provider(row.uuid, row.name, row.generation, row.parent_uuid, row.root_uuid)


_PROVIDER_COLUMNS = (
    t.providers.c.uuid,
    t.providers.c.name,
    t.providers.c.generation,
    t.providers.c.parent_uuid,
    t.providers.c.root_uuid,
)


class SqlCapacityStore:
    """The capacity store on SQLite or PostgreSQL, in the store's transactions."""

    def __init__(self, transactions: Transactions) -> None:
        self.tx = transactions

    # providers

    def providers(self) -> list[Provider]:
        with self.tx.read() as conn:
            rows = conn.execute(sa.select(*_PROVIDER_COLUMNS).order_by(t.providers.c.name))
            return [_provider(r) for r in rows]

    def provider(self, uuid: str) -> Provider | None:
        with self.tx.read() as conn:
            return self._get(conn, uuid)

    @staticmethod
    def _get(conn: sa.Connection, uuid: str) -> Provider | None:
        row = conn.execute(sa.select(*_PROVIDER_COLUMNS).where(t.providers.c.uuid == uuid)).first()
        return None if row is None else _provider(row)

    def _must(self, conn: sa.Connection, uuid: str) -> Provider:
        found = self._get(conn, uuid)
        if found is None:
            raise Missing(f"No resource provider with uuid {uuid} found")
        return found

    def _taken(self, conn: sa.Connection, uuid: str, name: str) -> None:
        p = t.providers.c
        for column, value, what in ((p.uuid, uuid, "uuid"), (p.name, name, "name")):
            clash = conn.execute(sa.select(p.uuid).where(column == value)).first()
            if clash is not None:
                raise Taken(f"Conflicting resource provider {what}: {value} already exists.")

    def create_provider(self, uuid: str, name: str, parent_uuid: str | None) -> Provider:
        with self.tx.write() as conn:
            self._taken(conn, uuid, name)
            root = uuid
            if parent_uuid is not None:
                parent = self._get(conn, parent_uuid)
                if parent is None:
                    raise Missing(f"parent provider UUID {parent_uuid} does not exist.")
                root = parent.root_uuid
            conn.execute(
                t.providers.insert().values(
                    uuid=uuid, name=name, generation=0, parent_uuid=parent_uuid, root_uuid=root
                )
            )
            return Provider(uuid, name, 0, parent_uuid, root)

    def update_provider(self, uuid: str, name: str, parent_uuid: str | None) -> Provider:
        with self.tx.write() as conn:
            old = self._must(conn, uuid)
            clash = conn.execute(
                sa.select(t.providers.c.uuid).where(
                    t.providers.c.name == name, t.providers.c.uuid != uuid
                )
            ).first()
            if clash is not None:
                raise Taken(f"Conflicting resource provider name: {name} already exists.")
            root = old.root_uuid
            if parent_uuid != old.parent_uuid:
                if parent_uuid is None or old.parent_uuid is not None:
                    raise InUse("re-parenting a provider is not currently allowed.")
                parent = self._get(conn, parent_uuid)
                if parent is None:
                    raise Missing(f"parent provider UUID {parent_uuid} does not exist.")
                if parent.root_uuid == old.root_uuid:
                    raise InUse("creating loop in the provider tree is not allowed.")
                root = parent.root_uuid
                conn.execute(
                    t.providers.update()
                    .where(t.providers.c.root_uuid == old.root_uuid)
                    .values(root_uuid=root)
                )
            conn.execute(
                t.providers.update()
                .where(t.providers.c.uuid == uuid)
                .values(name=name, parent_uuid=parent_uuid, root_uuid=root)
            )
            return Provider(uuid, name, old.generation, parent_uuid, root)

    def delete_provider(self, uuid: str) -> None:
        with self.tx.write() as conn:
            self._must(conn, uuid)
            if conn.execute(
                sa.select(t.allocations.c.used).where(t.allocations.c.provider_uuid == uuid)
            ).first():
                raise ProviderInUse(
                    f"Unable to delete resource provider {uuid}: Resource provider has allocations."
                )
            if conn.execute(
                sa.select(t.providers.c.uuid).where(t.providers.c.parent_uuid == uuid)
            ).first():
                raise InUse(
                    f"Unable to delete parent resource provider {uuid}: It has child resource "
                    "providers."
                )
            for table in (t.inventories, t.provider_traits, t.provider_aggregates, t.agents):
                conn.execute(table.delete().where(table.c.provider_uuid == uuid))
            conn.execute(t.providers.delete().where(t.providers.c.uuid == uuid))

    def _bump(self, conn: sa.Connection, uuid: str, generation: int | None) -> Provider:
        """Raise the provider's generation, guarded by the one the writer saw (None: now's)."""
        current = self._must(conn, uuid)
        seen = current.generation if generation is None else generation
        done = conn.execute(
            t.providers.update()
            .where(t.providers.c.uuid == uuid, t.providers.c.generation == seen)
            .values(generation=seen + 1)
        ).rowcount
        if done != 1:
            raise Stale(
                "resource provider generation conflict: Resource provider's generation already "
                "changed. Please update the generation and try again."
            )
        return Provider(uuid, current.name, seen + 1, current.parent_uuid, current.root_uuid)

    # inventories, traits, aggregates

    def inventories(self, uuid: str) -> dict[str, Inventory]:
        with self.tx.read() as conn:
            self._must(conn, uuid)
            return self._inventories(conn, uuid)

    @staticmethod
    def _inventories(conn: sa.Connection, uuid: str) -> dict[str, Inventory]:
        i = t.inventories.c
        rows = conn.execute(
            sa.select(
                i.resource_class,
                i.total,
                i.reserved,
                i.min_unit,
                i.max_unit,
                i.step_size,
                i.allocation_ratio,
            ).where(i.provider_uuid == uuid)
        )
        return {r[0]: Inventory(*r[1:]) for r in rows}

    def set_inventories(
        self, uuid: str, generation: int, inventories: dict[str, Inventory]
    ) -> Provider:
        with self.tx.write() as conn:
            bumped = self._bump(conn, uuid, generation)
            used = self._usages(conn, uuid)
            gone = sorted(rc for rc in used if used[rc] and rc not in inventories)
            if gone:
                raise InUse(
                    f"update conflict: Inventory for '{', '.join(gone)}' on resource provider "
                    f"'{uuid}' in use."
                )
            conn.execute(t.inventories.delete().where(t.inventories.c.provider_uuid == uuid))
            if inventories:
                conn.execute(
                    t.inventories.insert(),
                    [
                        {"provider_uuid": uuid, "resource_class": rc, **vars(inv)}
                        for rc, inv in inventories.items()
                    ],
                )
            return bumped

    def _names(self, table: sa.Table, column: str, uuid: str) -> frozenset[str]:
        with self.tx.read() as conn:
            self._must(conn, uuid)
            rows = conn.execute(sa.select(table.c[column]).where(table.c.provider_uuid == uuid))
            return frozenset(r[0] for r in rows)

    def _set_names(
        self, table: sa.Table, column: str, uuid: str, generation: int | None, names: Iterable[str]
    ) -> Provider:
        with self.tx.write() as conn:
            bumped = self._bump(conn, uuid, generation)
            conn.execute(table.delete().where(table.c.provider_uuid == uuid))
            rows = [{"provider_uuid": uuid, column: n} for n in sorted(set(names))]
            if rows:
                conn.execute(table.insert(), rows)
            return bumped

    def traits(self, uuid: str) -> frozenset[str]:
        return self._names(t.provider_traits, "trait", uuid)

    def set_traits(self, uuid: str, generation: int | None, traits: Iterable[str]) -> Provider:
        return self._set_names(t.provider_traits, "trait", uuid, generation, traits)

    def aggregates(self, uuid: str) -> frozenset[str]:
        return self._names(t.provider_aggregates, "aggregate", uuid)

    def set_aggregates(
        self, uuid: str, generation: int | None, aggregates: Iterable[str]
    ) -> Provider:
        return self._set_names(t.provider_aggregates, "aggregate", uuid, generation, aggregates)

    # usages and allocations

    def usages(self, uuid: str) -> dict[str, int]:
        with self.tx.read() as conn:
            self._must(conn, uuid)
            return self._usages(conn, uuid)

    @staticmethod
    def _usages(conn: sa.Connection, uuid: str, without: Iterable[str] = ()) -> dict[str, int]:
        a = t.allocations.c
        query = (
            sa.select(a.resource_class, sa.func.sum(a.used))
            .where(a.provider_uuid == uuid)
            .group_by(a.resource_class)
        )
        excluded = list(without)
        if excluded:
            query = query.where(a.consumer_uuid.not_in(excluded))
        return {rc: int(n) for rc, n in conn.execute(query)}

    def consumer(self, uuid: str) -> tuple[Consumer | None, Allocations]:
        with self.tx.read() as conn:
            return self._consumer(conn, uuid)

    @staticmethod
    def _consumer(conn: sa.Connection, uuid: str) -> tuple[Consumer | None, Allocations]:
        c = t.consumers.c
        row = conn.execute(
            sa.select(c.project_id, c.user_id, c.generation).where(c.uuid == uuid)
        ).first()
        a = t.allocations.c
        out: Allocations = {}
        for p, rc, used in conn.execute(
            sa.select(a.provider_uuid, a.resource_class, a.used).where(a.consumer_uuid == uuid)
        ):
            out.setdefault(p, {})[rc] = used
        return (None if row is None else Consumer(uuid, *row)), out

    def provider_allocations(self, uuid: str) -> Allocations:
        a = t.allocations.c
        with self.tx.read() as conn:
            self._must(conn, uuid)
            out: Allocations = {}
            for consumer, rc, used in conn.execute(
                sa.select(a.consumer_uuid, a.resource_class, a.used).where(a.provider_uuid == uuid)
            ):
                out.setdefault(consumer, {})[rc] = used
            return out

    def write_allocations(self, writes: list[ConsumerWrite]) -> None:
        """Replace each consumer's allocations, all of them or none."""
        with self.tx.write() as conn:
            consumers = [w.consumer_uuid for w in writes]
            touched: set[str] = set()
            for w in writes:
                old, had = self._consumer(conn, w.consumer_uuid)
                if not w.quiet:
                    touched.update(had)
                self._guard_consumer(conn, w, old)
            new: dict[str, dict[str, int]] = {}
            for w in writes:
                for p, amounts in w.allocations.items():
                    for rc, n in amounts.items():
                        new.setdefault(p, {})
                        new[p][rc] = new[p].get(rc, 0) + n
            for p in sorted(set(new) | touched):
                self._bump(conn, p, None)  # locks it: a concurrent writer is Stale
                if p in new:
                    check_allocation(
                        p, self._inventories(conn, p), self._usages(conn, p, consumers), new[p]
                    )
            a = t.allocations
            conn.execute(a.delete().where(a.c.consumer_uuid.in_(consumers)))
            rows = [
                {
                    "consumer_uuid": w.consumer_uuid,
                    "provider_uuid": p,
                    "resource_class": rc,
                    "used": n,
                }
                for w in writes
                for p, amounts in w.allocations.items()
                for rc, n in amounts.items()
            ]
            if rows:
                conn.execute(a.insert(), rows)

    @staticmethod
    def _guard_consumer(conn: sa.Connection, w: ConsumerWrite, old: Consumer | None) -> None:
        c = t.consumers
        if w.check:
            if old is None and w.generation is not None:
                raise Stale(f"consumer generation conflict - expected null but got {w.generation}")
            if old is not None and w.generation != old.generation:
                raise Stale(
                    "consumer generation conflict - expected "
                    f"{old.generation} but got "
                    f"{'null' if w.generation is None else w.generation}"
                )
        if not w.allocations:
            conn.execute(c.delete().where(c.c.uuid == w.consumer_uuid))
            return
        if old is None:
            conn.execute(
                c.insert().values(
                    uuid=w.consumer_uuid,
                    project_id=w.project_id,
                    user_id=w.user_id,
                    generation=1,
                )
            )
            return
        done = conn.execute(
            c.update()
            .where(c.c.uuid == w.consumer_uuid, c.c.generation == old.generation)
            .values(generation=old.generation + 1, project_id=w.project_id, user_id=w.user_id)
        ).rowcount
        if done != 1:
            raise Stale("consumer generation conflict: another write came first")

    def project_usages(self, project_id: str, user_id: str | None) -> dict[str, int]:
        a, c = t.allocations.c, t.consumers.c
        query = (
            sa.select(a.resource_class, sa.func.sum(a.used))
            .join_from(t.allocations, t.consumers, a.consumer_uuid == c.uuid)
            .where(c.project_id == project_id)
            .group_by(a.resource_class)
        )
        if user_id is not None:
            query = query.where(c.user_id == user_id)
        with self.tx.read() as conn:
            return {rc: int(n) for rc, n in conn.execute(query)}

    # custom resource classes and traits

    def custom_names(self, kind: str) -> frozenset[str]:
        n = t.custom_names.c
        with self.tx.read() as conn:
            return frozenset(r[0] for r in conn.execute(sa.select(n.name).where(n.kind == kind)))

    def add_custom_name(self, kind: str, name: str) -> bool:
        """Whether it is new."""
        n = t.custom_names.c
        with self.tx.write() as conn:
            if conn.execute(sa.select(n.name).where(n.kind == kind, n.name == name)).first():
                return False
            conn.execute(t.custom_names.insert().values(kind=kind, name=name))
            return True

    def rename_custom_class(self, old: str, new: str) -> None:
        """Renames a custom resource class with the inventories and allocations of it."""
        n = t.custom_names.c
        with self.tx.write() as conn:
            names = set(conn.execute(sa.select(n.name).where(n.kind == "resource_class")).scalars())
            if old not in names:
                raise Missing(f"No such resource class {old}.")
            if new in names:
                raise Taken(f"Resource class already exists: {new}")
            conn.execute(
                t.custom_names.update()
                .where(n.kind == "resource_class", n.name == old)
                .values(name=new)
            )
            for table in (t.inventories, t.allocations):
                conn.execute(
                    table.update().where(table.c.resource_class == old).values(resource_class=new)
                )

    def delete_custom_name(self, kind: str, name: str) -> None:
        n = t.custom_names.c
        with self.tx.write() as conn:
            used: sa.Executable
            if kind == "trait":
                used = sa.select(t.provider_traits.c.trait).where(t.provider_traits.c.trait == name)
            else:
                used = sa.union(
                    sa.select(t.inventories.c.resource_class).where(
                        t.inventories.c.resource_class == name
                    ),
                    sa.select(t.allocations.c.resource_class).where(
                        t.allocations.c.resource_class == name
                    ),
                )
            if conn.execute(used).first():
                raise InUse(
                    f"The trait {name} is in use by a resource provider."
                    if kind == "trait"
                    else f"Error in delete resource class '{name}': Unable to delete resource "
                    f"class {name}. Class is in use in inventory or allocation."
                )
            done = conn.execute(
                t.custom_names.delete().where(n.kind == kind, n.name == name)
            ).rowcount
            if not done:
                raise Missing(f"No such {kind.replace('_', ' ')}: {name}")

    # the snapshot a candidate search reads

    def states(self) -> list[ProviderState]:
        with self.tx.read() as conn:
            providers = [_provider(r) for r in conn.execute(sa.select(*_PROVIDER_COLUMNS))]
            inv: dict[str, dict[str, Inventory]] = {}
            for r in conn.execute(sa.select(t.inventories)):
                inv.setdefault(r.provider_uuid, {})[r.resource_class] = Inventory(
                    r.total, r.reserved, r.min_unit, r.max_unit, r.step_size, r.allocation_ratio
                )
            a = t.allocations.c
            used: dict[str, dict[str, int]] = {}
            for p, rc, n in conn.execute(
                sa.select(a.provider_uuid, a.resource_class, sa.func.sum(a.used)).group_by(
                    a.provider_uuid, a.resource_class
                )
            ):
                used.setdefault(p, {})[rc] = int(n)
            traits: dict[str, set[str]] = {}
            for p, name in conn.execute(sa.select(t.provider_traits)):
                traits.setdefault(p, set()).add(name)
            aggs: dict[str, set[str]] = {}
            for p, name in conn.execute(sa.select(t.provider_aggregates)):
                aggs.setdefault(p, set()).add(name)
            ag = t.agents.c
            down = set(conn.execute(sa.select(ag.provider_uuid).where(ag.down)).scalars())
        return [
            ProviderState(
                p,
                inv.get(p.uuid, {}),
                used.get(p.uuid, {}),
                frozenset(traits.get(p.uuid, ())),
                frozenset(aggs.get(p.uuid, ())),
                DOWN if (p.root_uuid or p.uuid) in down else None,
            )
            for p in providers
        ]

    # agents

    def heartbeat(self, uuid: str, now: float) -> bool:
        """Record a heartbeat of the agent of root provider `uuid`; whether it was down."""
        ag = t.agents.c
        with self.tx.write() as conn:
            self._must(conn, uuid)
            row = conn.execute(sa.select(ag.down).where(ag.provider_uuid == uuid)).first()
            if row is None:
                conn.execute(
                    t.agents.insert().values(provider_uuid=uuid, last_seen=now, down=False)
                )
                return False
            conn.execute(
                t.agents.update().where(ag.provider_uuid == uuid).values(last_seen=now, down=False)
            )
            return bool(row.down)

    def mark_silent_down(self, cutoff: float) -> list[str]:
        """Mark down the agents silent since before `cutoff`; the uuids it marked (a guarded
        update: two servers never both report one)."""
        ag = t.agents.c
        marked = []
        with self.tx.write() as conn:
            silent = conn.execute(
                sa.select(ag.provider_uuid).where(~ag.down, ag.last_seen < cutoff)
            ).scalars()
            for uuid in list(silent):
                done = conn.execute(
                    t.agents.update()
                    .where(ag.provider_uuid == uuid, ~ag.down, ag.last_seen < cutoff)
                    .values(down=True)
                )
                if done.rowcount:
                    marked.append(uuid)
        return marked
