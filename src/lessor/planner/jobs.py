"""Granting jobs: all of a job's parts at once, or none of them (docs/policy.md, "Jobs").

A job takes its place in the queue as one unit, at the place of its first part.
There it is matched as a whole against the free resources (a maximum matching of
parts to resources that fit them, so one part's choice never blocks another's
needlessly). If every part has one, the job is granted: one action, applied in one
transaction. If not, it takes nothing, but the resources it matched are *set aside*
for it: no ticket or job later in the queue takes them, and they are neither
counted as spares nor retired as idle, while the pools start what the other parts
need. That is the fairness rule: a job is never overtaken by later tickets for what
it can use, so it waits only for the tickets ahead of it and for resources to come up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TypeVar

from lessor.domain.matching import pool_serves, unservable_tags
from lessor.domain.model import Pool, Resource, Ticket
from lessor.domain.states import TicketState
from lessor.planner.actions import FailTicket
from lessor.planner.messages import no_pool_message

K = TypeVar("K")
S = TypeVar("S")


def match(
    parts: Sequence[Ticket], fitting: Callable[[Ticket], list[Resource]]
) -> dict[int, Resource]:
    """The most parts that can each have their own resource: part ticket id -> resource.

    `fitting(part)`: the free resources that fit a part, best first. The outcome depends
    only on the parts' order (by id) and the candidates' (by preference), never on the
    snapshot's.
    """
    candidates = {p.id: [r.id for r in fitting(p)] for p in sorted(parts, key=lambda t: t.id)}
    by_id = {r.id: r for p in parts for r in fitting(p)}
    return {part_id: by_id[rid] for rid, part_id in _matching(candidates).items()}


def _matching(candidates: Mapping[K, list[S]]) -> dict[S, K]:
    """A maximum matching, each key to its own candidate: candidate -> key. Kuhn's
    augmenting paths, keys tried in the mapping's order; parts are few, so this is cheap."""
    owner: dict[S, K] = {}

    def augment(key: K, seen: set[S]) -> bool:
        for c in candidates[key]:
            if c in seen:
                continue
            seen.add(c)
            if c not in owner or augment(owner[c], seen):
                owner[c] = key
                return True
        return False

    for key in candidates:
        augment(key, set())
    return owner


def beyond_max(pools: Iterable[Pool], parts: Mapping[str, Sequence[str]]) -> tuple[str, str] | None:
    """Which part (name -> tags) can never be served with the others, and why; or None.

    Each part needs a resource of its own from a pool that serves its tags, and a pool
    has at most `max` at once: a job whose parts need more than that waits for ever (and
    keeps what it sets aside from everyone else), so it is refused or failed instead.
    Names the first part left without a place, the pools it could use and their `max`.
    """
    serving = {name: [p for p in pools if pool_serves(p, tags)] for name, tags in parts.items()}
    slots = {
        name: [(p.name, i) for p in ps for i in range(min(p.max, len(parts)))]
        for name, ps in serving.items()
    }
    placed = set(_matching(slots).values())
    for name, ps in serving.items():
        if name in placed or not ps:
            continue  # a part no pool serves at all is another refusal (unservable_tags)
        names = {p.name for p in ps}
        needing = [n for n, others in serving.items() if names & {p.name for p in others}]
        limits = ", ".join(f"pool {p.name} has max {p.max}" for p in ps)
        return (
            name,
            f"{limits}, and {len(needing)} parts of the job "
            f"({', '.join(needing)}) need one each at once",
        )
    return None


def waiting_reason(
    job_id: int, parts: Sequence[Ticket], set_aside: Mapping[int, int], why: Mapping[int, str]
) -> Mapping[int, str]:
    """Why each part of a waiting job waits: "job 7 waits for part arm: pool arm 2/2 at
    max; part x86 ready (resource 4 set aside)"."""
    ready = [
        f"part {p.part} ready (resource {set_aside[p.id]} set aside)"
        for p in parts
        if p.id in set_aside
    ]
    missing = [
        f"part {p.part}: {why.get(p.id, 'no free resource yet')}"
        for p in parts
        if p.id not in set_aside
    ]
    text = f"job {job_id} waits for " + "; ".join(missing + ready)
    return {p.id: text for p in parts}


def never_served(pools: Sequence[Pool], jobs: Mapping[int, list[Ticket]]) -> Iterator[FailTicket]:
    """Fail each waiting job the pools can no longer serve (pools changed by a reload):
    a part whose tags no pool provides, or parts beyond the pools' `max`. One part fails
    naming why, and failing a part ends its whole job (service/jobs.py), rather than have
    it wait for ever with resources set aside. (A lone ticket no pool serves waits, as in
    resalloc: it sets nothing aside.)"""
    for job_id, parts in jobs.items():
        if any(p.state is not TicketState.OPEN for p in parts):
            continue
        ordered = sorted(parts, key=lambda p: p.id)
        named = {p.part or str(p.id): p.tags for p in ordered}
        unservable = ((n, unservable_tags(pools, tags)) for n, tags in named.items())
        why = next(((n, no_pool_message(m)) for n, m in unservable if m), None)
        why = why or beyond_max(pools, named)
        if why is not None:
            message = f"job {job_id} can never be served: part {why[0]}: {why[1]}"
            yield FailTicket(ordered[0].id, message)
