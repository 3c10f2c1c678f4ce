"""The admin token: the one privilege there is until users and roles arrive."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request


def is_admin(request: Request) -> bool:
    """Whether the request carries the admin token (for what anonymous callers do not see)."""
    expected: str | None = request.app.state.admin_token
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return bool(
        expected
        and scheme.lower() == "bearer"
        and secrets.compare_digest(token.encode(), expected.encode())
    )


def require_admin(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    expected: str | None = request.app.state.admin_token
    if not expected:
        raise HTTPException(
            403, "admin operations are disabled: set admin_token in the server config"
        )
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(token.encode(), expected.encode()):
        raise HTTPException(401, "this needs the admin token (Authorization: Bearer TOKEN)")


Admin = Annotated[None, Depends(require_admin)]
