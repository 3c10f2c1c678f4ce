"""The due times of the timed rules: which fire now, and when the next one will.

A timed rule (a livecheck's period, a reuse window, an idle spare, a delete
retry, a lease, a start delay) asks `due(at)` whether it fires; the times
asked about that lie ahead are what the plan's `wake_at` is made of, so no
rule's time is stated twice.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Timer:
    now: float
    next: float | None = None
    """The earliest time asked about that lies ahead of `now`."""

    def due(self, at: float | None) -> bool:
        """Whether a rule due at `at` fires now; a later `at` is remembered as a wake-up."""
        if at is None:
            return False
        if at <= self.now:
            return True
        self.remember(at)
        return False

    def remember(self, at: float) -> None:
        """A time something becomes possible that no `due` asks about (a start delay)."""
        if at > self.now and (self.next is None or at < self.next):
            self.next = at
