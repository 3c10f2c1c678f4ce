"""The overview's SVG chart: stacked resources per state, waiting tickets as a line."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import pytest

from lessor.domain.states import ResourceState as R
from lessor.service.events import History
from lessor.web import chart

SVG = "{http://www.w3.org/2000/svg}"


def history(**series: tuple[int, ...]) -> History:
    n = len(next(iter(series.values())))
    resources = {s: series.get(s.name, (0,) * n) for s in R if s is not R.ENDED}
    return History(
        times=tuple(1_700_000_000.0 + 600 * i for i in range(n)),
        resources=resources,
        waiting=series.get("waiting", (0,) * n),
    )


def tops(svg: ET.Element, series: str) -> list[float]:
    """The y of each step of a series' upper edge, left to right (smaller y is higher)."""
    el = next(e for e in svg.iter() if e.get("data-series") == series)
    points = [tuple(map(float, p.split(","))) for p in (el.get("points") or "").split()]
    if el.tag == f"{SVG}polygon":
        points = points[: len(points) // 2]  # the upper edge; the rest goes back along the lower
    return [y for _, y in points[::2]]


def test_states_are_stacked_and_a_state_that_stays_empty_is_not_drawn() -> None:
    h = history(TAKEN=(1, 2, 2), UP=(2, 1, 0), waiting=(0, 3, 1))
    svg = ET.fromstring(chart.render(h, "a <test> & more"))
    drawn = {e.get("data-series") for e in svg.iter() if e.get("data-series")}
    assert drawn == {"TAKEN", "UP", "tickets waiting"}
    # UP sits on TAKEN: its top is at TAKEN + UP = 3, 3, 2 resources.
    y3, _, y2 = tops(svg, "UP")
    assert tops(svg, "UP") == [y3, y3, y2] and y3 < y2
    assert tops(svg, "TAKEN")[1] == y2  # 2 taken reach where 2 in all reach
    legend = " ".join(t.text or "" for t in svg.iter(f"{SVG}text"))
    assert "taken: 2" in legend and "up: 0" in legend and "tickets waiting: 1" in legend
    assert svg.find(f"{SVG}title").text == "a <test> & more"  # type: ignore[union-attr]


def test_an_idle_system_draws_an_empty_grid() -> None:
    svg = ET.fromstring(chart.render(history(UP=(0, 0)), "idle"))
    assert not [e for e in svg.iter() if e.get("data-series")]
    labels = [t.text for t in svg.iter(f"{SVG}text") if t.get("text-anchor") == "end"]
    assert labels == ["0", "1", "2", "3", "4", "5"]


def test_the_time_axis_is_in_utc_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # +05:30: no local hour is a UTC hour
    time.tzset()
    try:
        # 2023-11-14 22:13:20 UTC, then every 10 minutes for two hours.
        svg = ET.fromstring(chart.render(history(UP=(1,) * 13), chart.caption(2)))
    finally:
        monkeypatch.undo()
        time.tzset()
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "23:00" in texts and "00:00" in texts and "UTC" in texts
    assert "(UTC)" in (svg.find(f"{SVG}title").text or "")  # type: ignore[union-attr]
