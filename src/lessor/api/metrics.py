"""GET /metrics: Prometheus text format.

Counters and histograms come from the service's registry (fed by events as
they are committed); the gauges of the current state are read from the
database at each scrape, so every server sharing a database reports the same.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from lessor.api.deps import service_of
from lessor.domain.states import ResourceState, TicketState
from lessor.service.core import LessorService

router = APIRouter(tags=["health"])


class StateCollector(Collector):
    def __init__(self, service: LessorService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        resources = GaugeMetricFamily(
            "lessor_resources",
            "Resources that exist (or are being started or deleted), by pool and state",
            labels=["pool", "state"],
        )
        limits = GaugeMetricFamily(
            "lessor_pool_max", "The pool's max: most resources it may have", labels=["pool"]
        )
        prealloc = GaugeMetricFamily(
            "lessor_pool_max_prealloc", "Ready spares the pool keeps", labels=["pool"]
        )
        spares = GaugeMetricFamily(
            "lessor_pool_spares",
            "Spares the pool keeps now (max_prealloc, or as target_wait sized them)",
            labels=["pool"],
        )
        target = GaugeMetricFamily(
            "lessor_pool_target_wait_seconds",
            "The pool's target_wait: the p95 of the wait its spares are sized for",
            labels=["pool"],
        )
        forecast = GaugeMetricFamily(
            "lessor_pool_forecast_wait_seconds",
            "The p95 wait forecast with the spares target_wait keeps this hour",
            labels=["pool"],
        )
        drained = GaugeMetricFamily(
            "lessor_pool_drained", "1 if an admin drained the pool", labels=["pool"]
        )
        failures = GaugeMetricFamily(
            "lessor_pool_start_failures",
            "The pool's failed starts in a row (0: it is not failing; it backs off while not)",
            labels=["pool"],
        )
        for status in self.service.pool_statuses():
            name = status.pool.name
            for state in ResourceState:
                if state is not ResourceState.ENDED:
                    resources.add_metric([name, state], status.counts.get(state, 0))
            limits.add_metric([name], status.pool.max)
            prealloc.add_metric([name], status.pool.max_prealloc)
            spares.add_metric([name], status.pool.prealloc)
            if status.pool.target_wait_p95 is not None:
                target.add_metric([name], status.pool.target_wait_p95)
                if status.pool.spares_wait is not None:
                    forecast.add_metric([name], status.pool.spares_wait)
            drained.add_metric([name], int(status.pool.drained))
            failures.add_metric([name], status.pool.start_failures)
        yield from (resources, limits, prealloc, spares, target, forecast, drained, failures)

        active = self.service.list_tickets([TicketState.OPEN, TicketState.ASSIGNED])
        tickets = GaugeMetricFamily(
            "lessor_tickets", "Tickets not closed yet, by state", labels=["state"]
        )
        for ticket_state in (TicketState.OPEN, TicketState.ASSIGNED):
            tickets.add_metric([ticket_state], sum(t.state is ticket_state for t in active))
        waiting = [t for t in active if t.state is TicketState.OPEN]
        now = time.time()
        yield tickets
        yield GaugeMetricFamily(
            "lessor_tickets_waiting", "Tickets waiting for a resource (OPEN)", value=len(waiting)
        )
        yield GaugeMetricFamily(
            "lessor_ticket_oldest_wait_seconds",
            "How long the longest-waiting open ticket has waited (0 when none waits)",
            value=max((now - t.created_at for t in waiting), default=0.0),
        )


class _Counted(Collector):
    """The service's own registry (counters and histograms), served alongside the state."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus metrics: resources, tickets, wait times, hook durations and failures."""
    service = service_of(request)
    scrape = CollectorRegistry(auto_describe=True)
    scrape.register(StateCollector(service))
    scrape.register(_Counted(service.metrics.registry))
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(scrape), media_type=content_type)
