"""Errors a use case reports to its caller; the API turns each into an HTTP status."""

from __future__ import annotations


class ServiceError(Exception):
    """Base: the message is shown to the user as it is."""

    status = 400


class NotFound(ServiceError):
    status = 404


class NoPoolForTags(ServiceError):
    """No configured pool could ever serve these tags."""

    status = 422

    def __init__(self, message: str, missing: list[str]) -> None:
        super().__init__(message)
        self.missing = missing


class InvalidRequest(ServiceError):
    status = 422


class Conflict(ServiceError):
    """The object is not in a state that allows this operation."""

    status = 409


class KeyNeeded(ServiceError):
    """The request proves nothing: a ticket's key (or the admin token) is needed."""

    status = 401


class KeyRefused(ServiceError):
    """The request presented a key that is not this ticket's."""

    status = 403


class PrivilegeNeeded(ServiceError):
    """Every pool that could serve the request requires a privilege the caller lacks."""

    status = 403


def database_unreachable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached now (a PostgreSQL restart or
    failover): the request is answered 503, to be retried, not as a bug."""
    import sqlalchemy as sa

    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError))
