"""OpenStack Placement's HTTP API, served by lessor at /placement (an ASGI app of its own, so that
its routing, microversions and error format are Placement's and not the native API's)."""

from __future__ import annotations

import re
from email.utils import formatdate
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from lessor.api.placement import allocations, candidates, inventories, names, providers
from lessor.api.placement.handler import Handler
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

_ROUTES: list[tuple[str, dict[str, Handler], tuple[int, int]]] = [
    (
        "/resource_providers",
        {"GET": providers.list_providers, "POST": providers.create_provider},
        (1, 0),
    ),
    (
        "/resource_providers/{uuid}",
        {
            "GET": providers.get_provider,
            "PUT": providers.update_provider,
            "DELETE": providers.delete_provider,
        },
        (1, 0),
    ),
    (
        "/resource_providers/{uuid}/inventories",
        {
            "GET": inventories.get_inventories,
            "PUT": inventories.put_inventories,
            "POST": inventories.post_inventory,
            "DELETE": inventories.delete_inventories,
        },
        (1, 0),
    ),
    (
        "/resource_providers/{uuid}/inventories/{rc}",
        {
            "GET": inventories.get_inventory,
            "PUT": inventories.put_inventory,
            "DELETE": inventories.delete_inventory,
        },
        (1, 0),
    ),
    ("/resource_providers/{uuid}/usages", {"GET": inventories.get_usages}, (1, 0)),
    (
        "/resource_providers/{uuid}/aggregates",
        {"GET": providers.provider_aggregates, "PUT": providers.put_provider_aggregates},
        (1, 1),
    ),
    (
        "/resource_providers/{uuid}/traits",
        {
            "GET": providers.provider_traits,
            "PUT": providers.put_provider_traits,
            "DELETE": providers.delete_provider_traits,
        },
        (1, 6),
    ),
    ("/resource_providers/{uuid}/allocations", {"GET": allocations.provider_allocations}, (1, 0)),
    ("/resource_classes", {"GET": names.list_classes, "POST": names.create_class}, (1, 2)),
    (
        "/resource_classes/{name}",
        {"GET": names.get_class, "PUT": names.put_class, "DELETE": names.delete_class},
        (1, 2),
    ),
    ("/traits", {"GET": names.list_traits}, (1, 6)),
    (
        "/traits/{name}",
        {"GET": names.get_trait, "PUT": names.put_trait, "DELETE": names.delete_trait},
        (1, 6),
    ),
    ("/allocations", {"POST": allocations.post_allocations}, (1, 0)),
    (
        "/allocations/{consumer}",
        {
            "GET": allocations.get_allocations,
            "PUT": allocations.put_allocations,
            "DELETE": allocations.delete_allocations,
        },
        (1, 0),
    ),
    ("/usages", {"GET": allocations.usages}, (1, 9)),
    ("/allocation_candidates", {"GET": candidates.allocation_candidates}, (1, 10)),
]
_COMPILED = [
    (re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$"), methods, since)
    for path, methods, since in _ROUTES
]
AGENT_ROUTES = {
    providers.list_providers,
    providers.create_provider,
    providers.get_provider,
    providers.update_provider,
    inventories.get_inventories,
    inventories.put_inventories,
    providers.provider_traits,
    providers.put_provider_traits,
    names.put_class,
    names.put_trait,
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
            if request.method == "GET" and handler is not names.get_trait:
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
