"""Files a server holds locked for as long as it runs: the one-server-only rules.

A lock taken with flock(2) ends with the process that took it, however it
ends (kill -9 included): nothing stale is ever left to clean up, and the
next server to start takes it over at once.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import TextIO


def hold(path: Path) -> TextIO | None:
    """Lock `path` (made if missing) for the life of this process and write our pid in it;
    None when another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    f = path.open("a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    f.truncate(0)
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f


def holder(path: Path) -> str:
    """The pid written in a held lock file (for the message that names who holds it)."""
    try:
        return path.read_text().strip() or "?"
    except OSError:
        return "?"


def server_id(logdir: Path, make: str) -> str:
    """The identity of the server that uses `logdir` (made once, as `make`): its hook claims
    carry it, so the server restarted on that directory knows its own dead claims."""
    path = logdir / ".lessor-server-id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{make}\n")
        return make
