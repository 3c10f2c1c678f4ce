"""Reading the event log: replaying it into a history of counts (following it: waiting.py).

Recording is the store's job (each transition writes its event in its own
transaction) plus the reconciler's for hook runs, through `hook_started` and
`hook_finished` here so every hook event has the same shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lessor.domain.events import Event, EventFilter
from lessor.domain.kinds import EventKind as K
from lessor.domain.states import RESOURCE_STATE_AFTER, ResourceState, state_after
from lessor.store.interface import Store

TICKET_DONE_WAITING = frozenset(
    {K.TICKET_ASSIGNED, K.TICKET_CLOSED, K.TICKET_FAILED, K.TICKET_EXPIRED}
)
REPLAYED = (*RESOURCE_STATE_AFTER, K.RESOURCE_IMPORTED, K.TICKET_OPENED, *TICKET_DONE_WAITING)
"""The kinds that change a count in the history (hook runs, say, do not)."""
PAGE = 2000
"""Events read per query while replaying or catching up."""


def hook_started(hook: str, resource_id: int, pool: str, log: str, now: float) -> Event:
    return Event(
        K.HOOK_STARTED,
        now,
        resource_id=resource_id,
        pool=pool,
        message=f"{hook} started",
        details={"hook": hook, "log": log},
    )


def hook_finished(
    hook: str,
    resource_id: int,
    pool: str,
    log: str,
    exit_code: int,
    duration: float,
    message: str,
    now: float,
) -> Event:
    return Event(
        K.HOOK_FINISHED,
        now,
        resource_id=resource_id,
        pool=pool,
        message=message,
        details={
            "hook": hook,
            "log": log,
            "exit_code": exit_code,
            "duration": round(duration, 3),
            "ok": exit_code == 0,
        },
    )


@dataclass(frozen=True)
class History:
    """Counts sampled at `times`: resources per state (all pools) and tickets waiting."""

    times: tuple[float, ...]
    resources: dict[ResourceState, tuple[int, ...]]
    waiting: tuple[int, ...]


def history(store: Store, start: float, end: float, points: int) -> History:
    """Replay the events between `start` and `end` from the state at `start`."""
    states = store.resource_states_at(start)
    waiting = store.waiting_tickets_at(start)
    step = (end - start) / max(1, points - 1)
    times = tuple(start + i * step for i in range(points))
    counts: dict[ResourceState, list[int]] = {
        s: [] for s in ResourceState if s is not ResourceState.ENDED
    }
    waits: list[int] = []
    pending = _events_between(store, start, end)
    current: Event | None = next(pending, None)
    for t in times:
        while current is not None and current.at <= t:
            _apply(current, states, waiting)
            current = next(pending, None)
        tally = dict.fromkeys(counts, 0)
        for _, state in states.values():
            tally[state] += 1
        for s, n in tally.items():
            counts[s].append(n)
        waits.append(len(waiting))
    return History(times, {s: tuple(v) for s, v in counts.items()}, tuple(waits))


def _events_between(store: Store, start: float, end: float) -> Iterator[Event]:
    after = 0
    while True:
        page = store.list_events(
            EventFilter(since=start, after_id=after, kinds=REPLAYED, limit=PAGE)
        )
        for e in page:
            if e.at > end:
                return
            yield e
        if len(page) < PAGE:
            return
        after = page[-1].id


def _apply(e: Event, states: dict[int, tuple[str, ResourceState]], waiting: set[int]) -> None:
    state = state_after(e.kind, e.details) if e.resource_id is not None else None
    if e.resource_id is not None and state is not None:
        if state is ResourceState.ENDED:
            states.pop(e.resource_id, None)
        else:
            states[e.resource_id] = (e.pool or "", state)
    if e.ticket_id is not None:
        if e.kind == K.TICKET_OPENED:
            waiting.add(e.ticket_id)
        elif e.kind in TICKET_DONE_WAITING:
            waiting.discard(e.ticket_id)
