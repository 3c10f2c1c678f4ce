"""resalloc's matching and hook environment, as plain functions."""

from __future__ import annotations

import base64

from lessor.domain.hooks import Hook
from lessor.domain.matching import pool_serves, resource_fits, score, unservable_tags
from lessor.domain.model import Pool, Resource, Tag, Ticket
from lessor.domain.states import ResourceState as R
from lessor.domain.states import TicketState as T
from lessor.runner.env import hook_env, untracked_env

NORMAL = Pool("normal", tags=(Tag("fedora", 0), Tag("x86_64", 10)))
HUGE = Pool("huge", tags=(Tag("fedora", 1),), tags_on_demand=(Tag("huge_mem", 5),))


def ticket(*tags: str, sandbox: str | None = None) -> Ticket:
    return Ticket(1, tags, T.OPEN, sandbox=sandbox)


def resource(pool: Pool, sandbox: str | None = None) -> Resource:
    names = tuple(t.name for t in pool.tags + pool.tags_on_demand)
    return Resource(1, pool.name, "r", R.UP, tags=names, sandbox=sandbox)


def test_a_ticket_for_an_on_demand_tag_is_servable_by_its_pool_only() -> None:
    assert pool_serves(HUGE, ["fedora", "huge_mem"])
    assert not pool_serves(NORMAL, ["fedora", "huge_mem"])
    assert unservable_tags([NORMAL, HUGE], ["huge_mem"]) == []
    assert unservable_tags([NORMAL, HUGE], ["huge_mem", "sparc"]) == ["sparc"]


def test_score_sums_the_priorities_of_the_requested_tags_plus_500_for_reuse() -> None:
    assert score(resource(NORMAL), ticket("fedora", "x86_64"), NORMAL) == 10
    assert score(resource(NORMAL), ticket("fedora"), NORMAL) == 0
    assert score(resource(HUGE), ticket("fedora", "huge_mem"), HUGE) == 6
    reused = resource(NORMAL, sandbox="s")
    assert score(reused, ticket("fedora", sandbox="s"), NORMAL) == 500


def test_a_sandboxed_resource_fits_only_its_own_sandbox() -> None:
    sandboxed = resource(NORMAL, sandbox="user1")
    assert resource_fits(sandboxed, ticket("fedora", sandbox="user1"))
    assert not resource_fits(sandboxed, ticket("fedora", sandbox="user2"))
    assert not resource_fits(sandboxed, ticket("fedora"))
    assert resource_fits(resource(NORMAL), ticket("fedora", sandbox="anyone"))


def test_hooks_get_resallocs_variables_with_named_counters() -> None:
    r = Resource(
        12,
        "hv",
        "hv_00000012_20250101_101010",
        R.UP,
        data=b"10.0.0.9\n",
        id_in_pool=3,
        counters=(("tap", 4),),
    )
    env = hook_env(r, Hook.LIVECHECK)
    assert env["RESALLOC_ID"] == "12" and env["RESALLOC_POOL_ID"] == "hv"
    assert env["RESALLOC_NAME"] == "hv_00000012_20250101_101010"
    assert env["RESALLOC_ID_IN_POOL"] == "3"
    assert base64.b64decode(env["RESALLOC_RESOURCE_DATA"]) == b"10.0.0.9\n"
    assert env["RESALLOC_NAMED_COUNTER_tap"] == "4"


def test_hooks_for_untracked_instances_get_id_zero_and_the_listed_name() -> None:
    env = untracked_env(Hook.DELETE, "hv", "hv_leftover")
    assert (env["RESALLOC_ID"], env["RESALLOC_NAME"], env["RESALLOC_POOL_ID"]) == (
        "0",
        "hv_leftover",
        "hv",
    )
    assert "RESALLOC_RESOURCE_DATA" not in env
