"""Planner leadership on PostgreSQL: one leader at a time, handed over when it goes quiet."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from tests.conftest import PgCluster, wait_until

from lessor.store.leadership import IDLE_LIMIT, PgLeadership

pytestmark = pytest.mark.postgres


def test_one_server_leads_and_hands_over_when_it_stops_or_goes_quiet(
    pg_cluster: PgCluster,
) -> None:
    url = sa.make_url(pg_cluster.new_database()).set(drivername="postgresql+psycopg")
    a, b, c = PgLeadership(url), PgLeadership(url), PgLeadership(url)
    try:
        assert a.keep()
        assert not b.keep() and not c.keep()
        assert a.keep()  # a heartbeat keeps it
        a.close()  # a clean stop hands over at once
        assert b.keep()
        assert not c.keep()
        # b goes quiet (SIGSTOP, a hung event loop): PostgreSQL ends its session
        wait_until(c.keep, timeout=IDLE_LIMIT + 10, interval=0.2, message="c to take the lead")
        assert not b.keep()  # woken up, it knows it lost the lead
    finally:
        for one in (a, b, c):
            one.close()
