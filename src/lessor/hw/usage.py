"""Utilisation over 1, 5 and 15 minutes from the usage log: a load average of the hardware."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

WINDOWS = (60.0, 300.0, 900.0)


@dataclass(frozen=True)
class Interval:
    token: str
    profile: str
    cores: int
    nics: int
    start: float
    end: float | None  # None: still held


def intervals(events: Iterable[Mapping[str, object]]) -> list[Interval]:
    """Pairs reserve and release events by token; the first release of a token wins."""
    starts: dict[str, Mapping[str, object]] = {}
    ends: dict[str, float] = {}
    for e in events:
        token = str(e.get("token"))
        if e.get("event") == "reserve":
            starts[token] = e
        elif e.get("event") == "release" and token not in ends:
            ends[token] = float(e["t"])  # type: ignore[arg-type]
    return [
        Interval(
            token,
            str(e.get("profile") or "-"),
            int(e.get("cores") or 0),  # type: ignore[call-overload]
            int(e.get("nics") or 0),  # type: ignore[call-overload]
            float(e["t"]),  # type: ignore[arg-type]
            ends.get(token),
        )
        for token, e in starts.items()
    ]


def busy_fraction(
    spans: Iterable[Interval], kind: str, capacity: int, window: float, now: float
) -> float:
    """Share of `capacity` units (cores or NICs) held on average over the last `window` s."""
    if capacity <= 0:
        return 0.0
    since = now - window
    used = 0.0
    for s in spans:
        end = now if s.end is None else s.end
        overlap = max(0.0, min(end, now) - max(s.start, since))
        used += overlap * (s.cores if kind == "cores" else s.nics)
    return used / (capacity * window)


def holders_average(spans: Iterable[Interval], profile: str, window: float, now: float) -> float:
    """Average number of holders of `profile` over the window (like a load average)."""
    since = now - window
    total = 0.0
    for s in spans:
        if s.profile != profile:
            continue
        end = now if s.end is None else s.end
        total += max(0.0, min(end, now) - max(s.start, since))
    return total / window
