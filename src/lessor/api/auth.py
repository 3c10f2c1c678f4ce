"""Who a request is: the admin token (the one privilege until users arrive), a ticket's key."""

from __future__ import annotations

import hashlib
import secrets
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from lessor.domain.users import User
from lessor.service.keys import HEADER, Proof


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
    user = _user_of(request, authorization)
    if user is not None:
        if user.admin:
            return
        raise HTTPException(403, f"user {user.name} is no admin")
    if not expected:
        raise HTTPException(
            403, "admin operations are disabled: set admin_token in the server config"
        )
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(token.encode(), expected.encode()):
        raise HTTPException(401, "this needs the admin token (Authorization: Bearer TOKEN)")


Admin = Annotated[None, Depends(require_admin)]


_KEY_HEADER = HEADER.lower().encode()


def proof_of(request: Request) -> Proof:
    """What the request proves about who sends it: the admin token, a ticket's key.

    It reads the raw headers once: every close does this, and Starlette's header view
    costs more than the close's own statement."""
    key = authorization = None
    for name, value in request.scope["headers"]:
        if name == _KEY_HEADER:
            key = value.decode("latin-1")
        elif name == b"authorization":
            authorization = value.decode("latin-1")
    if authorization is None:
        return Proof(key=key)
    if is_admin(request):
        return Proof(admin=True, key=key)
    user = _user_of(request, authorization)
    if user is None:
        return Proof(key=key)
    return Proof(admin=user.admin, key=key, user=user.name)


def _user_of(request: Request, authorization: str | None) -> User | None:
    """The active user whose token the Authorization header carries (not the admin token)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token or is_admin(request):
        return None
    service = request.app.state.service
    user: User | None = service.authenticate(token)
    return user


def is_admin_token(request: Request, token: str) -> bool:
    """Whether `token` (sent bare, as Placement's clients send X-Auth-Token) is the admin
    token or an admin user's."""
    expected: str | None = request.app.state.admin_token
    if expected and secrets.compare_digest(token.encode(), expected.encode()):
        return True
    user: User | None = request.app.state.service.authenticate(token) if token else None
    return user is not None and user.admin


def agent_token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def is_agent_token(request: Request, token: str) -> bool:
    """Whether `token` is the one `lessor agent` presents (`agent_token`): compared as
    digests, in constant time, so neither its length nor its bytes leak."""
    expected: bytes | None = getattr(request.app.state, "agent_token_digest", None)
    return bool(expected and token and secrets.compare_digest(agent_token_digest(token), expected))
