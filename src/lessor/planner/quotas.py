"""Quotas: a user holds at most so many resources at once, per pool or in all (domain/users.py).

Counted from the snapshot (every TAKEN resource and the owner of its ticket), and
kept by every hand-out of the plan as it is made, so a plan never gives a user
more than the quota allows, on this server or another: the grants are guarded
writes of one planner at a time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from lessor.domain.model import Resource, Snapshot, Ticket
from lessor.domain.users import over_quota


class Quotas:
    def __init__(self, s: Snapshot, taken: Iterable[Resource]) -> None:
        """`taken`: the snapshot's TAKEN resources."""
        self.quotas = s.quotas
        self.held: dict[str, Counter[str]] = {}
        if not s.quotas:
            return  # nobody's held resources count: no pass over them
        owners = {t.id: t.owner for t in s.tickets if t.owner in s.quotas}
        for r in taken:
            owner = owners.get(r.ticket_id) if r.ticket_id is not None else None
            if owner is not None:
                self.held.setdefault(owner, Counter())[r.pool] += 1

    def refusal(self, t: Ticket, pools: Iterable[str]) -> str | None:
        """Why the ticket's owner may take none more of these pools' resources, or None
        when it may take one of some pool (or has no quota)."""
        quotas = self.quotas.get(t.owner or "")
        if not quotas:
            return None
        held = self.held.get(t.owner or "", Counter())
        why = [over_quota(quotas, held, p) for p in sorted(set(pools))]
        return None if not why or any(w is None for w in why) else why[0]

    def allows(self, t: Ticket, rs: Iterable[Resource]) -> bool:
        """Whether the ticket's owner may take all of `rs` (one ticket or a job's parts) now."""
        quotas = self.quotas.get(t.owner or "")
        if not quotas:
            return True
        held = Counter(self.held.get(t.owner or "", Counter()))
        for r in rs:
            if over_quota(quotas, held, r.pool) is not None:
                return False
            held[r.pool] += 1
        return True

    def take(self, t: Ticket, rs: Iterable[Resource]) -> None:
        if t.owner in self.quotas:
            held = self.held.setdefault(t.owner or "", Counter())
            for r in rs:
                held[r.pool] += 1
