"""docs/resalloc.md's compatibility table names tests that exist, and every test here has a row."""

from __future__ import annotations

import ast
import re

from tests.conftest import ROOT

HERE = ROOT / "tests" / "conformance"
NAMED = re.compile(r"`(test_resalloc_\w+\.py)::(test_\w+)`")


def defined() -> set[tuple[str, str]]:
    found = set()
    for path in HERE.glob("test_resalloc_*.py"):
        tree = ast.parse(path.read_text())
        found |= {
            (path.name, node.name)
            for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
        }
    return found


def test_every_test_the_table_names_exists_and_every_row_test_is_named() -> None:
    text = (ROOT / "docs" / "resalloc.md").read_text()
    named = set(NAMED.findall(text))
    assert named, "no tests named in docs/resalloc.md"
    tests = {t for t in defined() if t[0] != "test_resalloc_table.py"}
    assert named - tests == set(), "named in docs/resalloc.md but not defined"
    assert tests - named == set(), "defined but not in docs/resalloc.md's table"
