"""The capacity store's contract, on memory, SQLite and PostgreSQL: generations guard every
write, and allocations never exceed capacity, even under contention."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from lessor.domain.capacity import (
    ConsumerWrite,
    InUse,
    Inventory,
    Missing,
    Overcommit,
    Stale,
    Taken,
)
from lessor.store.capacity import CapacityStore, SqlCapacityStore
from lessor.store.capacity_memory import MemoryCapacityStore
from lessor.store.sql import SqlStore


@pytest.fixture
def capacity(any_url: str) -> Iterator[CapacityStore]:
    if any_url.startswith("memory"):
        yield MemoryCapacityStore()
        return
    sql = SqlStore.connect(any_url)
    yield SqlCapacityStore(sql.transactions)
    sql.transactions.close()
    sql.close()


def uid() -> str:
    return str(uuid.uuid4())


def write(
    consumer: str,
    allocations: dict[str, dict[str, int]],
    generation: int | None = None,
    check: bool = True,
) -> ConsumerWrite:
    return ConsumerWrite(consumer, allocations, "project", "user", generation, check)


def test_providers_form_trees_and_names_are_unique(capacity: CapacityStore) -> None:
    root = capacity.create_provider(uid(), "cn1", None)
    child = capacity.create_provider(uid(), "cn1-numa0", root.uuid)
    assert child.root_uuid == root.uuid and child.parent_uuid == root.uuid
    with pytest.raises(Taken):
        capacity.create_provider(uid(), "cn1", None)
    with pytest.raises(Missing):
        capacity.create_provider(uid(), "orphan", uid())
    with pytest.raises(InUse):
        capacity.delete_provider(root.uuid)
    capacity.delete_provider(child.uuid)
    capacity.delete_provider(root.uuid)
    assert capacity.providers() == []


def test_a_stale_generation_is_refused_and_changes_nothing(capacity: CapacityStore) -> None:
    p = capacity.create_provider(uid(), "cn", None)
    p1 = capacity.set_inventories(p.uuid, 0, {"VCPU": Inventory(8)})
    assert p1.generation == 1
    with pytest.raises(Stale):
        capacity.set_inventories(p.uuid, 0, {"VCPU": Inventory(4)})
    assert capacity.inventories(p.uuid) == {"VCPU": Inventory(8)}
    assert capacity.set_traits(p.uuid, 1, ["HW_CPU_X86_AVX2"]).generation == 2
    assert capacity.traits(p.uuid) == {"HW_CPU_X86_AVX2"}
    capacity.set_aggregates(p.uuid, None, ["agg"])
    (state,) = capacity.states()
    assert state.aggregates == {"agg"} and state.traits == {"HW_CPU_X86_AVX2"}


def test_allocations_are_guarded_by_capacity_and_consumer_generation(
    capacity: CapacityStore,
) -> None:
    p = capacity.create_provider(uid(), "cn", None)
    capacity.set_inventories(p.uuid, 0, {"VCPU": Inventory(4), "MEMORY_MB": Inventory(1024)})
    vm = uid()
    capacity.write_allocations([write(vm, {p.uuid: {"VCPU": 3, "MEMORY_MB": 512}})])
    consumer, allocations = capacity.consumer(vm)
    assert consumer is not None and consumer.generation == 1
    assert allocations == {p.uuid: {"VCPU": 3, "MEMORY_MB": 512}}
    with pytest.raises(Overcommit, match="exceed the capacity"):
        capacity.write_allocations([write(uid(), {p.uuid: {"VCPU": 2}})])
    with pytest.raises(Stale):
        capacity.write_allocations([write(vm, {p.uuid: {"VCPU": 1}}, generation=None)])
    capacity.write_allocations([write(vm, {p.uuid: {"VCPU": 4}}, generation=1)])
    assert capacity.usages(p.uuid) == {"VCPU": 4}
    assert capacity.project_usages("project", None) == {"VCPU": 4}
    with pytest.raises(InUse):
        capacity.set_inventories(p.uuid, capacity.provider(p.uuid).generation, {})  # type: ignore[union-attr]
    capacity.write_allocations([write(vm, {}, check=False)])
    assert capacity.consumer(vm) == (None, {})
    assert capacity.usages(p.uuid) == {}


def test_custom_names_in_use_are_kept(capacity: CapacityStore) -> None:
    assert capacity.add_custom_name("trait", "CUSTOM_GOLD")
    assert not capacity.add_custom_name("trait", "CUSTOM_GOLD")
    p = capacity.create_provider(uid(), "cn", None)
    capacity.set_traits(p.uuid, None, ["CUSTOM_GOLD"])
    with pytest.raises(InUse):
        capacity.delete_custom_name("trait", "CUSTOM_GOLD")
    capacity.set_traits(p.uuid, None, [])
    capacity.delete_custom_name("trait", "CUSTOM_GOLD")
    assert capacity.custom_names("trait") == frozenset()


def test_concurrent_claims_never_overcommit(capacity: CapacityStore) -> None:
    """20 clients claim 1 VCPU at a time on the same 10 providers of 4 VCPU each."""
    providers = [capacity.create_provider(uid(), f"cn{i}", None) for i in range(10)]
    for p in providers:
        capacity.set_inventories(p.uuid, 0, {"VCPU": Inventory(4)})
    granted: list[str] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        for attempt in range(60):
            p = providers[(n + attempt) % len(providers)]
            try:
                capacity.write_allocations([write(f"{n}-{attempt}", {p.uuid: {"VCPU": 1}})])
            except (Stale, Overcommit):
                continue
            with lock:
                granted.append(p.uuid)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(20)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert len(granted) == 40  # every slot taken, none twice
    for p in providers:
        assert granted.count(p.uuid) == 4
        assert capacity.usages(p.uuid) == {"VCPU": 4}


def test_a_silent_agent_is_down_once_and_a_heartbeat_clears_it(capacity: CapacityStore) -> None:
    host, numa = uid(), uid()
    capacity.create_provider(host, "agent-host", None)
    capacity.create_provider(numa, "agent-host_numa0", host)
    assert capacity.heartbeat(host, 100.0) is False
    assert capacity.mark_silent_down(90.0) == []  # heard at 100: not silent since 90
    assert capacity.mark_silent_down(110.0) == [host]
    assert capacity.mark_silent_down(120.0) == []  # reported once, by whichever server
    reasons = {s.uuid: s.reason for s in capacity.states()}
    assert reasons[host] == reasons[numa] == "down"  # nothing goes on any of its tree
    assert capacity.heartbeat(host, 130.0) is True
    assert {s.uuid: s.reason for s in capacity.states()}[numa] is None
    capacity.delete_provider(numa)
    capacity.delete_provider(host)  # its heartbeats go with it
