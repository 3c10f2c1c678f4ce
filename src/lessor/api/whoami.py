"""GET /api/v1/whoami: what the caller's credentials are worth, before they are used.

The web UI asks it when a visitor types an admin token, so that "admin ✓"
means the server accepted the token, and so that a wrong token ("not
accepted") reads differently from a server that has none ("disabled").
It never fails: the answer to a wrong token is `admin: false`, not 401.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from lessor.api.auth import is_admin

router = APIRouter(prefix="/api/v1", tags=["auth"])


class WhoamiOut(BaseModel):
    admin: bool = Field(description="the request carries the admin token the server expects")
    admin_configured: bool = Field(
        description="the server has an admin token; without one admin operations answer 403"
    )


@router.get("/whoami", response_model=WhoamiOut)
def whoami(request: Request) -> WhoamiOut:
    """Whether `Authorization: Bearer TOKEN` is the admin token, and whether there is one."""
    return WhoamiOut(admin=is_admin(request), admin_configured=bool(request.app.state.admin_token))
