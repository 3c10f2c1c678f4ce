"""The web UI's pages: each handler reads through the service and renders one template.

Every page has a `live` block; when the browser's script asks with the
X-Lessor-Live header (after an event arrived on the SSE stream) only that
block is rendered and swapped in, so pages follow the state without reloads.
Admin actions are buttons that call the JSON API with the admin token the
visitor typed in; the pages themselves need no privilege and show no secrets.
What goes wrong (an id that names nothing, a filter that makes no sense) is
answered as a page of the site with its status and one line, never as JSON.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from starlette.exceptions import HTTPException

from lessor import __version__
from lessor.domain.capacity import ProviderState
from lessor.domain.events import EventFilter
from lessor.domain.kinds import EventKind
from lessor.domain.model import Resource, Ticket
from lessor.domain.paging import Page
from lessor.domain.states import RESOURCE_STATE_AFTER, ResourceState, TicketState
from lessor.domain.values import MAX_ID
from lessor.service.capacity import CapacityService
from lessor.service.core import LessorService
from lessor.service.errors import NotFound, ServiceError
from lessor.web import chart, logs
from lessor.web.format import FILTERS

R = ResourceState
T = TicketState
LIVE_HEADER = "x-lessor-live"
CHART_HOURS = 6.0
HISTORY_PAGE = 200
"""Closed tickets or ended resources a page shows, newest first; `before` pages back."""
S = TypeVar("S", ResourceState, TicketState)


class _PageRoute(APIRoute):
    """A UI route: an error is answered as a page of the site, or as plain text for a raw log."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        plain = self.response_class is PlainTextResponse

        async def route(request: Request) -> Response:
            try:
                return await handle(request)
            except (ServiceError, HTTPException, RequestValidationError) as e:
                status, message = _problem(e)
                if plain:
                    return PlainTextResponse(f"{message}\n", status, headers=logs.HEADERS)
                return _page(request, "error.html", status=status, message=message)

        return route


router = APIRouter(include_in_schema=False, route_class=_PageRoute)
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


def _page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.update(
        request=request,
        now=time.time(),
        version=__version__,
        admin_configured=bool(request.app.state.admin_token),
        open_logs=_open_pools(_service(request)),
        status=status,
        phrase=HTTPStatus(status).phrase,
    )
    template = env.get_template(name)
    if request.headers.get(LIVE_HEADER):
        block = template.blocks["live"](template.new_context(context))
        return HTMLResponse("".join(block), status)
    return HTMLResponse(template.render(context), status)


def _problem(e: Exception) -> tuple[int, str]:
    """The status and the one line a visitor reads for what went wrong."""
    if isinstance(e, ServiceError):
        return e.status, str(e)
    if isinstance(e, HTTPException):
        return e.status_code, str(e.detail)
    assert isinstance(e, RequestValidationError)
    parts = []
    for err in e.errors():
        field = str(err.get("loc", ("",))[-1])
        parts.append(f"{field} {err.get('input')!r}: {err.get('msg')}")
    return 422, "; ".join(parts)


def _open_pools(service: LessorService) -> set[str]:
    """The pools whose data and hook logs the UI shows: the known ones that keep nothing secret.

    Fails closed: a pool configured nowhere any more may have kept its data
    secret, and the UI cannot know.
    """
    return {p.name for p in service.recent_pools() if not p.secret_data}


def _secrecy(service: LessorService, pool_name: str) -> str | None:
    """Why the UI keeps a pool's data and hook logs to itself, if it does."""
    if pool_name in _open_pools(service):
        return None
    if service.pool(pool_name) is None:
        return logs.secret_notice(pool_name, "is no longer configured (its data may be secret)")
    return logs.secret_notice(pool_name, "keeps its data secret (secret_data)")


def _shown_data(service: LessorService, r: Resource) -> str | None:
    """The data as the UI may show it: never for a pool that keeps it secret."""
    if r.data is None or _secrecy(service, r.pool):
        return None
    return r.data.decode(errors="replace")


def _number(what: str, text: str) -> int:
    if not text.isascii() or not text.isdecimal():
        raise HTTPException(422, f"{what} id {text!r} is not a number")
    return int(text)


def _id(what: str, text: str) -> int:
    """An id in a URL's path: 422 when it is not a number, 404 when no row can have it."""
    value = _number(what, text)
    if not 1 <= value <= MAX_ID:
        raise NotFound(f"{what} {value} does not exist")
    return value


def _id_filter(what: str, text: str) -> int | None:
    """An id a form filters by; empty is no filter."""
    if not text.strip():
        return None
    value = _number(what, text.strip())
    if value > MAX_ID:
        raise HTTPException(422, f"{what} id {value} is too large: ids go up to {MAX_ID}")
    return value


def _state(enum: type[S], text: str) -> S | None:
    """A state filter, in any case; empty is no filter."""
    if not text.strip():
        return None
    try:
        return enum(text.strip().upper())
    except ValueError:
        raise HTTPException(
            422, f"state {text!r} is not one of {', '.join(enum)} (or empty for the default)"
        ) from None


@router.get("/", response_class=HTMLResponse)
def overview(request: Request) -> HTMLResponse:
    service = _service(request)
    tickets = service.list_tickets([T.OPEN])
    history = service.history(CHART_HOURS)
    return _page(
        request,
        "overview.html",
        pools=service.pool_statuses(),
        waiting=_queue(tickets)[:10],
        waiting_total=len(tickets),
        reasons=service.why_waiting(tickets),
        chart=Markup(
            chart.render(history, chart.caption(CHART_HOURS))
        ),  # our own SVG: its texts are escaped
        events=list(reversed(service.list_events(EventFilter(limit=15)))),
    )


@router.get("/ui/chart.svg", response_class=Response)
def chart_svg(
    request: Request, hours: Annotated[float, Query(gt=0, le=24 * 14)] = CHART_HOURS
) -> Response:
    history = _service(request).history(hours)
    return Response(chart.render(history, chart.caption(hours)), media_type="image/svg+xml")


@router.get("/ui/resources", response_class=HTMLResponse)
def resources(
    request: Request,
    pool: str = "",
    state: str = "",
    tag: str = "",
    q: str = "",
    ended: bool = False,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    service = _service(request)
    chosen = _state(ResourceState, state)
    states: list[ResourceState] | None = None
    if chosen is not None:
        states = [chosen]
    elif not ended:
        states = [s for s in ResourceState if s is not R.ENDED]
    # History piles up: ENDED ones a page at a time, newest first; live ones are few.
    history = chosen is R.ENDED or (ended and chosen is None)
    page = Page(HISTORY_PAGE, before, newest_first=True) if history else None
    rows = service.list_resources(states, pool or None, page)
    older = rows[-1].id if page is not None and len(rows) == HISTORY_PAGE else None
    if page is not None:
        rows.reverse()
    if tag:
        rows = [r for r in rows if tag in r.tags]
    if q:
        rows = [r for r in rows if q.lower() in r.name.lower()]
    return _page(
        request,
        "resources.html",
        rows=rows,
        pools=[p.name for p in service.pools],
        states=list(ResourceState),
        f={"pool": pool, "state": chosen or "", "tag": tag, "q": q, "ended": ended},
        older=request.url.include_query_params(before=older) if older else None,
    )


@router.get("/ui/resources/{resource_id}", response_class=HTMLResponse)
def resource(request: Request, resource_id: str) -> HTMLResponse:
    service = _service(request)
    r = service.get_resource(_id("resource", resource_id))
    return _page(
        request,
        "resource.html",
        r=r,
        data=_shown_data(service, r),
        secret=_secrecy(service, r.pool),
        events=list(reversed(service.list_events(EventFilter(resource_id=r.id, limit=200)))),
        logs=logs.hook_logs(_logdir(request), r.id),
    )


@router.get("/ui/resources/{resource_id}/logs/{suffix}", response_class=PlainTextResponse)
def hook_log(request: Request, resource_id: str, suffix: str) -> PlainTextResponse:
    if suffix not in logs.HOOKS:
        raise NotFound(f"no hook log {suffix!r}; there are {', '.join(logs.HOOKS)}")
    service = _service(request)
    r = service.get_resource(_id("resource", resource_id))
    secret = _secrecy(service, r.pool)
    if secret:
        raise HTTPException(403, secret)
    path = logs.log_path(_logdir(request), r.id, suffix)
    if not path.exists():
        raise NotFound(f"resource {r.id} has no {logs.HOOKS[suffix]} log")
    return PlainTextResponse(logs.read_tail(path), headers=logs.HEADERS)


@router.get("/ui/tickets", response_class=HTMLResponse)
def tickets(
    request: Request,
    state: str = "",
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    service = _service(request)
    chosen = _state(TicketState, state)
    # Closed and failed ones pile up: a page at a time, newest first.
    page = Page(HISTORY_PAGE, before, newest_first=True) if chosen in (T.CLOSED, T.FAILED) else None
    rows = service.list_tickets([chosen] if chosen else [T.OPEN, T.ASSIGNED], page)
    older = rows[-1].id if page is not None and len(rows) == HISTORY_PAGE else None
    live = {r.id: r for r in service.list_resources([s for s in R if s is not R.ENDED])}
    return _page(
        request,
        "tickets.html",
        waiting=_queue([t for t in rows if t.state is T.OPEN]),
        others=sorted((t for t in rows if t.state is not T.OPEN), key=lambda t: -t.id),
        resources=live,
        reasons=service.why_waiting(rows),
        states=list(TicketState),
        f={"state": chosen or ""},
        older=request.url.include_query_params(before=older) if older else None,
    )


@router.get("/ui/tickets/{ticket_id}", response_class=HTMLResponse)
def ticket(request: Request, ticket_id: str) -> HTMLResponse:
    service = _service(request)
    t = service.get_ticket(_id("ticket", ticket_id))
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
    ticket: str = "",
    resource: str = "",
    pool: str = "",
    kind: str = "",
) -> HTMLResponse:
    service = _service(request)
    if kind and kind not in set(EventKind):
        raise HTTPException(422, f"kind {kind!r} is not an event kind; see the list in the form")
    f = EventFilter(
        ticket_id=_id_filter("ticket", ticket),
        resource_id=_id_filter("resource", resource),
        pool=pool or None,
        kinds=(kind,) if kind else (),
        limit=300,
    )
    return _page(
        request,
        "events.html",
        events=list(reversed(service.list_events(f))),
        pools=[p.name for p in service.pools],
        kinds=list(EventKind),
        f={"ticket": ticket, "resource": resource, "pool": pool, "kind": kind},
    )


@router.get("/ui/jobs", response_class=HTMLResponse)
def jobs(request: Request) -> HTMLResponse:
    """Jobs with a part still active: each part's ticket and resource, and why a job waits."""
    service = _service(request)
    found = service.list_jobs()
    waiting = [t for j in found for t in j.parts.values() if t.state == T.OPEN]
    return _page(request, "jobs.html", jobs=found, reasons=service.why_waiting(waiting))


@router.get("/ui/providers", response_class=HTMLResponse)
def providers(request: Request) -> HTMLResponse:
    """Hosts and their NUMA nodes as a tree, with capacity used and why one takes nothing."""
    capacity: CapacityService | None = getattr(request.app.state, "capacity", None)
    if capacity is None:
        raise NotFound("this server keeps no providers")
    states = {s.uuid: s for s in capacity.states()}
    children: dict[str | None, list[ProviderState]] = {}
    for s in sorted(states.values(), key=lambda s: s.provider.name):
        parent = s.provider.parent_uuid if s.provider.parent_uuid in states else None
        children.setdefault(parent, []).append(s)
    rows: list[tuple[int, ProviderState]] = []

    def walk(parent: str | None, depth: int) -> None:
        for s in children.get(parent, []):
            rows.append((depth, s))
            walk(s.uuid, depth + 1)

    walk(None, 0)
    return _page(request, "providers.html", rows=rows)


def _queue(waiting: list[Ticket]) -> list[Ticket]:
    """Open tickets in the order they are served: higher priority first, then oldest."""
    return sorted(waiting, key=lambda t: (-t.priority, t.id))


def _logdir(request: Request) -> Path:
    logdir: Path = request.app.state.logdir
    return logdir
