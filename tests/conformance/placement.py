"""Placement's own API tests (gabbi files from the openstack-placement wheel) against lessor.

The wheel is downloaded once (pinned) into a cache directory; each gabbi file
runs with `gabbi-run` against a fresh lessor server (SQLite) of its own,
with the environment that Placement's APIFixture would have set.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from tests.conftest import free_port

from lessor.server import api_app, build

WHEEL = "openstack-placement==16.0.0"
GABBITS = "placement/tests/functional/gabbits/"


def gabbits(cache: Path) -> Path:
    """The gabbi files of the pinned wheel, downloaded and unpacked into `cache` once."""
    out = cache / "gabbits"
    if out.is_dir() and any(out.glob("*.yaml")):
        return out
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache), WHEEL],
        check=True,
    )
    (wheel,) = cache.glob("openstack_placement-*.whl")
    out.mkdir(exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if name.startswith(GABBITS) and name.endswith(".yaml"):
                (out / Path(name).name).write_bytes(z.read(name))
    return out


def fixture_environment() -> dict[str, str]:
    """What Placement's APIFixture puts in the environment: fresh uuids and names."""
    env = {
        name: str(uuid.uuid4())
        for name in (
            "RP_UUID",
            "RP_NAME",
            "RP_UUID1",
            "RP_NAME1",
            "RP_UUID2",
            "RP_NAME2",
            "PROJECT_ID",
            "ADMIN_PROJECT_ID",
            "SERVICE_PROJECT_ID",
            "USER_ID",
            "PROJECT_ID_ALT",
            "USER_ID_ALT",
            "INSTANCE_UUID",
            "MIGRATION_UUID",
            "CONSUMER_UUID",
            "PARENT_PROVIDER_UUID",
            "ALT_PARENT_PROVIDER_UUID",
            "ALT_USER_ID",
            "ALT_RP_UUID",
            "ALT_RP_NAME",
        )
    }
    env |= {
        "CUSTOM_RES_CLASS": "CUSTOM_IRON_NFV",
        "CUSTOM_RES_CLASS1": "CUSTOM_IRON_NFV1",
        "CUSTOM_RES_CLASS2": "CUSTOM_IRON_NFV2",
    }
    return env


@contextmanager
def lessor_server(workdir: Path) -> Iterator[str]:
    """A fresh lessor (SQLite in `workdir`) serving HTTP on a free port, in this process."""
    parts = build(f"sqlite:///{workdir / 'lessor.sqlite'}", ())
    app = api_app(parts, workdir / "logs", admin_token="admin")  # the token Placement's tests send
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started and thread.is_alive():
            thread.join(0.01)
        yield f"http://127.0.0.1:{port}/placement"
    finally:
        server.should_exit = True
        thread.join(10)
        parts.close()


def run_file(path: Path, workdir: Path) -> subprocess.CompletedProcess[str]:
    """gabbi-run of one file against a fresh lessor; its output says which tests failed."""
    gabbi = Path(sys.executable).parent / "gabbi-run"
    with lessor_server(workdir) as url:
        return subprocess.run(
            [str(gabbi), url, "--", str(path)],
            env={**os.environ, **fixture_environment()},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
