"""The overview's chart, drawn as SVG on the server: no charting library, nothing to fetch.

Step lines, because counts change in jumps: a resource is UP or it is not.
The hours on the time axis are UTC, as every time the UI shows.
"""

from __future__ import annotations

import math
import time
from html import escape

from lessor.domain.states import ResourceState
from lessor.service.events import History

R = ResourceState
COLORS = {
    R.STARTING: "#d49a00",
    R.UP: "#2f9e44",
    R.TAKEN: "#1c7ed6",
    R.RELEASING: "#7048e8",
    R.DELETE_REQUESTED: "#e8590c",
    R.DELETING: "#c92a2a",
}
WAITING_COLOR = "#212529"
WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 40, 160, 12, 28


STACK = (R.TAKEN, R.UP, R.STARTING, R.RELEASING, R.DELETE_REQUESTED, R.DELETING)
"""Bottom to top: what serves users first, then spares, then what is coming and going."""


def caption(hours: float) -> str:
    return f"resources and waiting tickets, last {hours:g} hours (UTC)"


def render(h: History, title: str) -> str:
    """An SVG document: resources per state stacked, tickets waiting as a dashed line."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    stacked = _stack(h)
    top = _nice_ceiling(max([*(stacked[-1][1] if stacked else []), *h.waiting, 0]))
    t0, t1 = h.times[0], h.times[-1]
    span = max(t1 - t0, 1e-9)
    xs = [LEFT + (t - t0) / span * plot_w for t in h.times]

    def y(v: int) -> float:
        return TOP + plot_h - v / top * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" class="chart">',
        f"<title>{escape(title)}</title>",
        '<g class="grid" font-size="11" fill="#495057">',
    ]
    for v in _ticks(top):
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
            'stroke="#dee2e6"/>'
        )
        parts.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v}</text>')
    for t in _hour_marks(t0, t1):
        x = LEFT + (t - t0) / span * plot_w
        label = time.strftime("%H:%M", time.gmtime(t))
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#f1f3f5"/>'
        )
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 10}" text-anchor="middle">{label}</text>')
    parts.append(f'<text x="2" y="{HEIGHT - 10}" class="zone">UTC</text>')
    parts.append("</g>")

    below = [0] * len(xs)
    for state, above in stacked:
        upper = _steps(xs, [y(v) for v in above])
        lower = _steps(xs, [y(v) for v in below])
        points = " ".join([*upper, *reversed(lower)])
        parts.append(
            f'<polygon class="series" data-series="{state}" fill="{COLORS[state]}" '
            f'fill-opacity="0.75" stroke="{COLORS[state]}" points="{points}"/>'
        )
        below = list(above)
    if any(h.waiting):
        points = " ".join(_steps(xs, [y(v) for v in h.waiting]))
        parts.append(
            f'<polyline class="series" data-series="tickets waiting" fill="none" '
            f'stroke="{WAITING_COLOR}" stroke-width="2" stroke-dasharray="5 3" points="{points}"/>'
        )

    legend = [(_label(s), COLORS[s], h.resources[s][-1], False) for s in reversed(STACK)]
    legend.append(("tickets waiting", WAITING_COLOR, h.waiting[-1], True))
    lx = WIDTH - RIGHT + 14
    for i, (name, color, now, dashed) in enumerate(legend):
        ly = TOP + 10 + i * 17
        mark = (
            f'<line x1="{lx}" x2="{lx + 16}" y1="{ly - 4}" y2="{ly - 4}" stroke="{color}" '
            'stroke-width="2" stroke-dasharray="5 3"/>'
            if dashed
            else f'<rect x="{lx}" y="{ly - 10}" width="16" height="10" fill="{color}"/>'
        )
        parts.append(
            f'<g class="legend" font-size="12">{mark}<text x="{lx + 22}" y="{ly}" '
            f'fill="#212529">{escape(name)}: {now}</text></g>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _stack(h: History) -> list[tuple[ResourceState, list[int]]]:
    """Cumulative counts per state, bottom first, leaving out states that stay at zero."""
    out: list[tuple[ResourceState, list[int]]] = []
    running = [0] * len(h.times)
    for state in STACK:
        values = h.resources.get(state, ())
        if not any(values):
            continue
        running = [a + b for a, b in zip(running, values, strict=True)]
        out.append((state, running))
    return out


def _label(state: ResourceState) -> str:
    return state.lower().replace("_", " ")


def _steps(xs: list[float], ys: list[float]) -> list[str]:
    out = [f"{xs[0]:.1f},{ys[0]:.1f}"]
    for i in range(1, len(xs)):
        out.append(f"{xs[i]:.1f},{ys[i - 1]:.1f}")
        out.append(f"{xs[i]:.1f},{ys[i]:.1f}")
    return out


def _nice_ceiling(peak: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50… at or above the peak; at least 4 (a readable grid)."""
    peak = max(peak, 4)
    magnitude = 10 ** math.floor(math.log10(peak))
    for m in (1, 2, 5, 10):
        if m * magnitude >= peak:
            return int(m * magnitude)
    return int(10 * magnitude)


def _ticks(top: int) -> list[int]:
    step = max(1, top // 4)
    return list(range(0, top + 1, step))


def _hour_marks(t0: float, t1: float) -> list[float]:
    """Whole hours inside the window (every few hours when the window is long)."""
    hours = (t1 - t0) / 3600
    every = 1 if hours <= 8 else 3 if hours <= 24 else 12
    first = math.ceil(t0 / 3600) * 3600
    return [t for t in range(int(first), int(t1) + 1, 3600 * every) if t0 <= t <= t1]
