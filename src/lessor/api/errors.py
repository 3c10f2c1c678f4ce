"""How an error becomes a JSON answer: a message, never a traceback."""

from __future__ import annotations

import json
import logging

from starlette.exceptions import HTTPException

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
        return exc.status_code, _detail(str(exc.detail))
    log.error("unhandled error in %s", where or "a request", exc_info=exc)
    return 500, _detail(f"internal error ({type(exc).__name__}); see the server log")


def _detail(message: str) -> bytes:
    return json.dumps({"detail": message}).encode()
