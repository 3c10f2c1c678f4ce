"""The UI's template filters: every time it shows says its zone, UTC."""

from __future__ import annotations

import time

import pytest

from lessor.web import format


def test_a_time_is_shown_in_utc_with_its_zone_whatever_the_servers_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        shown = format.clock(1_796_208_067.0)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert shown == "2026-12-02 10:41:07 UTC"
    assert format.iso(1_796_208_067.0) == "2026-12-02T10:41:07+00:00"
    assert format.clock(None) == ""
