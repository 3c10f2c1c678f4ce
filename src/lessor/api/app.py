"""The FastAPI app: the JSON API, resalloc's XML-RPC, events, metrics and the web UI."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from lessor import __version__
from lessor.api import capacity as capacity_api
from lessor.api import (
    docs,
    errors,
    events,
    guards,
    jobs,
    metrics,
    policy,
    users,
    v1,
    whoami,
    xmlrpc,
)
from lessor.api.auth import agent_token_digest
from lessor.api.deps import service_of
from lessor.api.placement import PlacementApp
from lessor.api.schemas import ErrorOut
from lessor.service.capacity import CapacityService
from lessor.service.core import LessorService
from lessor.service.errors import ServiceError
from lessor.service.executor import Executor
from lessor.web import pages

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(
    service: LessorService,
    executor: Executor,
    *,
    admin_token: str | None,
    logdir: Path,
    agent_token: str | None = None,
    alive: Callable[[], bool],
    lifespan: Lifespan | None = None,
    allowed_origins: Iterable[str] = (),
    capacity: CapacityService | None = None,
) -> FastAPI:
    """The HTTP face of a server whose parts lessor.server built; `alive`: whether its
    reconciler runs (for /readyz); `lifespan`: what runs while the app serves."""
    app = FastAPI(
        title="lessor",
        version=__version__,
        description="Allocates and manages expensive resources: pools, resources, tickets.",
        lifespan=lifespan,
        docs_url=None,  # served by api/docs.py without a CDN
        redoc_url=None,
    )
    app.state.service = service
    app.state.executor = executor
    app.state.alive = alive
    app.state.admin_token = admin_token
    # only its digest is kept: a memory dump or a repr of the state shows no agent token
    app.state.agent_token_digest = agent_token_digest(agent_token) if agent_token else None
    app.state.logdir = logdir  # the web UI serves hook logs from there
    app.include_router(v1.router)
    app.include_router(policy.router)  # leases, holds, drains, reload
    app.include_router(jobs.router)  # several parts granted together
    app.include_router(users.router)  # users with hashed tokens (admin)
    app.include_router(whoami.router)  # the UI checks an admin token before it says "admin ✓"
    app.include_router(xmlrpc.router)  # resalloc's clients: POST /RPC2 and POST /

    app.include_router(events.router)
    app.include_router(metrics.router)
    docs.install(app)  # /docs and /redoc, offline
    app.include_router(pages.router)  # the web UI: GET / (POST / is resalloc's XML-RPC)
    if capacity is not None:  # providers and candidates, natively and as OpenStack Placement
        app.state.capacity = capacity
        app.include_router(capacity_api.router)
        app.mount("/placement", PlacementApp(capacity))
    app.mount("/ui/static", StaticFiles(packages=[("lessor.web", "static")]), name="static")

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process is up (says nothing of the database)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {"model": ErrorOut}})
    async def readyz(request: Request) -> JSONResponse:
        """Ready to serve: the database answers and the reconciler runs."""
        problems = []
        try:
            await asyncio.to_thread(service_of(request).check_database)
        except Exception as e:
            first_line = (str(e).splitlines() or [""])[0]
            problems.append(f"database unreachable ({type(e).__name__}: {first_line})")
        if not request.app.state.alive():
            problems.append("the reconciler is not running")
        if problems:
            return JSONResponse({"detail": "; ".join(problems)}, status_code=503)
        return JSONResponse({"status": "ready"})

    _error_handlers(app)
    # content type, origin and body size of state-changing requests
    guards.install(app, allowed_origins)
    return app


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    @app.exception_handler(StarletteHTTPException)
    async def known_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, StarletteHTTPException) and exc.status_code == 405:
            named = (exc.headers or {}).get("Allow", "")
            return _error(exc, headers={"Allow": errors.allowed_methods(request, named)})
        return _error(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            if err.get("type") == "json_invalid":  # its loc is a character's position
                at = err["loc"][-1]
                parts.append(f"body: not JSON ({err['ctx']['error']} at character {at})")
                continue
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        return JSONResponse({"detail": "; ".join(parts)}, status_code=422)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        return _error(exc, f"{request.method} {request.url.path}")


def _error(exc: Exception, where: str = "", headers: dict[str, str] | None = None) -> Response:
    status, body = errors.rendered(exc, where)
    return Response(body, status_code=status, media_type="application/json", headers=headers)
