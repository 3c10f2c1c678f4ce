"""What `lessor simulate` prints: waits (p50/p95) and resource-hours, overall and per pool."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from lessor.sim.engine import Outcome


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile (a value that really occurred); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def as_dict(o: Outcome) -> dict[str, Any]:
    return {
        "served": len(o.waits),
        "unserved": o.unserved,
        "wait_p50": percentile(o.waits, 50),
        "wait_p95": percentile(o.waits, 95),
        "wait_max": max(o.waits, default=None),
        "simulated_seconds": o.end,
        "pools": [
            {
                "name": p.name,
                "served": p.served,
                "started": p.started,
                "wait_p50": percentile(p.waits, 50),
                "wait_p95": percentile(p.waits, 95),
                "resource_hours": p.resource_seconds / 3600,
            }
            for p in o.pools
        ],
    }


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def as_text(o: Outcome) -> str:
    d = as_dict(o)
    lines = [
        f"tickets: {d['served']} served, {d['unserved']} unserved"
        f"   (simulated {o.end / 3600:.2f} h)",
        f"wait: p50 {_s(d['wait_p50'])}  p95 {_s(d['wait_p95'])}  max {_s(d['wait_max'])}",
        "",
    ]
    header = ("pool", "served", "started", "wait p50", "wait p95", "resource-hours")
    rows = [
        (
            p["name"],
            str(p["served"]),
            str(p["started"]),
            _s(p["wait_p50"]),
            _s(p["wait_p95"]),
            f"{p['resource_hours']:.2f}",
        )
        for p in d["pools"]
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        cells = [row[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
