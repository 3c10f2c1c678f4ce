"""Counters and histograms, fed from the event log as events are committed.

Observing events rather than calling sites keeps one place that knows what
each number means, and whatever records an event (the store's transitions,
the reconciler's hook runs) is measured without remembering to be. Gauges of
the current state (resources per pool and state, tickets open) are read from
the database at scrape time instead, so they are right even on a server that
has just started or shares its database with others.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from lessor.domain.events import Event
from lessor.domain.kinds import EventKind as K

WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 900, 1800, 3600, 4 * 3600)
HOOK_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class Metrics:
    """One registry per service, so several servers in one process (tests) never mix numbers."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.ticket_wait = Histogram(
            "lessor_ticket_wait_seconds",
            "Seconds from opening a ticket to its assignment",
            buckets=WAIT_BUCKETS,
            registry=self.registry,
        )
        self.hook_duration = Histogram(
            "lessor_hook_duration_seconds",
            "Seconds each hook ran, by pool and hook",
            ["pool", "hook"],
            buckets=HOOK_BUCKETS,
            registry=self.registry,
        )
        self.hook_failures = Counter(
            "lessor_hook_failures",
            "Hook runs that exited non-zero or timed out, by pool and hook",
            ["pool", "hook"],
            registry=self.registry,
        )
        self.livecheck_failures = Counter(
            "lessor_livecheck_failures",
            "Failed livechecks, by pool",
            ["pool"],
            registry=self.registry,
        )
        self.events = Counter(
            "lessor_events",
            "Events recorded by this server, by kind",
            ["kind"],
            registry=self.registry,
        )

        self._by_kind: dict[str, Any] = {}
        """The `events` counter of each kind, looked up once (labels() costs more than inc())."""

    def observe(self, batch: Iterable[Event]) -> None:
        for e in batch:
            counter = self._by_kind.get(e.kind)
            if counter is None:
                counter = self._by_kind[e.kind] = self.events.labels(str(e.kind))
            counter.inc()
            pool = e.pool or ""
            if e.kind == K.TICKET_ASSIGNED:
                self.ticket_wait.observe(float(e.details.get("waited", 0.0)))
            elif e.kind == K.HOOK_FINISHED:
                hook = str(e.details.get("hook", ""))
                self.hook_duration.labels(pool, hook).observe(float(e.details.get("duration", 0)))
                if not e.details.get("ok", False):
                    self.hook_failures.labels(pool, hook).inc()
            elif e.kind == K.RESOURCE_LIVECHECK_FAILED:
                self.livecheck_failures.labels(pool).inc()
