"""What every API module takes from the running app."""

from __future__ import annotations

from fastapi import Request

from lessor.service.core import LessorService


def service_of(request: Request) -> LessorService:
    return request.app.state.service  # type: ignore[no-any-return]
