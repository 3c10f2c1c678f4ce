"""Reservations on one machine: lock files the kernel releases when their holder dies.

Each core and NIC has a lock file in the state directory; holding it (flock)
is holding the hardware. A process that ends in any way, `kill -9`
included, drops its locks, so no stale reservation can outlive it. The
file's content says who holds it (user, pid, command, since), for `status`
and for the message a waiter prints. Waiters queue in FIFO order as files
named by a sequence number; dead waiters are skipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

STATE_ENV = "LESSOR_HW_STATE_DIR"


def state_dir() -> Path:
    """Shared by every user of the machine: /run/lessor/hw when we may, else per user."""
    env = os.environ.get(STATE_ENV)
    if env:
        return Path(env)
    run = Path("/run/lessor/hw")
    if os.geteuid() == 0 or os.access(run, os.W_OK):
        return run
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return Path(runtime) / "lessor" / "hw" if runtime else Path(f"/tmp/lessor-hw-{os.getuid()}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


@dataclass
class Held:
    """Lock files we hold; closing them is the release."""

    fds: dict[str, int]

    def write_holder(self, info: dict[str, object]) -> None:
        data = json.dumps(info).encode()
        for fd in self.fds.values():
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)

    def release(self) -> None:
        for fd in self.fds.values():
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)
        self.fds.clear()


class State:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.queue = path / "queue"
        if not self.queue.exists():
            old = os.umask(0)
            try:
                # sticky and world-writable like /tmp: every user of the machine shares it
                path.mkdir(parents=True, exist_ok=True, mode=0o1777)
                self.queue.mkdir(exist_ok=True, mode=0o1777)
            finally:
                os.umask(old)

    # -- the global lock: one decision at a time ------------------------------------------

    @contextlib.contextmanager
    def decision(self) -> Iterator[None]:
        fd = self._open(self.path / "state.lock")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # -- hardware locks ----------------------------------------------------------------

    def lock_name(self, kind: str, key: object) -> str:
        return f"{kind}-{key}.lock"

    def try_take(self, names: list[str]) -> tuple[Held, set[str]]:
        """Takes every free lock among `names`; returns them and the names found busy."""
        held: dict[str, int] = {}
        busy: set[str] = set()
        for name in names:
            fd = self._open(self.path / name)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                busy.add(name)
                continue
            held[name] = fd
        return Held(held), busy

    def stale_holder(self, held: Held) -> list[dict[str, object]]:
        """What dead holders left in lock files we just took (they died without releasing)."""
        found = []
        for fd in held.fds.values():
            raw = os.pread(fd, 65536, 0)
            if raw:
                with contextlib.suppress(ValueError):
                    found.append(json.loads(raw))
        return found

    def holders(self) -> dict[str, dict[str, object]]:
        """Lock name -> holder info, for the locks held right now."""
        result: dict[str, dict[str, object]] = {}
        for path in sorted(self.path.glob("*-*.lock")):
            fd = self._open(path)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    continue  # free
                except BlockingIOError:
                    pass
                raw = os.pread(fd, 65536, 0)
                with contextlib.suppress(ValueError):
                    result[path.name] = json.loads(raw) if raw else {}
            finally:
                os.close(fd)
        return result

    # -- the FIFO queue ------------------------------------------------------------------

    def enqueue(self, info: dict[str, object]) -> Path:
        with self.decision():
            counter = self.path / "queue.seq"
            seq = int(counter.read_text() or 0) + 1 if counter.exists() else 1
            counter.write_text(str(seq))
            entry = self.queue / f"{seq:012d}-{os.getpid()}"
            entry.write_text(json.dumps(info))
        return entry

    def waiters(self) -> list[tuple[Path, dict[str, object]]]:
        """Live waiters, first come first; entries of dead processes are removed."""
        alive = []
        for entry in sorted(self.queue.iterdir()):
            pid = int(entry.name.partition("-")[2] or 0)
            if not pid_alive(pid):
                entry.unlink(missing_ok=True)
                continue
            info: dict[str, object] = {}
            with contextlib.suppress(OSError, ValueError):
                info = json.loads(entry.read_text())
            alive.append((entry, info))
        return alive

    # -- usage log -----------------------------------------------------------------------

    def log_usage(self, event: dict[str, object]) -> None:
        line = json.dumps({"t": time.time(), **event}) + "\n"
        fd = os.open(self.path / "usage.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, line.encode())  # one write with O_APPEND: lines never interleave
        finally:
            os.close(fd)

    def usage(self) -> list[dict[str, object]]:
        path = self.path / "usage.log"
        if not path.exists():
            return []
        events = []
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
        return events

    @staticmethod
    def _open(path: Path) -> int:
        old = os.umask(0)
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        finally:
            os.umask(old)
