"""scripts/run, the README's first command: set up once, then say where to look and how to admin.

The script runs in a copy of the repository's top with a stand-in for
scripts/setup (which takes a while and needs the network) and for `lessor`
(which records how it was started), so what the script itself decides is
tested: when to set up, the admin token it makes, what it prints.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

FAKE_SETUP = f"""#!/bin/sh
set -eu
cd "$(dirname "$0")/.."
echo run >>setup-runs
mkdir -p .venv/bin
ln -sf {sys.executable} .venv/bin/python
printf '#!/bin/sh\\necho "$@" >started-with\\n' >.venv/bin/lessor
chmod +x .venv/bin/lessor
"""


def clone(tmp_path: Path) -> Path:
    top = tmp_path / "lessor"
    (top / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "run", top / "scripts" / "run")
    (top / "scripts" / "setup").write_text(FAKE_SETUP)
    (top / "scripts" / "setup").chmod(0o755)
    shutil.copy(ROOT / "pyproject.toml", top / "pyproject.toml")
    return top


def run(top: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LESSOR_", "PORT"))}
    return subprocess.run(
        [str(top / "scripts" / "run")],
        cwd="/",
        env={**clean, "PORT": "49555", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_the_first_run_sets_up_makes_an_admin_token_and_says_how_to_use_it(
    tmp_path: Path,
) -> None:
    top = clone(tmp_path)
    done = run(top)
    lines = done.stderr.splitlines()
    assert lines[0] == "lessor: setting up .venv (first run only)…"
    token = top / ".lessor" / "admin-token"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600 and len(token.read_text().strip()) >= 24
    assert (top / "started-with").read_text().split() == [
        "server", "--pools", "examples/pools.yaml", "--data-dir", ".lessor", "--port", "49555",
        "--admin-token-file", ".lessor/admin-token",
    ]  # fmt: skip
    where = next(line for line in lines if "web UI" in line)
    assert where.index("http://localhost:49555/ ") < where.index("http://localhost:49555/docs")
    assert (
        "lessor: admin token in .lessor/admin-token; use it with: "
        "LESSOR_ADMIN_TOKEN=$(cat .lessor/admin-token) .venv/bin/lessor …"
    ) in lines


def test_later_runs_neither_set_up_again_nor_change_the_token(tmp_path: Path) -> None:
    top = clone(tmp_path)
    run(top)
    token = (top / ".lessor" / "admin-token").read_text()
    again = run(top)
    assert (top / "setup-runs").read_text() == "run\n"
    assert "setting up" not in again.stderr
    assert (top / ".lessor" / "admin-token").read_text() == token


def test_a_changed_pyproject_sets_up_again(tmp_path: Path) -> None:
    top = clone(tmp_path)
    run(top)
    stamp = (top / ".venv" / ".lessor-setup-done").stat().st_mtime
    os.utime(top / "pyproject.toml", (stamp + 10, stamp + 10))
    done = run(top)
    assert done.stderr.splitlines()[0] == "lessor: pyproject.toml changed: updating .venv…"
    assert (top / "setup-runs").read_text() == "run\nrun\n"


def test_a_token_in_the_environment_is_used_instead_of_a_file(tmp_path: Path) -> None:
    top = clone(tmp_path)
    done = run(top, LESSOR_SERVER_ADMIN_TOKEN="mine")
    assert "--admin-token-file" not in (top / "started-with").read_text()
    assert not (top / ".lessor" / "admin-token").exists()
    assert "lessor: admin token: the one in LESSOR_SERVER_ADMIN_TOKEN" in done.stderr
