"""What every API module takes from the running app."""

from __future__ import annotations

from fastapi import Request

from lessor.service.core import LessorService
from lessor.service.executor import Executor


def service_of(request: Request) -> LessorService:
    return request.app.state.service  # type: ignore[no-any-return]


def executor_of(request: Request) -> Executor:
    return request.app.state.executor  # type: ignore[no-any-return]
