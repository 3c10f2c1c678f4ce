"""Open+close throughput while 0, 20 and 100 event-stream followers are open.

Every open UI tab, every `lessor events -f`, is a follower of
`GET /api/v1/events?follow=1`. Runs a real `lessor server` (SQLite) with
bench/ticket_latency.py's pools, opens N followers on raw sockets (one thread
drains them all, so the load generator stays cheap), and measures
open+wait+close cycles a second; prints each rate and its ratio to the one
with no follower. Prints figures; asserts nothing.

    .venv/bin/python bench/followers.py [--seconds 6] [--workers 4] [--followers 0,20,100]
"""

from __future__ import annotations

import argparse
import selectors
import socket
import tempfile
import threading
from pathlib import Path

import httpx
from ticket_latency import REUSED, cycles_per_second, server, wait_spares


def follow(url: str, n: int, stop: threading.Event) -> tuple[threading.Thread, list[int]]:
    """`n` followers of the event log, drained by one thread; how many bytes each got."""
    host, _, port = url.removeprefix("http://").partition(":")
    got = [0] * n
    sel = selectors.DefaultSelector()
    for i in range(n):
        s = socket.create_connection((host, int(port)))
        s.sendall(f"GET /api/v1/events?follow=1&limit=0 HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)

    def drain() -> None:
        while not stop.is_set():
            for key, _ in sel.select(timeout=0.2):
                chunk = key.fileobj.recv(65536)  # type: ignore[union-attr]
                got[key.data] += len(chunk)
        for key in list(sel.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]

    t = threading.Thread(target=drain)
    t.start()
    return t, got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--followers", default="0,20,100")
    args = ap.parse_args()
    counts = [int(n) for n in args.followers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        with server(base, f"sqlite:///{base / 'db.sqlite'}") as (url, _pid):
            with httpx.Client(base_url=url) as http:
                wait_spares(http, 20, "reused")
            baseline = None
            for n in counts:
                stop = threading.Event()
                drainer, got = follow(url, n, stop)
                rate, _ = cycles_per_second(url, REUSED, args.seconds, args.workers)
                stop.set()
                drainer.join()
                baseline = baseline or rate
                fed = sum(1 for g in got if g > 0)
                print(
                    f"{n:>4} followers: {rate:7.0f} open+wait+close cycles/s "
                    f"({rate / baseline:5.2f} of none; {fed}/{n} followers fed)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
