"""Template filters: times and durations as people read them.

Every time the UI shows is UTC and says so: the pages, their live parts and
the chart are rendered on the server, which cannot know the visitor's zone,
and one zone for everyone means two operators reading the same page (or a
screenshot of it) agree on when something happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any


def duration(seconds: float | None) -> str:
    """3s, 4m 10s, 2h 5m, 3d 4h: two units at most, enough to compare at a glance."""
    if seconds is None:
        return ""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def seconds(value: float | None) -> str:
    """A measured time (a wait, a hook's run): tenths below a minute, where they matter."""
    if value is None:
        return ""
    return f"{value:.1f}s" if value < 60 else duration(value)


def clock(t: float | None) -> str:
    """2026-12-02 10:41:07 UTC."""
    if t is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def iso(t: float | None) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat() if t is not None else ""


FILTERS: dict[str, Callable[..., Any]] = {
    "duration": duration,
    "seconds": seconds,
    "clock": clock,
    "iso": iso,
}
