"""Fixtures shared by every test layer: databases (SQLite and a throwaway
PostgreSQL cluster) and a real `lessor server` process."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

import httpx
import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
IN_CI = bool(os.environ.get("CI"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    predicate: Callable[[], object],
    timeout: float = 15.0,
    interval: float = 0.02,
    message: str = "condition",
) -> object:
    """Polls with a deadline; returns the first truthy value of `predicate`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


# --- PostgreSQL: a throwaway cluster per test session --------------------------------------


def _pg_bindir() -> Path | None:
    """Debian keeps initdb/pg_ctl out of PATH, under /usr/lib/postgresql/VERSION/bin."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if candidates:
        return candidates[0].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@dataclass
class PgCluster:
    bindir: Path
    datadir: Path
    sockdir: Path
    port: int
    as_user: list[str]
    _names: Iterator[int] = field(default_factory=lambda: count(1))

    def run(self, *args: str) -> None:
        done = subprocess.run(
            [*self.as_user, *args], capture_output=True, text=True, timeout=60, check=False
        )
        if done.returncode:
            raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}")

    def start(self) -> None:
        self.run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.datadir),
            "-w",
            "-l",
            str(self.datadir.parent / "log"),
            "start",
            "-o",
            f"-k {self.sockdir} -p {self.port} -c listen_addresses='' -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
        )

    def stop(self) -> None:
        """As a crash or a power cut does: `-m immediate`, no shutdown checkpoint."""
        self.run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "stop")

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://postgres@/{dbname}?host={self.sockdir}&port={self.port}"

    def new_database(self, durable: bool = False) -> str:
        """A fresh database. The cluster runs with synchronous_commit off, for speed; a
        test that kills PostgreSQL itself (`pg_ctl restart -m immediate`) asks for a
        `durable` one, whose commits survive that as in production (fsync stays off:
        the machine does not crash)."""
        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url("postgres").replace("+psycopg", ""), autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
            if durable:
                c.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = on')
        return self.url(name)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    if _pg_bindir() is None:
        message = "PostgreSQL (initdb/pg_ctl) is not installed; scripts/test installs it"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with throwaway_pg() as cluster:
        yield cluster


@contextlib.contextmanager
def throwaway_pg() -> Iterator[PgCluster]:
    """A PostgreSQL cluster of its own (initdb, pg_ctl), removed at the end; the benches
    use it too."""
    bindir = _pg_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL (initdb/pg_ctl) is not installed")
    # Not under pytest's own temporary tree: another pytest run resets that tree's
    # permissions to the owner's, and the cluster runs as the postgres user.
    base = Path(tempfile.mkdtemp(prefix="lessor-pg-"))
    datadir, sockdir = base / "data", base / "sock"
    sockdir.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        as_user = ["runuser", "-u", "postgres", "--"]
        base.chmod(0o755)
        shutil.chown(base, "postgres")
        shutil.chown(sockdir, "postgres")
        for parent in base.parents:
            if parent == Path("/"):
                break
            parent.chmod(parent.stat().st_mode | 0o011)
    cluster = PgCluster(bindir, datadir, sockdir, free_port(), as_user)
    cluster.run(
        str(bindir / "initdb"),
        "-D",
        str(datadir),
        "-U",
        "postgres",
        "-A",
        "trust",
        "--no-sync",
        "-E",
        "UTF8",
    )
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs on the embedded default and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lessor.sqlite'}"
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    return cluster.new_database()


# --- A real server process --------------------------------------------------------------------


@dataclass
class ServerProcess:
    url: str
    proc: subprocess.Popen[bytes]
    args: list[str]
    env: dict[str, str]
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def lessor(
        self, *args: str, check: bool = False, timeout: float = 60, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Runs the real `lessor` CLI against this server."""
        return subprocess.run(
            [sys.executable, "-m", "lessor.cli", *args],
            env={**self.env, "LESSOR_SERVER": self.url, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def start(self) -> None:
        with self.log.open("ab") as logf:
            self.proc = subprocess.Popen(
                self.args, env=self.env, stdout=logf, stderr=logf, cwd=ROOT, start_new_session=True
            )

        def healthy() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited:\n{self.log.read_text()[-3000:]}")
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, timeout=30, message="the server to answer /healthz")

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Starts `lessor server` as a subprocess; stopped (and its fake VMs removed) at teardown."""
    with server_starter(tmp_path) as start:
        yield start


@contextlib.contextmanager
def server_starter(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """start_server outside pytest (the benches use it)."""
    servers: list[ServerProcess] = []

    def start(
        pools: Path = EXAMPLES / "pools.yaml",
        db: str | None = None,
        extra: tuple[str, ...] = (),
        data: Path | None = None,
        **env: str,
    ) -> ServerProcess:
        """`data`: its --data-dir (one each for several servers on one database)."""
        port = free_port()
        data = data or tmp_path / "data"
        args = [
            sys.executable,
            "-m",
            "lessor.cli",
            "server",
            "--pools",
            str(pools),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(data),
            "--sleeptime",
            "1",
            *extra,
        ]
        if db:
            args += ["--db", db]
        full_env = {
            **os.environ,
            "FAKE_CLOUD_DIR": str(tmp_path / "cloud"),
            "LESSOR_HOOK_ENV": "FAKE_CLOUD_*",  # hooks get only the variables passed on
            "XDG_STATE_HOME": str(tmp_path / "state"),  # the CLI's ticket keys: not in ~
            **env,
        }
        full_env.pop("LESSOR_SERVER", None)
        server = ServerProcess(
            f"http://127.0.0.1:{port}",
            None,
            args,
            full_env,  # type: ignore[arg-type]
            tmp_path / f"server-{len(servers)}.log",
        )
        server.start()
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for s in servers:
            s.stop()
        cloud = tmp_path / "cloud"
        if cloud.exists():  # stop the pretend VMs a killed server left behind
            for pidfile in cloud.glob("*/pid"):
                with contextlib.suppress(OSError, ValueError):
                    os.kill(int(pidfile.read_text()), 9)
