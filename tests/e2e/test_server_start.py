"""`lessor server` started with the mistakes people make on day one: one line, an exit code.

Each wrong input must be named in one line on stderr (the option or file, the
value, what is expected), before the banner and before any migration, and
leave nothing behind; see docs/troubleshooting.md.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from tests.conftest import EXAMPLES, ServerProcess, free_port, wait_until
from tests.e2e.helpers import write_pools

SERVER = [sys.executable, "-m", "lessor.cli", "server", "--pools", str(EXAMPLES / "pools.yaml")]
POOL = "vm:\n  max: 1\n  max_prealloc: 1\n  tags: [vm]\n  cmd_new: echo 10.0.0.1\n"


def lessor_server(
    tmp_path: Path, *args: str, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """`lessor server` that is expected to stop by itself."""
    pools = tmp_path / "pools.yaml"
    if not pools.exists():
        pools.write_text(POOL)
    return subprocess.run(
        [sys.executable, "-m", "lessor.cli", "server", "--pools", str(pools), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd or tmp_path,
        env={**os.environ, **env},
    )


def refused(done: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The one line a refused start printed."""
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    assert "web UI" not in done.stderr and "alembic" not in done.stderr  # no banner, no migration
    (line,) = done.stderr.splitlines()
    assert line.startswith("lessor: ")
    return line.removeprefix("lessor: ")


@pytest.mark.parametrize(
    ("db", "expected"),
    [
        ("notaurl", "--db: 'notaurl' is not a database URL; expected sqlite:///FILE or "),
        ("mysql://u@db/lessor", "--db: mysql://u@db/lessor: mysql is not supported; expected "),
    ],
)
def test_a_database_url_lessor_cannot_use_is_one_line(
    tmp_path: Path, db: str, expected: str
) -> None:
    line = refused(lessor_server(tmp_path, "--data-dir", str(tmp_path / "d"), "--db", db))
    assert line.startswith(expected) and "postgresql://" in line
    assert not (tmp_path / "d").exists()


def test_no_directory_is_created_for_a_given_sqlite_database(tmp_path: Path) -> None:
    db = tmp_path / "no" / "dir" / "x.sqlite"
    line = refused(
        lessor_server(tmp_path, "--data-dir", str(tmp_path / "d"), "--db", f"sqlite:///{db}")
    )
    assert line.startswith(f"--db sqlite:///{db}: the directory {db.parent} does not exist")
    assert not (tmp_path / "no").exists()


def test_an_unusable_data_directory_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")  # as root every directory is writable: use a file
    line = refused(lessor_server(tmp_path, "--data-dir", str(tmp_path / "file" / "data")))
    assert line == f"--data-dir {tmp_path}/file/data: cannot create it: Not a directory"


def test_an_unreachable_postgresql_is_waited_for_then_a_clear_failure(tmp_path: Path) -> None:
    url = f"postgresql://lessor@127.0.0.1:{free_port()}/lessor"  # nothing listens there
    started = time.monotonic()
    port = str(free_port())  # not the default port: another server may hold it
    done = lessor_server(
        tmp_path, "--data-dir", str(tmp_path / "d"), "--db", url, "--db-wait", "2", "--port", port
    )
    took = time.monotonic() - started
    assert done.returncode == 3 and "Traceback" not in done.stderr
    *notes, last = done.stderr.splitlines()
    assert notes and all(n.startswith(f"lessor: waiting for PostgreSQL at {url} (") for n in notes)
    assert last.startswith(f"lessor: --db: PostgreSQL at {url} did not answer within 2 s: ")
    assert "Connection refused" in last and "--db-wait SECONDS" in last
    assert "web UI" not in done.stderr
    assert 2 <= took < 30


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--log-level", "loud"), "Invalid value for '--log-level': 'loud' is not one of 'debug'"),
        (("--port", "99999"), "Invalid value for '--port': 99999 is not in the range 1<=x<=65535"),
        (("--db-wait", "-1"), "Invalid value for '--db-wait': -1.0 is not in the range x>=0"),
    ],
)
def test_a_bad_option_value_is_a_usage_error(
    tmp_path: Path, args: tuple[str, ...], expected: str
) -> None:
    done = lessor_server(tmp_path, "--data-dir", str(tmp_path / "d"), *args)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == f"Error: {expected}" or expected in done.stderr
    assert not (tmp_path / "d").exists()


def test_log_levels_are_case_insensitive(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server(extra=("--log-level", "WARNING"))
    assert server.client().get("/healthz").status_code == 200


def test_a_port_in_use_is_one_line_and_no_banner(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = lessor_server(
            tmp_path, "--data-dir", str(tmp_path / "d"), "--host", "127.0.0.1", "--port", str(port)
        )
    assert refused(done) == (
        f"--port {port}: in use by another process (another lessor server?); "
        "stop it or choose another port"
    )
    assert not (tmp_path / "d" / "lessor.sqlite").exists()  # nothing migrated


def test_the_banner_comes_once_the_port_listens_and_names_the_ui_first(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                *SERVER,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--data-dir",
                str(tmp_path / "d"),
            ],
            stderr=out,
            stdout=out,
            env={**os.environ, "FAKE_CLOUD_DIR": str(tmp_path / "cloud")},
            start_new_session=True,
        )
    try:
        wait_until(lambda: "web UI" in log.read_text(), timeout=30, message="the banner")
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # no retry: listening already when the banner said so
        banner = next(line for line in log.read_text().splitlines() if "web UI" in line)
        assert banner.split() == [
            "web", "UI:", f"http://127.0.0.1:{port}/",
            "API", "docs:", f"http://127.0.0.1:{port}/docs",
            "hook", "logs:", f"{tmp_path}/d/logs/hooks",
        ]  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(15)


def test_an_admin_token_on_the_command_line_is_refused(tmp_path: Path) -> None:
    done = lessor_server(tmp_path, "--data-dir", str(tmp_path / "d"), "--admin-token", "hunter2")
    line = refused(done)
    assert line.startswith("--admin-token: a token on the command line is readable by every")
    assert "--admin-token-file FILE" in line and "LESSOR_SERVER_ADMIN_TOKEN" in line
    assert "hunter2" not in line


def test_a_password_in_db_on_the_command_line_is_refused(tmp_path: Path) -> None:
    url = "postgresql://lessor:hunter2@127.0.0.1/lessor"
    line = refused(lessor_server(tmp_path, "--data-dir", str(tmp_path / "d"), "--db", url))
    assert line.startswith("--db: the URL holds a password") and "hunter2" not in line
    assert "LESSOR_DB" in line and ".pgpass" in line


def test_the_admin_token_from_a_file_works_and_is_nowhere_in_ps(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    token = tmp_path / "admin-token"
    token.write_text("t0ps3cret\n")
    token.chmod(0o600)
    server = start_server(extra=("--admin-token-file", str(token)))
    cmdline = Path(f"/proc/{server.proc.pid}/cmdline").read_bytes()
    assert b"t0ps3cret" not in cmdline
    assert server.lessor("reload").returncode == 4  # admin: refused without the token
    server.lessor("reload", check=True, LESSOR_ADMIN_TOKEN="t0ps3cret")


def test_hooks_inherit_neither_the_admin_token_nor_the_database_url(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    seen = tmp_path / "env"
    pools = write_pools(
        tmp_path / "pools.yaml", POOL.replace("echo 10.0.0.1", f"env > {seen}; echo 10.0.0.1")
    )
    db = tmp_path / "from-env.sqlite"
    server = start_server(pools, LESSOR_SERVER_ADMIN_TOKEN="t0ps3cret", LESSOR_DB=f"sqlite:///{db}")
    wait_until(seen.exists, message="cmd_new to run")
    env = seen.read_text()
    assert "t0ps3cret" not in env and "LESSOR_DB" not in env
    assert db.exists()  # LESSOR_DB named the database
    server.lessor("reload", check=True, LESSOR_ADMIN_TOKEN="t0ps3cret")


def test_the_example_pools_work_from_any_directory(tmp_path: Path) -> None:
    port = free_port()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.Popen(
        [*SERVER, "--host", "127.0.0.1", "--port", str(port), "--data-dir", "data"],
        cwd=elsewhere,
        env={**os.environ, "FAKE_CLOUD_DIR": str(tmp_path / "cloud")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"

    def spares() -> int:
        try:
            found = httpx.get(f"{url}/api/v1/resources", timeout=2).json()
        except httpx.TransportError:
            return 0
        return sum(1 for r in found if r["pool"] == "fake_x86" and r["state"] == "UP")

    try:
        wait_until(lambda: spares() == 2, timeout=30, message="the example's spares")
        hooks = elsewhere / "data" / "logs" / "hooks"
        assert "exit 127" not in "".join(p.read_text() for p in hooks.glob("*_alloc"))
    finally:
        proc.terminate()
        proc.wait(15)
        for pidfile in (tmp_path / "cloud").glob("*/pid"):  # the pretend VMs
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pidfile.read_text()), 9)


def test_a_log_directory_belongs_to_one_database(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """Hook logs are named by resource id: two databases' logs in one directory would mix."""
    pools = write_pools(tmp_path / "pools.yaml", POOL)
    first = start_server(pools, db=f"sqlite:///{tmp_path / 'one.sqlite'}")
    first.stop()
    first.start()  # the same database again: its own logs
    first.stop()
    other = f"sqlite:///{tmp_path / 'two.sqlite'}"
    line = refused(lessor_server(tmp_path, "--db", other, "--data-dir", str(tmp_path / "data")))
    assert "holds the hook logs of another database" in line and str(tmp_path / "data") in line
