"""How an error becomes a JSON answer: a message, never a traceback."""

from __future__ import annotations

import functools
import json
import logging
import re

from starlette.exceptions import HTTPException
from starlette.requests import Request

from lessor.service.errors import ServiceError, database_unreachable

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
    if database_unreachable(exc):
        log.warning("database unreachable in %s: %s", where or "a request", type(exc).__name__)
        return 503, _detail("the database cannot be reached now; retry")
    log.error("unhandled error in %s", where or "a request", exc_info=exc)
    return 500, _detail(f"internal error ({type(exc).__name__}); see the server log")


def _detail(message: str) -> bytes:
    return json.dumps({"detail": message}).encode()


def allowed_methods(request: Request, named: str) -> str:
    """What a 405 answer's Allow lists: every method served at the request's path.

    The router names (`named`) those of the first route there only: POST
    /api/v1/tickets hid GET. The OpenAPI document has them all.
    """
    methods = {m.strip() for m in named.split(",") if m.strip()}
    for template, operations in request.app.openapi()["paths"].items():
        if _path_pattern(template).fullmatch(request.url.path):
            methods |= {m.upper() for m in operations if m.upper() in _METHODS}
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@functools.cache
def _path_pattern(template: str) -> re.Pattern[str]:
    """`/api/v1/tickets/{ticket_id}` as a pattern of the paths it serves."""
    parts = re.split(r"\{[^}]*\}", template)
    return re.compile("[^/]+".join(re.escape(p) for p in parts))
