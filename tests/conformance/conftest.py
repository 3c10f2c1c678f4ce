"""Fixtures of the resalloc conformance suite: a database per module, sites that live as long.

A site (site.py) is shared by the tests of one module, one per database, so
each test uses pools and tags of its own and never sleeps for state.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest
from tests.conformance.site import Site, SiteFactory
from tests.conftest import PgCluster, ServerProcess, free_port


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def site_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database per module and kind: the module's tests run on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'lessor.sqlite'}"
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    return cluster.new_database()


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteFactory]:
    """Starts sites for a module; all stopped when the module is done."""
    started: list[ServerProcess] = []

    def start(
        db: str,
        pools: str,
        *,
        server_yaml: str = "sleeptime: 1\n",
        logdir: bool = True,
        **env: str,
    ) -> Site:
        base = tmp_path_factory.mktemp("site")
        etc, logs, work = base / "etc", base / "logs", base / "work"
        for d in (etc, work):
            d.mkdir()
        (etc / "pools.yaml").write_text(pools.replace("WORK", str(work)))
        settings = f"db_url: '{db}'\n" + (f"logdir: {logs}\n" if logdir else "") + server_yaml
        (etc / "server.yaml").write_text(settings)
        port = free_port()
        args = [
            sys.executable,
            "-m",
            "lessor.cli",
            "server",
            "--config-dir",
            str(etc),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        full_env = {
            **os.environ,
            "WORK": str(work),
            "LESSOR_HOOK_ENV": "WORK",
            "XDG_STATE_HOME": str(base / "state"),  # the CLI's ticket keys: not in ~
            **env,
        }
        full_env.pop("LESSOR_SERVER", None)
        full_env.pop("CONFIG_DIR", None)
        server = ServerProcess(
            f"http://127.0.0.1:{port}",
            None,  # type: ignore[arg-type]
            args,
            full_env,
            base / "server.log",
        )
        server.start()
        started.append(server)
        return Site(server, etc, logs, work)

    yield start
    for server in started:
        server.stop()
