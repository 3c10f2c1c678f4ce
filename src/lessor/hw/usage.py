"""Utilisation over 1, 5 and 15 minutes from the usage log: a load average of the hardware.

The log has a `reserve` line when a reservation starts (its units) and a
`release` line when it ends. A process killed with `kill -9` writes no
release; its reservation is taken to end when the next reservation of any of
its units starts (the kernel had freed them by then), or, while nobody has
taken them, it still counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lessor.hw import protocol as p

WINDOWS = (60.0, 300.0, 900.0)


@dataclass(frozen=True)
class Interval:
    token: str
    profile: str
    units: tuple[str, ...]  # lock names
    start: float
    end: float | None  # None: still reserved

    def count(self, kind: str) -> int:
        """How many units of `kind` (cores, nics, gpus) it had."""
        return sum(p.lock_kind(u) + "s" == kind for u in self.units)


def intervals(events: Iterable[tuple[str, dict[str, str]]]) -> list[Interval]:
    """Pairs reserve and release lines by token; the first release of a token wins."""
    starts: list[tuple[str, str, tuple[str, ...], float]] = []
    ends: dict[str, float] = {}
    for kind, f in events:
        try:
            t = int(f["t"]) / 1e9
            token = f["token"]
            if kind == p.RESERVE:
                units = tuple(p.text(u) for u in f.get("units", "").split(",") if u)
                starts.append((token, p.text(f.get("profile", "")) or "-", units, t))
            elif kind == p.RELEASE:
                ends.setdefault(token, t)
        except (KeyError, ValueError):
            continue  # not a line of ours
    starts.sort(key=lambda s: s[3])
    end_of = {token: ends.get(token) for token, *_ in starts}
    last: dict[str, str] = {}  # unit -> token of the latest reservation of it
    for token, _, units, start in starts:
        for u in units:
            before = last.get(u)
            if before is not None and before != token:
                end = end_of[before]
                end_of[before] = start if end is None else min(end, start)
            last[u] = token
    return [Interval(t, prof, units, start, end_of[t]) for t, prof, units, start in starts]


def busy_fraction(
    spans: Iterable[Interval], kind: str, capacity: int, window: float, now: float
) -> float:
    """Share of `capacity` units (cores, NICs or GPUs) reserved on average over `window` s."""
    if capacity <= 0:
        return 0.0
    since = now - window
    used = 0.0
    for s in spans:
        end = now if s.end is None else s.end
        overlap = max(0.0, min(end, now) - max(s.start, since))
        used += overlap * s.count(kind)
    return used / (capacity * window)


def reservations_average(
    spans: Iterable[Interval], profile: str, window: float, now: float
) -> float:
    """Average number of reservations of `profile` over the window (like a load average)."""
    since = now - window
    total = 0.0
    for s in spans:
        if s.profile != profile:
            continue
        end = now if s.end is None else s.end
        total += max(0.0, min(end, now) - max(s.start, since))
    return total / window
