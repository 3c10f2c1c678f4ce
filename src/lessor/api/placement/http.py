"""Placement's HTTP conventions: microversions, its error format, noauth2 tokens, bodies.

A request names its microversion in `OpenStack-API-Version: placement X.Y`
(`latest`: the newest lessor serves); without one it gets 1.0's behaviour.
Every answer says the version it was served at and varies on that header.
Errors are Placement's JSON: `{"errors": [{"status", "title", "detail",
"code", "request_id"}]}`. Every request but the root document's needs lessor's
admin token (or an admin user's) in `x-auth-token` (check_token); no token is a 401.
"""

from __future__ import annotations

import html
import json
import re
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import jsonschema
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from lessor.api.auth import is_admin_token, is_agent_token

MIN_VERSION = (1, 0)
MAX_VERSION = (1, 28)
HEADER = "openstack-api-version"
_VERSION = re.compile(r"^(\d+)\.(\d+)$")


def text(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


class PlacementError(Exception):
    """An answer other than success, in Placement's format."""

    def __init__(
        self,
        status: int,
        detail: str,
        code: str = "placement.undefined_code",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code
        self.headers = headers or {}


def bad(detail: str) -> PlacementError:
    return PlacementError(400, detail)


def version_of(request: Request) -> tuple[int, int]:
    """The microversion the request asks for; 1.0 when it names none."""
    header = request.headers.get(HEADER, "")
    asked = None
    for part in header.split(","):
        service, _, value = part.strip().partition(" ")
        if service.lower() == "placement":
            asked = value.strip()
    if asked is None:
        return MIN_VERSION
    if asked == "latest":
        return MAX_VERSION
    match = _VERSION.match(asked)
    if match is None:
        raise PlacementError(400, f"invalid version string: {asked}")
    version = (int(match[1]), int(match[2]))
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise PlacementError(406, f"Unacceptable version header: {asked}")
    return version


@dataclass(frozen=True)
class Call:
    """One request as the handlers see it."""

    request: Request
    version: tuple[int, int]
    params: dict[str, str]

    def at_least(self, minor: int) -> bool:
        return self.version >= (1, minor)

    def query(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for key, value in self.request.query_params.multi_items():
            out.setdefault(key, []).append(value)
        return out

    async def body(self, schema: dict[str, Any]) -> Any:
        """The JSON body, checked against `schema` (Placement's words when it does not fit)."""
        media = self.request.headers.get("content-type", "").partition(";")[0].strip()
        if not media and int(self.request.headers.get("content-length") or 0):
            raise bad("content-type header required when content-length is set")
        if media != "application/json":
            raise PlacementError(
                415,
                f"The media type {media or 'None'} is not supported, use application/json",
            )
        raw = await self.request.body()
        try:
            data = json.loads(raw)
        except ValueError as e:
            raise bad(f"Malformed JSON: {e}") from None
        Call.check(schema, data)
        return data

    def checked_query(self, schema: dict[str, Any]) -> dict[str, str]:
        """The query (a repeated parameter's last value), checked against `schema` with
        Placement's words when it does not fit."""
        query = {key: values[-1] for key, values in self.query().items()}
        try:
            jsonschema.validate(query, schema, format_checker=jsonschema.FormatChecker())
        except jsonschema.ValidationError as e:
            raise bad(f"Invalid query string parameters: {e}") from None
        return query

    @staticmethod
    def check(schema: dict[str, Any], data: Any) -> None:
        """A 400 in Placement's words when `data` does not fit `schema`."""
        try:
            jsonschema.validate(data, schema, format_checker=jsonschema.FormatChecker())
        except jsonschema.ValidationError as e:
            raise bad(f"JSON does not validate: {e}") from None


def check_params(query: dict[str, list[str]], allowed: set[str]) -> None:
    """A query parameter the microversion does not know is a 400, in Placement's words."""
    extra = sorted(set(query) - allowed)
    if extra:
        raise bad(
            f"Invalid query string parameters: Additional properties are not allowed "
            f"({', '.join(repr(e) for e in extra)} {'was' if len(extra) == 1 else 'were'} "
            "unexpected)"
        )


class Uncached(Response):
    """A success Placement sends without `cache-control` and `last-modified` at 1.15+
    (creating or renaming a resource class)."""


def error_response(
    exc: PlacementError, version: tuple[int, int], accept: str | None = None
) -> Response:
    """Placement's error: JSON unless `accept` prefers HTML (or accepts neither), as
    webob answers Placement's errors (a missing or `*/*` Accept is taken as JSON)."""
    title = HTTPStatus(exc.status).phrase
    explanation = {
        400: "The server could not comply with the request since it is either malformed or "
        "otherwise incorrect.",
        404: "The resource could not be found.",
        409: "There was a conflict when trying to complete your request.",
        405: "The method specified is not allowed for this resource.",
        406: "The resource could not be generated that was acceptable to your browser.",
        415: "The request media type is not supported by this server.",
        401: "This server could not verify that you are authorized to access the document you "
        "requested.",
        403: "Access was denied to this resource.",
    }.get(exc.status, "")
    headers = {**exc.headers, **version_headers(version)}
    media = "application/json"
    if accept and accept.strip() != "*/*":
        offers = acceptable(accept, ("text/html", "application/json"))
        media = offers[0] if offers else "text/plain"
    status = f"{exc.status} {title}"
    if media == "text/html":
        body = (
            f"<html>\n <head>\n  <title>{status}</title>\n </head>\n <body>\n"
            f"  <h1>{status}</h1>\n  {html.escape(explanation)}<br /><br />\n"
            f"{html.escape(exc.detail)}\n\n\n </body>\n</html>"
        )
        return HTMLResponse(body, status_code=exc.status, headers=headers)
    if media == "text/plain":
        body = f"{status}\n\n{explanation}\n{exc.detail}\n\n"
        return PlainTextResponse(body, status_code=exc.status, headers=headers)
    error: dict[str, Any] = {
        "status": exc.status,
        "title": title,
        "detail": f"{explanation}\n\n {exc.detail}  ",
        "request_id": request_id(),
    }
    if version >= (1, 23):
        error["code"] = exc.code
    return Response(
        json.dumps({"errors": [error]}),
        status_code=exc.status,
        media_type="application/json",
        headers=headers,
    )


def acceptable(accept: str, offers: tuple[str, ...]) -> list[str]:
    """The `offers` an Accept header takes, best first (by quality, then in offer order);
    each offer gets the quality of the most specific range that matches it."""
    ranges: list[tuple[str, float]] = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media:
            ranges.append((media.lower(), q))

    def quality(offer: str) -> float:
        kind = offer.split("/", maxsplit=1)[0]
        for pattern in (offer, f"{kind}/*", "*/*"):
            found = [q for media, q in ranges if media == pattern]
            if found:
                return max(found)
        return 0.0

    rated = [(quality(o), i, o) for i, o in enumerate(offers)]
    return [o for q, _, o in sorted(rated, key=lambda r: (-r[0], r[1])) if q > 0]


def version_headers(version: tuple[int, int]) -> dict[str, str]:
    return {HEADER: f"placement {text(version)}", "vary": HEADER}


def check_accept(request: Request) -> None:
    """A client that accepts no JSON gets a 406, as from Placement."""
    accept = request.headers.get("accept")
    if accept and not acceptable(accept, ("application/json",)):
        raise PlacementError(406, "Only application/json is provided")


def request_id() -> str:
    return f"req-{uuid.uuid4()}"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(data), status_code=status, media_type="application/json", headers=headers
    )


def no_content() -> Response:
    return Response(status_code=204)


def check_token(request: Request) -> bool:
    """Placement's clients send their token in `X-Auth-Token` (keystone's header), and
    Placement's default policies let only an admin read or write. Here the admin is
    whoever sends lessor's admin token or an admin user's, never a well-known word:
    Placement's noauth2 takes `admin` as admin, which on a server people deploy would
    let anyone overcommit its hosts. A custom header also means a browser cannot send
    a request cross-site without a preflight nobody answers.

    True for an admin; False for `lessor agent`'s token, which may only do what an
    agent does (the caller checks the route: `AGENT_ROUTES`)."""
    token = request.headers.get("x-auth-token")
    if token is None:
        raise PlacementError(401, "The request you have made requires authentication.")
    # noauth2's form is `user[:project]`: the user part must be the admin token
    user = token.rpartition(":")[0] if ":" in token else token
    if is_admin_token(request, token) or is_admin_token(request, user):
        return True
    if is_agent_token(request, token):
        return False
    raise forbidden()


def forbidden() -> PlacementError:
    return PlacementError(
        403, "Policy does not allow this request to be performed.", "placement.undefined_code"
    )
