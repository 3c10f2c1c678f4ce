"""The file of kept ticket keys: private, atomic, and never a reason for a command to fail."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from lessor.client.ticket_keys import KEPT_UNCHECKED, TicketKeys

URL = "http://lessor.example:49100"


def keys(path: Path, warnings: list[str]) -> TicketKeys:
    return TicketKeys(path / "lessor" / "tickets.json", warn=warnings.append)


def test_keys_are_kept_per_server_and_ticket_in_a_private_file(tmp_path: Path) -> None:
    warnings: list[str] = []
    kept = keys(tmp_path, warnings)
    kept.put(URL, 1, "k1")
    kept.put(URL, 2, "k2")
    kept.put("http://other:49100", 1, "elsewhere")
    assert (kept.get(URL, 1), kept.get(URL, 2), kept.get(URL, 3)) == ("k1", "k2", None)
    assert kept.get("http://other:49100", 1) == "elsewhere"
    assert stat.S_IMODE(kept.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(kept.path.parent.stat().st_mode) == 0o700
    kept.forget(URL, [1, 99])
    assert (kept.get(URL, 1), kept.get(URL, 2)) == (None, "k2")
    assert [p.name for p in kept.path.parent.iterdir() if p.name.endswith(".tmp")] == []
    assert warnings == []


def test_a_shared_directory_is_made_private(tmp_path: Path) -> None:
    directory = tmp_path / "lessor"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    keys(tmp_path, []).put(URL, 1, "k")
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        '{"servers": []}',
        '{"servers": {"u": {"tickets": []}}}',
        '{"servers": {"u": {"tickets": {"x": {"key": "k", "saved": 0}}}}}',
        '{"servers": {"u": {"tickets": {"1": {"key": 5, "saved": 0}}}}}',
        '{"servers": {"u": {"swept": "yesterday"}}}',
    ],
)
def test_a_file_of_another_shape_is_one_warning_then_replaced(tmp_path: Path, content: str) -> None:
    warnings: list[str] = []
    kept = keys(tmp_path, warnings)
    kept.path.parent.mkdir()
    kept.path.write_text(content)
    assert kept.get("u", 1) is None
    kept.put(URL, 1, "k")
    assert kept.get(URL, 1) == "k"
    assert len(warnings) == 1 and "not a file of ticket keys" in warnings[0]
    assert json.loads(kept.path.read_text())["servers"][URL]["tickets"]["1"]["key"] == "k"


def test_a_sweep_is_due_once_a_day_for_keys_older_than_a_day(tmp_path: Path) -> None:
    kept = keys(tmp_path, [])
    kept.put(URL, 1, "old")
    kept.put(URL, 2, "new")
    content = json.loads(kept.path.read_text())
    content["servers"][URL]["tickets"]["1"]["saved"] -= KEPT_UNCHECKED + 60
    kept.path.write_text(json.dumps(content))
    assert kept.due_for_sweep(URL) == [1]
    assert kept.due_for_sweep(URL) == []  # claimed: the next one is tomorrow
    assert kept.due_for_sweep("http://other:49100") == []


def test_an_unwritable_place_is_one_warning_and_no_error(tmp_path: Path) -> None:
    warnings: list[str] = []
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    kept = TicketKeys(blocked / "lessor" / "tickets.json", warn=warnings.append)
    kept.put(URL, 1, "k")
    kept.put(URL, 2, "k")
    assert kept.get(URL, 1) is None
    assert len(warnings) == 1 and "cannot keep ticket keys" in warnings[0]
