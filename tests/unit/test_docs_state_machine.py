"""docs/concepts.md draws the life cycles from the one transition table, and says it exactly."""

from __future__ import annotations

import re
from pathlib import Path

from lessor.domain.states import ResourceMove, TicketMove, Transition

CONCEPTS = Path(__file__).resolve().parents[2] / "docs" / "concepts.md"


def table(moves: tuple[Transition[object], ...]) -> list[str]:  # type: ignore[type-var]
    rows = ["| move | from | to | event |", "|---|---|---|---|"]
    for m in moves:
        sources = ", ".join(sorted(str(s) for s in m.sources)) or "(new)"
        rows.append(f"| {m.name} | {sources} | {m.target} | {m.event} |")
    return rows


def documented(kind: str) -> list[str]:
    text = CONCEPTS.read_text()
    found = re.search(rf"<!-- moves: {kind} -->\n(.*?)\n<!-- /moves -->", text, re.S)
    assert found, f"docs/concepts.md has no table of {kind} moves"
    return found.group(1).splitlines()


def test_the_documented_moves_are_the_tables() -> None:
    assert documented("resource") == table(ResourceMove.ALL)  # type: ignore[arg-type]
    assert documented("ticket") == table(TicketMove.ALL)  # type: ignore[arg-type]
