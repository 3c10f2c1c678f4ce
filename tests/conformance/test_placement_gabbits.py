"""Placement's own gabbi files, run with gabbi-run against lessor: exactly the files that
docs/placement.md lists as passing pass, and the rest still fail (so progress shows)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.conformance.placement import gabbits, run_file

DOC = Path(__file__).parents[2] / "docs" / "placement.md"


def listed(section: str) -> list[str]:
    """The gabbi file names in a section of docs/placement.md (`- name.yaml: why`)."""
    text = DOC.read_text().split(f"<!-- {section} -->")[1].split("<!-- end -->")[0]
    return re.findall(r"^- `?([\w.-]+\.yaml)", text, flags=re.M)


@pytest.fixture(scope="session")
def gabbi_dir() -> Path:
    return gabbits(Path.home() / ".cache" / "lessor-conformance")


@pytest.mark.parametrize("name", listed("passing"))
def test_placement_gabbi_file_passes(name: str, gabbi_dir: Path, tmp_path: Path) -> None:
    result = run_file(gabbi_dir / name, tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


@pytest.mark.parametrize("name", listed("failing"))
def test_placement_gabbi_file_still_fails(name: str, gabbi_dir: Path, tmp_path: Path) -> None:
    """A file that starts to pass moves to the passing list in docs/placement.md."""
    result = run_file(gabbi_dir / name, tmp_path)
    assert result.returncode != 0, f"{name} passes now: list it as passing in docs/placement.md"
