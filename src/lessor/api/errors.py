"""How an error becomes a JSON answer: a message, never a traceback."""

from __future__ import annotations

import json
import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Match

from lessor.service.errors import ServiceError

log = logging.getLogger(__name__)


def rendered(exc: Exception, where: str = "") -> tuple[int, bytes]:
    """The status and JSON body for an exception a request ended with.

    One that is not the service's or HTTP's own is a bug: logged with its
    traceback, answered with its type only.
    """
    if isinstance(exc, ServiceError):
        return exc.status, _detail(str(exc))
    if isinstance(exc, HTTPException):
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            # FastAPI's 400 for a body it could not decode: as bad as bad JSON (422)
            return 422, _detail(f"body: not UTF-8 ({exc.__cause__.reason})")
        return exc.status_code, _detail(str(exc.detail))
    log.error("unhandled error in %s", where or "a request", exc_info=exc)
    return 500, _detail(f"internal error ({type(exc).__name__}); see the server log")


def _detail(message: str) -> bytes:
    return json.dumps({"detail": message}).encode()


def allowed_methods(request: Request) -> str:
    """What a 405 answer's Allow lists: the methods of every route at the request's path.

    Starlette names only those of the first route there (POST /api/v1/tickets
    would hide GET).
    """
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))
