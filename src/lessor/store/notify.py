"""Wake-ups across servers on one PostgreSQL: NOTIFY with each commit, LISTEN in a thread.

A write transaction that records events also sends, in the same transaction,
`NOTIFY lessor` with the tickets they touched (PostgreSQL delivers it at the
commit, never before, and never for a rollback). Every server listens on a
connection of its own and wakes its waiters for those tickets, its event
followers and its reconciler at once: a long-poll, an event stream or an
XML-RPC waitTicket held by one server is answered the moment another one
assigns the ticket. Nothing polls in that path.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Collection

import psycopg
import sqlalchemy as sa

log = logging.getLogger(__name__)

CHANNEL = "lessor"
SENDER = uuid.uuid4().hex[:12]
"""This process, in its notifications: it needs no wake-up by its own commits."""
ALL = "*"
"""In place of the ticket ids when they would not fit a notification (8000 bytes)."""
_MAX_PAYLOAD = 7000

Woken = Callable[[Collection[int] | None], None]
"""Told the tickets another server changed (None: maybe any)."""

NOTIFY = sa.text("SELECT pg_notify(:channel, :payload)")


def payload(ticket_ids: Collection[int]) -> str:
    ids = ",".join(str(i) for i in sorted(ticket_ids))
    return f"{SENDER}:{ids if len(ids) < _MAX_PAYLOAD else ALL}"


def parse(text: str) -> tuple[str, Collection[int] | None]:
    sender, _, ids = text.partition(":")
    if ids == ALL:
        return sender, None
    return sender, [int(i) for i in ids.split(",") if i]


class Listener:
    """LISTEN on a connection of its own, in a daemon thread; reconnects after a loss (a
    PostgreSQL restart), and then tells `woken` that anything may have changed."""

    def __init__(self, url: sa.URL, woken: Woken) -> None:
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._woken = woken
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lessor-listen", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        lost = False
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    if lost:  # what was committed while we were away
                        self._woken(None)
                        lost = False
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            sender, ids = parse(note.payload)
                            if sender != SENDER:
                                self._woken(ids)
            except psycopg.Error as e:
                if not lost:
                    log.warning("listening for other servers' commits: %s; retrying", e)
                lost = True
                self._stop.wait(1.0)
            except Exception:
                log.exception("listening for other servers' commits failed; retrying")
                lost = True
                self._stop.wait(1.0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=3)
