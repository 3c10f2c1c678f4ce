"""Candidate search: capacity, trees, sharing providers, traits, aggregates, limit, budget."""

from __future__ import annotations

import itertools

import pytest

from lessor.domain.candidates import BadQuery, Request, parse_request, search
from lessor.domain.capacity import SHARES, Inventory, Provider, ProviderState


def host(
    uuid: str, vcpu: int = 8, used: int = 0, traits: tuple[str, ...] = (), **kw: object
) -> ProviderState:
    return ProviderState(
        Provider(uuid, uuid, root_uuid=str(kw.get("root", uuid)), parent_uuid=kw.get("parent")),  # type: ignore[arg-type]
        inventories={"VCPU": Inventory(vcpu), "MEMORY_MB": Inventory(4096)} if vcpu else {},
        used={"VCPU": used},
        traits=frozenset(traits),
        aggregates=frozenset(kw.get("aggs", ())),  # type: ignore[arg-type]
        reason=kw.get("reason"),  # type: ignore[arg-type]
    )


def test_capacity_is_total_less_reserved_times_ratio() -> None:
    inv = Inventory(total=10, reserved=2, allocation_ratio=1.5)
    assert inv.capacity == 12
    assert inv.refusal(12, 0) is None
    assert inv.refusal(2, 11) == "2 asked, 1 free"
    assert Inventory(10, step_size=4).refusal(6, 0) == "6 asked, step_size is 4"


def test_full_hosts_are_rejected_with_why() -> None:
    out = search([host("a", used=7), host("b")], Request({"VCPU": 2}), explain=True)
    assert out.allocation_requests == [{"b": {"VCPU": 2}}]
    assert out.rejected["a"] == ["VCPU: 2 asked, 1 free"]


def test_required_forbidden_and_any_of_traits() -> None:
    states = [
        host("a", traits=("HW_CPU_X86_AVX2",)),
        host("b", traits=("HW_CPU_X86_AVX2", "CUSTOM_MAINT")),
        host("c"),
    ]
    got = search(
        states,
        parse_request({"resources": ["VCPU:1"], "required": ["HW_CPU_X86_AVX2,!CUSTOM_MAINT"]}),
        explain=True,
    )
    assert [list(a) for a in got.allocation_requests] == [["a"]]
    assert "lacks HW_CPU_X86_AVX2" in got.rejected["c"]
    assert got.rejected["b"] == ["has CUSTOM_MAINT"]
    any_of = search(
        states, parse_request({"resources": ["VCPU:1"], "required": ["in:CUSTOM_MAINT,CUSTOM_X"]})
    )
    assert [list(a) for a in any_of.allocation_requests] == [["b"]]


def test_a_tree_serves_from_its_children_and_a_sharing_provider_from_its_aggregate() -> None:
    root = host("cn", vcpu=0, aggs=("agg",))
    numa = host("numa0", root="cn", parent="cn")
    disk = ProviderState(
        Provider("disk", "disk", root_uuid="disk"),
        {"DISK_GB": Inventory(100)},
        traits=frozenset({SHARES}),
        aggregates=frozenset({"agg"}),
    )
    out = search([root, numa, disk], Request({"VCPU": 1, "DISK_GB": 10}))
    assert out.allocation_requests == [{"numa0": {"VCPU": 1}, "disk": {"DISK_GB": 10}}]
    assert out.providers == {"cn", "numa0", "disk"}


def test_member_of_limit_and_budget() -> None:
    states = [host(f"h{i}", aggs=(f"a{i % 2}",)) for i in range(6)]
    got = search(states, parse_request({"resources": ["VCPU:1"], "member_of": ["in:a1"]}))
    assert sorted(next(iter(a)) for a in got.allocation_requests) == ["h1", "h3", "h5"]
    assert (
        len(
            search(
                states, parse_request({"resources": ["VCPU:1"], "limit": ["2"]})
            ).allocation_requests
        )
        == 2
    )
    capped = search(states, Request({"VCPU": 1}), budget=3)
    assert capped.truncated and len(capped.allocation_requests) == 3


def test_a_draining_provider_takes_nothing() -> None:
    out = search([host("a", reason="draining")], Request({"VCPU": 1}), explain=True)
    assert out.allocation_requests == [] and out.rejected["a"] == ["reserved: draining"]


def test_the_answer_does_not_depend_on_the_order_of_providers() -> None:
    states = [host("a", used=7), host("b", traits=("CUSTOM_X",)), host("c")]
    want = None
    for order in itertools.permutations(states):
        got = sorted(next(iter(a)) for a in search(order, Request({"VCPU": 2})).allocation_requests)
        want = want or got
        assert got == want == ["b", "c"]


@pytest.mark.parametrize(
    "query",
    [
        {"resources": ["VCPU"]},
        {"resources": ["VCPU:0"]},
        {},
        {"resources": ["VCPU:1"], "limit": ["0"]},
        {"resources": ["VCPU:1"], "required": ["A,!A"]},
    ],
)
def test_bad_queries_say_what(query: dict[str, list[str]]) -> None:
    with pytest.raises(BadQuery):
        parse_request(query)
