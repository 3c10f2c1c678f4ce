"""Rows P1-P22 of docs/resalloc.md: which resource a ticket gets, and when resources start and go.

resalloc's manager decides these on its passes; what its clients and
operators see of them is which data `waitTicket` returns, when, and which
hooks ran (their traces and logs). These tests look at exactly that, on a
site whose pools each stand for one rule. cmd_new gates (WORK/open-ID) hold
resources in STARTING where a test needs them there.
"""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest
from tests.conformance.site import Site, SiteFactory
from tests.conftest import wait_until
from tests.unit.planner_data import NOW, pool, res, ticket

from lessor.domain.model import Snapshot
from lessor.domain.states import ResourceState, TicketState
from lessor.planner.plan import recycling

GATED = "while [ ! -e WORK/open-$RESALLOC_ID ]; do sleep 0.05; done"
NAME = "echo $RESALLOC_POOL_ID-$RESALLOC_ID"
CHECK = "test ! -e WORK/sick-$RESALLOC_ID"

POOLS = f"""
sandboxed:
  max: 3
  max_prealloc: 1
  tags: [sb, x86_64]
  reuse_opportunity_time: 600
  reuse_max_count: 5
  cmd_new: {NAME}
  cmd_release: echo $RESALLOC_POOL_ID-$RESALLOC_ID >> WORK/released
  cmd_delete: 'true'
car1:
  max: 1
  max_prealloc: 1
  tags: [{{name: mother, priority: 1}}, {{name: father, priority: 2}}, {{name: son, priority: 3}}]
  cmd_new: echo car1
  cmd_delete: 'true'
car2:
  max: 1
  max_prealloc: 1
  tags: [{{name: mother, priority: 1}}, {{name: father, priority: 3}},
         {{name: daughter, priority: 2}}]
  cmd_new: echo car2
  cmd_delete: 'true'
car3:
  max: 1
  max_prealloc: 1
  tags: [{{name: mother, priority: 3}}, {{name: father, priority: 2}}, daughter]
  cmd_new: echo car3
  cmd_delete: 'true'
demand:
  max: 1
  tags: [p2]
  tags_on_demand: [beefy]
  cmd_new: {GATED}; {NAME}
  cmd_delete: 'true'
zz:
  max: 2
  tags: [p4]
  tags_on_demand: [p4big]
  cmd_new: {NAME}
  cmd_delete: 'true'
aa:
  max: 2
  tags: [p4]
  tags_on_demand: [p4big]
  cmd_new: {NAME}
  cmd_delete: echo $RESALLOC_NAME >> WORK/aa-deleted
nospares:
  max: 5
  max_prealloc: 0
  tags: [p5none]
  cmd_new: {NAME}
  cmd_delete: 'true'
burst:
  max: 10
  max_prealloc: 2
  max_starting: 4
  tags: [p5burst]
  cmd_new: {GATED}; {NAME}
  cmd_delete: 'true'
delayed:
  max: 3
  max_prealloc: 1
  start_delay: 2
  start_backoff: 0
  tags: [p6]
  cmd_new: date +%s.%N >> WORK/p6-starts; exit 1
  cmd_delete: 'true'
limited:
  max: 2
  max_prealloc: 3
  max_starting: 1
  tags: [p7]
  cmd_new: {GATED}; {NAME}
  cmd_delete: 'true'
checked:
  max: 2
  max_prealloc: 1
  tags: [checked]
  livecheck_period: 1
  livecheck_attempts: 2
  start_backoff: 0
  cmd_new: {NAME}
  cmd_livecheck: {CHECK}
  cmd_delete: echo deleted
patient:
  max: 1
  max_prealloc: 1
  tags: [p8]
  livecheck_period: 1
  livecheck_attempts: 100
  cmd_new: {NAME}
  cmd_livecheck: {CHECK}
  cmd_delete: 'true'
cleaned:
  max: 1
  max_prealloc: 1
  tags: [p13]
  cmd_new: {NAME}
  cmd_release: echo $RESALLOC_NAME >> WORK/p13-released
  cmd_delete: echo $RESALLOC_NAME >> WORK/p13-deleted
leftover:
  max: 1
  tags: [p16]
  tags_on_demand: [p16big]
  cmd_new: {GATED}; {NAME}
  cmd_delete: echo $RESALLOC_NAME >> WORK/p16-deleted
hv:
  max: 3
  max_prealloc: 3
  max_starting: 3
  tags: [hv]
  named_counters: [tap]
  cmd_new: echo $RESALLOC_ID_IN_POOL $RESALLOC_NAMED_COUNTER_tap
  cmd_delete: 'true'
hv2:
  max: 1
  max_prealloc: 1
  tags: [hv2]
  named_counters: [tap]
  cmd_new: echo $RESALLOC_ID_IN_POOL $RESALLOC_NAMED_COUNTER_tap
  cmd_delete: 'true'
"""


@pytest.fixture(scope="module")
def site(sites: SiteFactory, site_db: str) -> Site:
    return sites(site_db, POOLS)


def data(site: Site, tid: int) -> str:
    return str(site.rpc().waitTicket(str(tid))).strip()


def close(site: Site, *tids: int) -> None:
    for tid in tids:
        site.rpc().closeTicket(str(tid))


def test_p1_a_released_resource_goes_to_a_later_ticket_of_its_sandbox_only(site: Site) -> None:
    conn = site.rpc()
    site.wait_for("sandboxed", "UP")
    first = conn.takeTicket(["sb"], "user1/project")
    vm = data(site, first)
    close(site, first)
    wait_until(lambda: vm in site.trace("released"), message="cmd_release")
    wait_until(lambda: len(site.in_state("sandboxed", "UP")) == 2, message="reused and a spare")
    other = conn.takeTicket(["sb", "x86_64"], "user2/project")
    assert data(site, other) != vm  # never to another sandbox
    same = conn.takeTicket(["sb"], "user1/project")
    assert data(site, same) == vm  # and preferred to a fresh spare (+500)
    wildcard = conn.takeTicket(["sb", "arm"])  # tags ⊆ the resource's: none has arm
    assert conn.collectTicket(str(wildcard))["ready"] is False
    close(site, other, same, wildcard)


@pytest.mark.parametrize(
    ("passengers", "car"),
    [
        (["mother"], "car3"),
        (["father"], "car2"),
        (["son"], "car1"),
        (["mother", "father"], "car3"),
        (["daughter"], "car2"),
    ],
)
def test_p3_the_highest_sum_of_tag_priorities_wins_resallocs_cars(
    site: Site, passengers: list[str], car: str
) -> None:
    for name in ("car1", "car2", "car3"):
        site.wait_for(name, "UP")
    tid = site.rpc().takeTicket(passengers)
    assert data(site, tid) == car
    close(site, tid)


def test_p2_a_ticket_asking_for_an_on_demand_tag_is_served_first(site: Site) -> None:
    conn = site.rpc()
    older = conn.takeTicket(["p2"])
    younger = conn.takeTicket(["p2", "beefy"])
    (starting,) = site.wait_for("demand", "STARTING")
    site.open_gate(f"open-{starting['id']}")
    assert data(site, younger) == f"demand-{starting['id']}"
    assert conn.collectTicket(str(older))["ready"] is False
    close(site, older, younger)


def test_p4_equal_on_demand_pools_start_in_the_order_of_their_names(site: Site) -> None:
    assert site.resources("zz") == site.resources("aa") == []  # on-demand: no spares
    tid = site.rpc().takeTicket(["p4", "p4big"])
    assert data(site, tid).startswith("aa-")  # aa before zz, though zz comes first in the file
    close(site, tid)


def test_p16_an_on_demand_resource_whose_ticket_went_is_deleted_at_the_next_pass(
    site: Site,
) -> None:
    tid = site.rpc().takeTicket(["p16", "p16big"])
    (starting,) = site.wait_for("leftover", "STARTING")
    close(site, tid)
    site.open_gate(f"open-{starting['id']}")
    wait_until(lambda: starting["name"] in site.trace("p16-deleted"), message="the deletion")


def test_p5_a_normal_pool_starts_nothing_for_waiting_tickets_beyond_max_prealloc(
    site: Site,
) -> None:
    conn = site.rpc()
    tid = conn.takeTicket(["p5none"])
    reason = site.ticket(tid)["waiting_reason"]
    assert reason.startswith("pool nospares: ") and "max_prealloc" in reason
    # passes go on (the p13 pool's resource is replaced by one), and still nothing starts
    served = conn.takeTicket(["p13"])
    data(site, served)
    close(site, served)
    wait_until(lambda: len(site.trace("p13-deleted")) >= 1, message="another pass")
    site.wait_for("cleaned", "UP")
    assert site.resources("nospares") == []
    assert conn.collectTicket(str(tid))["ready"] is False
    close(site, tid)


def test_p5_waiting_tickets_get_at_most_max_prealloc_starting_at_once(site: Site) -> None:
    conn = site.rpc()
    tids = [conn.takeTicket(["p5burst"]) for _ in range(6)]
    most = 0

    def all_served() -> bool:
        nonlocal most
        starting = site.in_state("burst", "STARTING")
        most = max(most, len(starting))
        for r in starting:
            site.open_gate(f"open-{r['id']}")
        return all(conn.collectTicket(str(t))["ready"] for t in tids)

    wait_until(all_served, timeout=30, message="all six served")
    assert 1 <= most <= 2  # max_prealloc, though max_starting is 4 and six tickets wait
    close(site, *tids)


def test_p6_start_delay_counts_failed_starts_too(site: Site) -> None:
    wait_until(lambda: len(site.trace("p6-starts")) >= 3, timeout=20, message="three cmd_new")
    made = site.get("/api/v1/resources", pool="delayed", all="true")
    starts = sorted(datetime.fromisoformat(r["created_at"]).timestamp() for r in made)
    # each start (resalloc's last_start: when the row is made, before cmd_new) is 2 s after
    # the one before, though each cmd_new failed at once
    assert len(starts) >= 3 and all(b - a >= 1.99 for a, b in itertools.pairwise(starts))


def test_p7_max_and_max_starting_bound_the_pool(site: Site) -> None:
    most_starting = most_live = 0

    def both_up() -> bool:
        nonlocal most_starting, most_live
        live = site.resources("limited")
        starting = [r for r in live if r["state"] == "STARTING"]
        most_starting, most_live = max(most_starting, len(starting)), max(most_live, len(live))
        for r in starting:
            site.open_gate(f"open-{r['id']}")
        return len([r for r in live if r["state"] == "UP"]) == 2

    wait_until(both_up, message="max resources UP")
    assert (most_starting, most_live) == (1, 2)  # max_prealloc 3 asks for more


def test_p8_p20_a_spare_whose_last_livecheck_failed_is_not_handed_out(site: Site) -> None:
    (spare,) = site.wait_for("patient", "UP")
    site.open_gate(f"sick-{spare['id']}")
    wait_until(lambda: site.resource(spare["id"])["livecheck_failures"] >= 1, message="a failure")
    conn = site.rpc()
    tid = conn.takeTicket(["p8"])
    assert conn.collectTicket(str(tid))["ready"] is False
    (site.work / f"sick-{spare['id']}").unlink()  # the next check passes
    assert data(site, tid) == f"patient-{spare['id']}"
    assert site.resource(spare["id"])["livecheck_failures"] == 0  # counted from 0 again
    close(site, tid)


def test_p9_an_assigned_resource_that_dies_fails_its_ticket(site: Site) -> None:
    conn = site.rpc()
    tid = conn.takeTicket(["checked"])
    output = conn.waitTicket(str(tid))
    rid = site.ticket(tid)["resource_id"]
    site.open_gate(f"sick-{rid}")

    def failed() -> bool:
        return bool(conn.collectTicket(str(tid))["failed"])

    wait_until(failed, message="the ticket to fail")
    assert conn.collectTicket(str(tid)) == {
        "ready": True,
        "output": output,
        "closed": False,
        "failed": True,
    }
    assert conn.waitTicket(str(tid)) == output
    wait_until(lambda: site.hook_log(rid, "terminate") == b"deleted\n", message="cmd_delete")
    close(site, tid)


def test_p10_a_spare_that_dies_is_deleted_and_replaced(site: Site) -> None:
    (spare, *_) = site.wait_for("checked", "UP")
    site.open_gate(f"sick-{spare['id']}")
    wait_until(lambda: site.hook_log(spare["id"], "terminate") == b"deleted\n", message="deletion")
    (replacement, *_) = site.wait_for("checked", "UP")
    assert replacement["id"] != spare["id"]


def test_p12_reuse_max_time_counts_from_the_first_assignment() -> None:
    p = pool(reuse_opportunity_time=600, reuse_max_time=3600)
    # made 50 minutes ago, first assigned 10 minutes ago, its ticket closed now
    r = res(1, ResourceState.TAKEN, ticket_id=1, age=3000, sandboxed_since=NOW - 600)
    closed = ticket(1, state=TicketState.CLOSED, sandbox="s", resource_id=1)
    (recycle,) = recycling(Snapshot(NOW, (p,), (r,), (closed,)))
    assert recycle.reuse  # resalloc keeps it for reuse up to 60 minutes after the assignment


def test_p13_cmd_release_runs_at_every_close_then_the_resource_is_deleted(site: Site) -> None:
    tid = site.rpc().takeTicket(["p13"])
    data(site, tid)
    rid = site.ticket(tid)["resource_id"]
    before = len(site.trace("p13-released"))
    close(site, tid)
    wait_until(lambda: len(site.trace("p13-released")) == before + 1, message="cmd_release")
    wait_until(lambda: site.resource(rid)["state"] == "ENDED", message="the deletion")
    assert site.resource(rid)["name"] in site.trace("p13-deleted")


def counters(site: Site, pool_name: str) -> dict[int, tuple[int, int]]:
    """(id in pool, tap) of each live resource of the pool, as its cmd_new saw them."""
    found: dict[int, tuple[int, int]] = {}
    for r in site.in_state(pool_name, "UP"):
        in_pool, tap = map(int, site.hook_log(r["id"], "alloc").split())
        found[r["id"]] = (in_pool, tap)
    return found


def test_p21_p22_named_counters_and_ids_in_pool_give_the_smallest_free_values(site: Site) -> None:
    site.wait_for("hv", "UP", 3)
    site.wait_for("hv2", "UP")
    hv, hv2 = counters(site, "hv"), counters(site, "hv2")
    assert sorted(i for i, _ in hv.values()) == [0, 1, 2] and [i for i, _ in hv2.values()] == [0]
    # the counter is shared by both pools, as in resalloc's database
    assert sorted(t for _, t in [*hv.values(), *hv2.values()]) == [0, 1, 2, 3]
    middle = next(rid for rid, (i, _) in hv.items() if i == 1)
    freed_tap = hv[middle][1]
    assert site.maint("resource-delete", str(middle)).returncode == 0
    wait_until(lambda: site.resource(middle)["state"] == "ENDED", message="the deletion")

    def replaced() -> dict[int, tuple[int, int]]:
        now = counters(site, "hv")
        return {rid: v for rid, v in now.items() if rid not in hv}

    (value,) = wait_until(replaced, message="a replacement").values()  # type: ignore[union-attr]
    assert value == (1, freed_tap)


def test_x2_a_ready_spare_is_assigned_within_take_ticket(site: Site) -> None:
    """Kept difference: resalloc assigns at its next pass; a client polling collectTicket
    sees `ready: True` sooner, which changes nothing it does."""
    site.wait_for("cleaned", "UP")
    conn = site.rpc()
    tid = conn.takeTicket(["p13"])
    assert conn.collectTicket(str(tid))["ready"] is True
    close(site, tid)
