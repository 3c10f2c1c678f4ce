"""The SQL store's event log as the service reads it (transitions write theirs themselves)."""

from __future__ import annotations

from collections.abc import Sequence

from lessor.domain.events import Event, EventFilter
from lessor.domain.states import ResourceState
from lessor.store import eventlog
from lessor.store.base import SqlBase


class EventRows(SqlBase):
    def record_events(self, batch: Sequence[Event]) -> None:
        """Events that are not transitions (hook runs)."""
        if batch:
            with self._write() as conn:
                eventlog.record_all(conn, batch)

    def list_events(self, f: EventFilter) -> list[Event]:
        with self._read() as conn:
            return eventlog.select(conn, f)

    def resource_states_at(self, at: float) -> dict[int, tuple[str, ResourceState]]:
        with self._read() as conn:
            return eventlog.resource_states_at(conn, at)

    def waiting_tickets_at(self, at: float) -> set[int]:
        with self._read() as conn:
            return eventlog.waiting_tickets_at(conn, at)
