"""Jobs through the real CLI and server: several parts granted at once, only to the holder.

Pools of max 1 each, so the second of two jobs asking for both must wait for
the first to close, holding nothing meanwhile; two users, so the key is checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import ServerProcess, wait_until
from tests.e2e.helpers import as_caller

POOLS = """\
x86:
  max: 1
  max_prealloc: 1
  tags: [x86_64]
  cmd_new: "echo x86-$LESSOR_RESOURCE_ID"
  cmd_delete: "true"
arm:
  max: 1
  max_prealloc: 1
  tags: [aarch64]
  cmd_new: "echo arm-$LESSOR_RESOURCE_ID"
  cmd_delete: "true"
"""


@pytest.fixture
def server(tmp_path: Path, start_server: Callable[..., ServerProcess]) -> ServerProcess:
    pools = tmp_path / "pools.yaml"
    pools.write_text(POOLS)
    return start_server(pools=pools)


def test_two_jobs_for_the_same_two_resources_are_granted_one_after_the_other(
    server: ServerProcess, tmp_path: Path
) -> None:
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    parts = ("--part", "x86=x86_64", "--part", "arm=aarch64")
    code, out, err = as_caller(server, alice, "job", *parts)
    assert code == 0, err
    first = out.strip()
    code, out, err = as_caller(server, bob, "job", "--part", "arm=aarch64", "--part", "x86=x86_64")
    assert code == 0, err
    second = out.strip()

    code, out, err = as_caller(server, alice, "job-wait", first, "--timeout", "30")
    assert code == 0, err
    data = json.loads(out)
    assert data["x86"].startswith("x86-") and data["arm"].startswith("arm-")
    code, out, _ = as_caller(server, alice, "job-wait", first, "--env")
    assert "LESSOR_PART_X86=x86-" in out and "LESSOR_PART_ARM=arm-" in out

    # the second waits, holding nothing, and says why
    code, _, err = as_caller(server, bob, "job-check", second)
    assert code == 1 and f"job {second} waits for" in err
    with server.client() as http:
        job = http.get(f"/api/v1/jobs/{second}").json()
        assert job["state"] == "WAITING"
        assert all(p["resource_id"] is None for p in job["parts"].values())
        # bob may not close alice's job, with no key (401) or his own (403)
        assert http.post(f"/api/v1/jobs/{first}/close").status_code == 401
    code, _, err = as_caller(server, bob, "job-close", first)
    assert code == 4 and "Traceback" not in err and err.count("\n") == 1
    code, out, _ = as_caller(server, bob, "jobs")
    assert f"{first}\tGRANTED" in out and f"{second}\tWAITING" in out
    with server.client() as http:
        page = http.get("/ui/jobs").text
    for job, state in ((first, "GRANTED"), (second, "WAITING")):
        row = re.search(rf'<tr data-job="{job}" data-part="arm">\s*<td[^>]*>{job}</td>', page)
        assert row is not None and f">{state}</td>" in page[row.end() : row.end() + 80], page
    waiting = page[page.index(f'data-job="{second}"') :]
    assert 'href="/ui/tickets/' in waiting and "pool" in waiting.split("</tr>")[0]  # why it waits

    assert as_caller(server, alice, "job-close", first)[0] == 0
    code, out, err = as_caller(server, bob, "job-wait", second, "--timeout", "30")
    assert code == 0, err
    assert set(json.loads(out)) == {"x86", "arm"}
    assert as_caller(server, bob, "job-close", second)[0] == 0
    with server.client() as http:
        wait_until(lambda: http.get(f"/api/v1/jobs/{second}").json()["state"] == "CLOSED")
        log = http.get("/api/v1/events", params={"limit": 1000}).json()
    kinds = [e["kind"] for e in log]
    assert kinds.count("job.granted") == 2 and kinds.count("job.opened") == 2


def test_a_bad_part_is_one_line_naming_it(server: ServerProcess, tmp_path: Path) -> None:
    code, _, err = as_caller(server, tmp_path / "u", "job", "--part", "x86")
    assert code == 2 and "NAME=TAG" in err
    code, _, err = as_caller(server, tmp_path / "u", "job", "--part", "gpu=cuda")
    assert code == 4 and "parts.gpu" in err and err.count("\n") == 1
