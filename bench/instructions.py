"""Instructions a ticket's open+close cycle takes through the whole app, counted by callgrind.

Wall-clock and CPU-time figures on a shared VM move by half within minutes;
the count of instructions hardly moves, so it is the figure to compare two
versions of the code by. The cycles run in-process, through the ASGI app as
`lessor server` serves it (fast lane, FastAPI, service, SQLite store), with
`--tasks` of them in flight at once as concurrent clients would have them
(so group commits form); no sockets, no reconciler. Two runs of different
lengths under valgrind, their difference over the extra cycles, leave the
start-up out.

    .venv/bin/python bench/instructions.py [--tasks 3]

Needs valgrind (`apt-get install valgrind`).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SHORT, LONG = 48, 144


def run_cycles(cycles: int, tasks: int) -> None:
    from ticket_latency import POOLS, REUSED

    from lessor.api.fastlane import FastLane
    from lessor.config.pools import load_pools
    from lessor.server import api_app, build

    tmp = Path(tempfile.mkdtemp())
    (tmp / "pools.yaml").write_text(POOLS)
    pools = load_pools(tmp / "pools.yaml")
    parts = build(f"sqlite:///{tmp}/lessor.sqlite", pools)
    service = parts.service
    parts.executor.call(service.remember_pools)
    reused = next(p for p in pools if p.name == "reused")
    for _ in range(20):
        r = service.store.create_resource("reused", ["reused"], reused.name_pattern, time.time())
        service.store.mark_up(r.id, b"10.0.0.2\n", time.time())
    app = FastLane(api_app(parts, tmp))  # no lifespan: no reconciler

    async def call(
        method: str, path: str, body: bytes = b"", key: str | None = None
    ) -> tuple[int, Any]:
        sent: list[dict[str, Any]] = []
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return messages.pop() if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        headers = [(b"host", b"lessor"), (b"content-type", b"application/json")]
        if key:  # the ticket's holder; a server from before keys ignores it
            headers.append((b"lessor-ticket-key", key.encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
            "state": {},
        }
        await app(scope, receive, send)  # type: ignore[arg-type]
        return sent[0]["status"], json.loads(sent[1]["body"])

    async def client(n: int) -> None:
        body = json.dumps(REUSED).encode()
        for _ in range(n):
            status, t = await call("POST", "/api/v1/tickets", body)
            assert status == 201 and t["state"] == "ASSIGNED", t
            status, t = await call("POST", f"/api/v1/tickets/{t['id']}/close", key=t.get("key"))
            assert status == 200, t

    async def main() -> None:
        await asyncio.gather(*(client(cycles // tasks) for _ in range(tasks)))

    gc.collect()
    gc.freeze()  # as the server does once started
    asyncio.run(main())


def counted(cycles: int, tasks: int) -> int:
    """Instructions of a whole run of `cycles` cycles under callgrind."""
    out = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--run",
            str(cycles),
            "--tasks",
            str(tasks),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise SystemExit(f"callgrind printed no count:\n{out.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=3, help="cycles in flight at once")
    ap.add_argument("--run", type=int, help=argparse.SUPPRESS)  # the counted child
    args = ap.parse_args()
    if args.run is not None:
        run_cycles(args.run, args.tasks)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("needs valgrind: apt-get install valgrind")
    short, long = counted(SHORT, args.tasks), counted(LONG, args.tasks)
    per_cycle = (long - short) / (LONG - SHORT)
    print(
        f"open+close cycle through the app, {args.tasks} in flight, SQLite: "
        f"{per_cycle / 1e6:.2f} million instructions"
    )


if __name__ == "__main__":
    main()
