"""OpenStack Placement's HTTP API, served by lessor at /placement (an ASGI app of its own, so that
its routing, microversions and error format are Placement's and not the native API's)."""

from __future__ import annotations

import re
from email.utils import formatdate
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from lessor.api.placement import routes as r
from lessor.api.placement.http import (
    MAX_VERSION,
    MIN_VERSION,
    Call,
    PlacementError,
    Uncached,
    check_accept,
    check_token,
    error_response,
    forbidden,
    json_response,
    text,
    version_headers,
    version_of,
)
from lessor.domain.capacity import CapacityError, InUse, Missing, Overcommit, Stale, Taken
from lessor.service.capacity import BadName, CapacityService

_ROUTES: list[tuple[str, dict[str, r.Handler], tuple[int, int]]] = [
    ("/resource_providers", {"GET": r.list_providers, "POST": r.create_provider}, (1, 0)),
    (
        "/resource_providers/{uuid}",
        {"GET": r.get_provider, "PUT": r.update_provider, "DELETE": r.delete_provider},
        (1, 0),
    ),
    (
        "/resource_providers/{uuid}/inventories",
        {
            "GET": r.get_inventories,
            "PUT": r.put_inventories,
            "POST": r.post_inventory,
            "DELETE": r.delete_inventories,
        },
        (1, 0),
    ),
    (
        "/resource_providers/{uuid}/inventories/{rc}",
        {"GET": r.get_inventory, "PUT": r.put_inventory, "DELETE": r.delete_inventory},
        (1, 0),
    ),
    ("/resource_providers/{uuid}/usages", {"GET": r.get_usages}, (1, 0)),
    (
        "/resource_providers/{uuid}/aggregates",
        {"GET": r.provider_aggregates, "PUT": r.put_provider_aggregates},
        (1, 1),
    ),
    (
        "/resource_providers/{uuid}/traits",
        {
            "GET": r.provider_traits,
            "PUT": r.put_provider_traits,
            "DELETE": r.delete_provider_traits,
        },
        (1, 6),
    ),
    ("/resource_providers/{uuid}/allocations", {"GET": r.provider_allocations}, (1, 0)),
    ("/resource_classes", {"GET": r.list_classes, "POST": r.create_class}, (1, 2)),
    (
        "/resource_classes/{name}",
        {"GET": r.get_class, "PUT": r.put_class, "DELETE": r.delete_class},
        (1, 2),
    ),
    ("/traits", {"GET": r.list_traits}, (1, 6)),
    ("/traits/{name}", {"GET": r.get_trait, "PUT": r.put_trait, "DELETE": r.delete_trait}, (1, 6)),
    ("/allocations", {"POST": r.post_allocations}, (1, 0)),
    (
        "/allocations/{consumer}",
        {"GET": r.get_allocations, "PUT": r.put_allocations, "DELETE": r.delete_allocations},
        (1, 0),
    ),
    ("/usages", {"GET": r.usages}, (1, 9)),
    ("/allocation_candidates", {"GET": r.allocation_candidates}, (1, 10)),
]
_COMPILED = [
    (re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$"), methods, since)
    for path, methods, since in _ROUTES
]
AGENT_ROUTES = {
    r.list_providers,
    r.create_provider,
    r.get_provider,
    r.update_provider,
    r.get_inventories,
    r.put_inventories,
    r.provider_traits,
    r.put_provider_traits,
    r.put_class,
    r.put_trait,
}
"""What `lessor agent`'s token may do: register and update providers, their inventories
and traits, and make the custom names they use. Not allocations, not deletions."""


def _placement_error(exc: CapacityError) -> PlacementError:
    status = 400
    if isinstance(exc, Missing):
        status = 404
    elif isinstance(exc, Taken | Stale | InUse | Overcommit):
        status = 409
    elif isinstance(exc, BadName):
        status = 400
    return PlacementError(status, str(exc), exc.code)


class PlacementApp:
    """The ASGI app mounted at /placement."""

    def __init__(self, service: CapacityService) -> None:
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        version = MIN_VERSION
        try:
            version = version_of(request)
            response = await self._dispatch(request, version)
        except PlacementError as e:
            response = error_response(e, version, request.headers.get("accept"))
        except CapacityError as e:
            response = error_response(_placement_error(e), version, request.headers.get("accept"))
        response.headers.update(version_headers(version))
        location = response.headers.get("location")
        if location and location.startswith("/"):  # absolute, as webob makes it
            response.headers["location"] = f"{request.url.scheme}://{request.url.netloc}{location}"
        await response(scope, receive, send)

    async def _dispatch(self, request: Request, version: tuple[int, int]) -> Response:
        path = request.url.path[len(request.scope.get("root_path", "")) :] or "/"
        path = path.rstrip("/") or "/"
        if path == "/":
            if request.method != "GET":
                raise PlacementError(
                    405,
                    f"The method {request.method} is not allowed for this resource.",
                    headers={"allow": "GET"},
                )
            return _cached(json_response(_root()), version)
        admin = check_token(request)
        for pattern, methods, since in _COMPILED:
            match = pattern.match(path)
            if match is None or version < since:
                continue
            handler = methods.get(request.method)
            if handler is None:
                raise PlacementError(
                    405,
                    f"The method {request.method} is not allowed for this resource.",
                    headers={"allow": ", ".join(sorted(methods))},
                )
            if not admin and handler not in AGENT_ROUTES:
                raise forbidden()
            if request.method == "GET" and handler is not r.get_trait:
                check_accept(request)  # after routing: an unknown path is a 404 first
            response = await handler(self.service, Call(request, version, match.groupdict()))
            return _cached(response, version)
        raise PlacementError(404, "The resource could not be found.")


def _cached(response: Response, version: tuple[int, int]) -> Response:
    """From 1.15 on, a success says it must not be cached and when it was made."""
    if version >= (1, 15) and response.status_code < 300 and not isinstance(response, Uncached):
        response.headers["cache-control"] = "no-cache"
        response.headers["last-modified"] = formatdate(usegmt=True)
    return response


def _root() -> dict[str, Any]:
    return {
        "versions": [
            {
                "id": "v1.0",
                "max_version": text(MAX_VERSION),
                "min_version": text(MIN_VERSION),
                "status": "CURRENT",
                "links": [{"rel": "self", "href": ""}],
            }
        ]
    }
