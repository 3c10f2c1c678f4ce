"""The web UI's pages: each handler reads through the service and renders one template.

Every page has a `live` block; when the browser's script asks with the
X-Lessor-Live header (after an event arrived on the SSE stream) only that
block is rendered and swapped in, so pages follow the state without reloads.
Admin actions are buttons that call the JSON API with the admin token the
visitor typed in; the pages themselves need no privilege and show no secrets.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from lessor import __version__
from lessor.domain.events import EventFilter
from lessor.domain.model import Resource, Ticket
from lessor.domain.states import RESOURCE_STATE_AFTER, ResourceState, TicketState
from lessor.service.core import LessorService
from lessor.service.errors import NotFound
from lessor.web import chart, logs
from lessor.web.format import FILTERS

R = ResourceState
T = TicketState
LIVE_HEADER = "x-lessor-live"
CHART_HOURS = 6.0

router = APIRouter(include_in_schema=False)
env = Environment(
    loader=PackageLoader("lessor.web", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters.update(FILTERS)
env.globals["state_after"] = RESOURCE_STATE_AFTER


def _service(request: Request) -> LessorService:
    return request.app.state.service  # type: ignore[no-any-return]


def _page(request: Request, name: str, **context: Any) -> HTMLResponse:
    context.update(request=request, now=time.time(), version=__version__)
    template = env.get_template(name)
    if request.headers.get(LIVE_HEADER):
        block = template.blocks["live"](template.new_context(context))
        return HTMLResponse("".join(block))
    return HTMLResponse(template.render(context))


def _shown_data(service: LessorService, r: Resource) -> str | None:
    """The data as the UI may show it: never for a pool that keeps it secret."""
    if r.data is None or service.data_is_secret(r.pool):
        return None
    return r.data.decode(errors="replace")


@router.get("/", response_class=HTMLResponse)
def overview(request: Request) -> HTMLResponse:
    service = _service(request)
    tickets = service.list_tickets([T.OPEN])
    history = service.history(CHART_HOURS)
    svg = chart.render(history, f"resources and waiting tickets, last {CHART_HOURS:g} hours")
    return _page(
        request,
        "overview.html",
        pools=service.pool_statuses(),
        waiting=_queue(tickets)[:10],
        waiting_total=len(tickets),
        reasons=service.why_waiting(tickets),
        chart=Markup(svg),  # our own SVG: every text in it is escaped
        events=list(reversed(service.list_events(EventFilter(limit=15)))),
    )


@router.get("/ui/chart.svg")
def chart_svg(
    request: Request, hours: Annotated[float, Query(gt=0, le=24 * 14)] = CHART_HOURS
) -> Response:
    history = _service(request).history(hours)
    svg = chart.render(history, f"resources and waiting tickets, last {hours:g} hours")
    return Response(svg, media_type="image/svg+xml")


@router.get("/ui/resources", response_class=HTMLResponse)
def resources(
    request: Request,
    pool: str = "",
    state: str = "",
    tag: str = "",
    q: str = "",
    ended: bool = False,
) -> HTMLResponse:
    service = _service(request)
    states: list[ResourceState] | None = None
    if state in set(ResourceState):
        states = [R(state)]
    elif not ended:
        states = [s for s in ResourceState if s is not R.ENDED]
    rows = service.list_resources(states, pool or None)
    if tag:
        rows = [r for r in rows if tag in r.tags]
    if q:
        rows = [r for r in rows if q.lower() in r.name.lower()]
    if ended and not state:
        rows = rows[-500:]  # history piles up; the newest are the interesting ones
    return _page(
        request,
        "resources.html",
        rows=rows,
        pools=[p.name for p in service.pools],
        states=list(ResourceState),
        f={"pool": pool, "state": state, "tag": tag, "q": q, "ended": ended},
    )


@router.get("/ui/resources/{resource_id}", response_class=HTMLResponse)
def resource(request: Request, resource_id: int) -> HTMLResponse:
    service = _service(request)
    r = service.get_resource(resource_id)
    secret = service.data_is_secret(r.pool)
    return _page(
        request,
        "resource.html",
        r=r,
        data=_shown_data(service, r),
        secret=secret,
        events=list(reversed(service.list_events(EventFilter(resource_id=r.id, limit=200)))),
        logs=logs.hook_logs(_logdir(request), r.id),
    )


@router.get("/ui/resources/{resource_id}/logs/{suffix}", response_class=PlainTextResponse)
def hook_log(request: Request, resource_id: int, suffix: str) -> PlainTextResponse:
    if suffix not in logs.HOOKS:
        raise NotFound(f"no hook log {suffix!r}; there are {', '.join(logs.HOOKS)}")
    service = _service(request)
    r = service.get_resource(resource_id)
    path = logs.log_path(_logdir(request), r.id, suffix)
    if not path.exists():
        raise NotFound(f"resource {r.id} has no {logs.HOOKS[suffix]} log")
    return PlainTextResponse(logs.read_log(path, secret=service.data_is_secret(r.pool)))


@router.get("/ui/tickets", response_class=HTMLResponse)
def tickets(request: Request, state: str = "") -> HTMLResponse:
    service = _service(request)
    states = [T(state)] if state in set(TicketState) else [T.OPEN, T.ASSIGNED]
    rows = service.list_tickets(states)
    if state in (T.CLOSED, T.FAILED):
        rows = rows[-200:]
    live = {r.id: r for r in service.list_resources([s for s in R if s is not R.ENDED])}
    return _page(
        request,
        "tickets.html",
        waiting=_queue([t for t in rows if t.state is T.OPEN]),
        others=sorted((t for t in rows if t.state is not T.OPEN), key=lambda t: -t.id),
        resources=live,
        reasons=service.why_waiting(rows),
        states=list(TicketState),
        f={"state": state},
    )


@router.get("/ui/tickets/{ticket_id}", response_class=HTMLResponse)
def ticket(request: Request, ticket_id: int) -> HTMLResponse:
    service = _service(request)
    t = service.get_ticket(ticket_id)
    r = service.get_resource(t.resource_id) if t.resource_id is not None else None
    return _page(
        request,
        "ticket.html",
        t=t,
        r=r,
        reason=service.why_waiting([t]).get(t.id, ""),
        events=list(reversed(service.list_events(EventFilter(ticket_id=t.id, limit=200)))),
    )


@router.get("/ui/events", response_class=HTMLResponse)
def events(
    request: Request,
    ticket: int | None = None,
    resource: int | None = None,
    pool: str = "",
    kind: str = "",
) -> HTMLResponse:
    service = _service(request)
    f = EventFilter(
        ticket_id=ticket,
        resource_id=resource,
        pool=pool or None,
        kinds=(kind,) if kind else (),
        limit=300,
    )
    return _page(
        request,
        "events.html",
        events=list(reversed(service.list_events(f))),
        pools=[p.name for p in service.pools],
        f={"ticket": ticket or "", "resource": resource or "", "pool": pool, "kind": kind},
    )


def _queue(waiting: list[Ticket]) -> list[Ticket]:
    """Open tickets in the order they are served: higher priority first, then oldest."""
    return sorted(waiting, key=lambda t: (-t.priority, t.id))


def _logdir(request: Request) -> Path:
    logdir: Path = request.app.state.logdir
    return logdir
