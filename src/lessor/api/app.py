"""The server process: FastAPI app, the store, and the reconciler in its lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lessor import __version__
from lessor.api import v1
from lessor.domain.model import Pool
from lessor.reconciler.loop import Reconciler
from lessor.service.errors import ServiceError
from lessor.service.wiring import close_service, connect_service

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    db_url: str
    pools: tuple[Pool, ...]
    logdir: Path
    admin_token: str | None = None
    sleeptime: float = 20.0
    retry_base: float = 10.0


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = await asyncio.to_thread(connect_service, settings.db_url, settings.pools)
        service.signals.bind(asyncio.get_running_loop())
        reconciler = Reconciler(
            service,
            settings.logdir,
            sleeptime=settings.sleeptime,
            retry_base=settings.retry_base,
        )
        app.state.service = service
        app.state.reconciler = reconciler
        task = asyncio.create_task(reconciler.run(), name="reconciler")
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            close_service(service)

    app = FastAPI(
        title="lessor",
        version=__version__,
        description="Allocates and manages expensive resources: pools, resources, tickets.",
        lifespan=lifespan,
    )
    app.state.admin_token = settings.admin_token
    app.include_router(v1.router)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    _error_handlers(app)
    return app


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        return JSONResponse({"detail": "; ".join(parts)}, status_code=422)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error in %s %s", request.method, request.url.path)
        return JSONResponse(
            {"detail": f"internal error ({type(exc).__name__}); see the server log"},
            status_code=500,
        )
