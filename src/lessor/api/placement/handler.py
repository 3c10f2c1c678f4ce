"""What every Placement handler shares: its signature, where store calls run, common schemas."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from lessor.api.placement.http import Call
from lessor.service.capacity import CapacityService

Handler = Callable[[CapacityService, Call], Awaitable[Response]]

UUID = {"type": "string", "format": "uuid"}
NAME = {"type": "string", "minLength": 1, "maxLength": 200}


def in_thread(fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
    """Run a blocking store call off the event loop, so one slow query stalls no other request."""
    return run_in_threadpool(fn, *args)
