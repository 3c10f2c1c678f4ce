"""JSON API v1 of users (docs/users.md): admins add, list, revoke them and rotate tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field, StringConstraints

from lessor.api.auth import Admin
from lessor.api.deps import executor_of, service_of
from lessor.api.fields import Name
from lessor.api.schemas import REFUSALS, In
from lessor.domain.users import USER_NAME, User

router = APIRouter(
    prefix="/api/v1",
    responses=REFUSALS,
)

UserName = Annotated[str, StringConstraints(pattern=USER_NAME)]


class UserIn(In):
    name: UserName = Field(examples=["alice"])
    admin: bool = False
    privileges: list[Name] = Field(default_factory=list, max_length=64)
    quotas: dict[Name, Annotated[int, Field(ge=0, le=1_000_000)]] = Field(
        default_factory=dict,
        max_length=64,
        description="pool (or '*': all pools) -> resources held at once at most",
        examples=[{"*": 4}],
    )


class UserOut(BaseModel):
    name: str
    admin: bool
    privileges: list[str]
    quotas: dict[str, int]
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, u: User) -> UserOut:
        return cls(
            name=u.name,
            admin=u.admin,
            privileges=list(u.privileges),
            quotas=dict(u.quotas),
            created_at=datetime.fromtimestamp(u.created_at, UTC),
            revoked_at=datetime.fromtimestamp(u.revoked_at, UTC) if u.revoked_at else None,
        )


class TokenOut(UserOut):
    token: str = Field(description="the user's token, told this once (stored only hashed)")


def _token_out(u: User, token: str) -> TokenOut:
    return TokenOut(**UserOut.of(u).model_dump(), token=token)


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model=TokenOut)
def add_user(body: UserIn, request: Request, _: Admin) -> TokenOut:
    """Add a user (admin); the answer holds its token, told this once."""
    service = service_of(request)
    new = executor_of(request).call(
        service.add_user, body.name, body.admin, body.privileges, body.quotas
    )
    return _token_out(new.user, new.token)


@router.get("/users", response_model=list[UserOut])
def list_users(request: Request, _: Admin) -> list[UserOut]:
    return [UserOut.of(u) for u in service_of(request).list_users()]


@router.post("/users/{name}/revoke", response_model=UserOut)
def revoke_user(name: UserName, request: Request, _: Admin) -> UserOut:
    """The user's token stops working at once (admin)."""
    service = service_of(request)
    return UserOut.of(executor_of(request).call(service.revoke_user, name))


@router.post("/users/{name}/token", response_model=TokenOut)
def rotate_token(name: UserName, request: Request, _: Admin) -> TokenOut:
    """A new token for the user, told this once; the old one stops working (admin)."""
    service = service_of(request)
    new = executor_of(request).call(service.rotate_token, name)
    return _token_out(new.user, new.token)
