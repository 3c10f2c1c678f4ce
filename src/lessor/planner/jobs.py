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

from collections.abc import Callable, Mapping, Sequence

from lessor.domain.model import Resource, Ticket


def match(
    parts: Sequence[Ticket], fitting: Callable[[Ticket], list[Resource]]
) -> dict[int, Resource]:
    """The most parts that can each have their own resource: part ticket id -> resource.

    `fitting(part)`: the free resources that fit a part, best first. Kuhn's augmenting
    paths; parts are few, so this is cheap, and the outcome depends only on the parts'
    order (by id) and the candidates' (by preference), never on the snapshot's.
    """
    candidates = {p.id: fitting(p) for p in parts}
    owner: dict[int, int] = {}  # resource id -> part ticket id
    by_id = {r.id: r for rs in candidates.values() for r in rs}

    def augment(part_id: int, seen: set[int]) -> bool:
        for r in candidates[part_id]:
            if r.id in seen:
                continue
            seen.add(r.id)
            if r.id not in owner or augment(owner[r.id], seen):
                owner[r.id] = part_id
                return True
        return False

    for p in sorted(parts, key=lambda t: t.id):
        augment(p.id, set())
    return {part_id: by_id[rid] for rid, part_id in owner.items()}


def parts_of(tickets: Sequence[Ticket]) -> Mapping[int, list[Ticket]]:
    """Every job's parts in the snapshot, by job id."""
    jobs: dict[int, list[Ticket]] = {}
    for t in tickets:
        if t.job_id is not None:
            jobs.setdefault(t.job_id, []).append(t)
    return jobs


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
