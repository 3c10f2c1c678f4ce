"""Reservations on one machine: lock files the kernel releases when their process dies.

Each core, NIC and GPU has a lock file in the state directory; holding its
flock *is* having reserved it. A process that ends in any way, `kill -9`
included, drops its locks, so no stale reservation can outlive it. The
file's content, a reservation record, says who reserved it (user, pid,
command, since), for `status` and for the message a waiter prints. Waiters
queue in FIFO order as files named by a sequence number; dead waiters are
skipped. Every file is written in `protocol.py`'s line format, and the
directory's `protocol` file says which version of it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

from lessor.hw import protocol as p


class StateError(Exception):
    """The state directory cannot be used (another version of lessor hw is using it)."""


def state_dir() -> str:
    """Shared by every user of the machine: /run/lessor/hw when we may, else per user."""
    env = os.environ.get(p.STATE_ENV)
    if env:
        return env
    if os.geteuid() == 0 or os.access(p.STATE_SHARED, os.W_OK):
        return p.STATE_SHARED
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return p.STATE_RUNTIME.format(runtime=runtime)
    return p.STATE_TMP.format(uid=os.getuid())


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


@dataclass(frozen=True)
class Reservation:
    """A reservation record, as read back from a lock file (or a usage line)."""

    token: str
    pid: int
    user: str
    since: float
    profile: str
    command: str
    units: tuple[str, ...]  # lock names
    cpus: tuple[int, ...]  # its affinity

    @classmethod
    def parse(cls, raw: bytes) -> Reservation | None:
        found = p.parse(raw)
        if found is None or found[0] != p.RESERVATION:
            return None
        f = found[1]
        try:
            return cls(
                f["token"],
                int(f["pid"]),
                p.text(f.get("user", "")),
                int(f["since"]) / 1e9,
                p.text(f.get("profile", "")),
                p.text(f.get("command", "")),
                tuple(p.text(u) for u in f["units"].split(",")),
                tuple(int(c) for c in f.get("cpus", "").split(",") if c),
            )
        except (KeyError, ValueError):
            return None


def command_bytes(argv: list[str]) -> bytes:
    """The command line a record keeps: its arguments' bytes joined by spaces, cut short."""
    return b" ".join(os.fsencode(a) for a in argv)[: p.COMMAND_BYTES]


class Taken:
    """Lock files we hold; closing them is the release."""

    def __init__(self, fds: dict[str, int]) -> None:
        self.fds = fds

    def write(self, record: bytes) -> None:
        for fd in self.fds.values():
            os.ftruncate(fd, 0)
            os.pwrite(fd, record, 0)

    def keep(self, names: set[str]) -> Taken:
        """The locks among `names`; the others are released."""
        Taken({k: v for k, v in self.fds.items() if k not in names}).release()
        return Taken({k: v for k, v in self.fds.items() if k in names})

    def release(self) -> None:
        for fd in self.fds.values():
            with contextlib.suppress(OSError):  # the release is the close; this helps `status`
                os.ftruncate(fd, 0)
            os.close(fd)
        self.fds.clear()


class _Decision:
    """The global lock of the state directory: one decision at a time."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> None:
        self.fd = _open(self.path)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *_: object) -> None:
        os.close(self.fd)


class State:
    def __init__(self, path: str) -> None:
        self.path = path
        self.queue = os.path.join(path, p.QUEUE_DIR)
        if not os.path.isdir(self.queue):
            old = os.umask(0)
            try:
                # sticky and world-writable like /tmp: every user of the machine shares it
                os.makedirs(path, mode=0o1777, exist_ok=True)
                if not os.path.isdir(self.queue):
                    os.mkdir(self.queue, 0o1777)
            except FileExistsError:
                pass  # another process made it meanwhile
            finally:
                os.umask(old)
        self._check_protocol()

    def _check_protocol(self) -> None:
        """Ours, or taken over when nobody uses the directory; else another version's."""
        path = os.path.join(self.path, p.PROTOCOL_FILE)
        if _first_line(path) == p.PROTOCOL_LINE:
            return
        with self.decision():
            found = _first_line(path)
            if found == p.PROTOCOL_LINE:
                return
            if self.reservations() or next(self.waiting(), None) is not None:
                said = f"says {found!r}" if found else "is missing"
                raise StateError(
                    f"{self.path} is in use by another version of lessor hw ({path} {said}, "
                    f"this one speaks {p.PROTOCOL_LINE!r}): wait until its reservations end, "
                    f"or set {p.STATE_ENV} to another directory"
                )
            _write_file(path, (p.PROTOCOL_LINE + "\n").encode(), 0o644)

    def decision(self) -> _Decision:
        return _Decision(os.path.join(self.path, p.DECISION_LOCK))

    # -- hardware locks ----------------------------------------------------------------

    def try_take(self, names: list[str]) -> Taken:
        """Takes every free lock among `names` (the others are busy)."""
        held: dict[str, int] = {}
        for name in names:
            fd = _open(os.path.join(self.path, name))
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            held[name] = fd
        return Taken(held)

    def reservations(self) -> dict[str, Reservation | None]:
        """Lock name -> its record, for the locks held right now (None: unreadable)."""
        result: dict[str, Reservation | None] = {}
        names = sorted(n for n in os.listdir(self.path) if n.endswith(".lock") and "-" in n)
        for name in names:
            fd = _open(os.path.join(self.path, name))
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    continue  # free
                except BlockingIOError:
                    pass
                result[name] = Reservation.parse(os.pread(fd, 65536, 0))
            finally:
                os.close(fd)
        return result

    # -- the FIFO queue ------------------------------------------------------------------

    def enqueue_locked(self, record: bytes) -> str:
        """Our entry at the end of the queue; the caller holds the decision lock."""
        counter = os.path.join(self.path, "queue.seq")
        try:
            with open(counter) as f:
                seq = int(f.read() or 0) + 1
        except FileNotFoundError:
            seq = 1
        with open(counter, "w") as f:
            f.write(str(seq))
        entry = os.path.join(self.queue, f"{seq:012d}-{os.getpid()}")
        with open(entry, "wb") as f:
            f.write(record)
        return entry

    def waiters(self) -> list[dict[str, str]]:
        """Live waiters, first come first: user, pid and command."""
        found = []
        for entry in self.waiting():
            try:
                with open(entry, "rb") as f:
                    parsed = p.parse(f.read())
            except OSError:
                continue
            fields = parsed[1] if parsed else {}
            found.append(
                {
                    "user": p.text(fields.get("user", "")),
                    "pid": fields.get("pid", ""),
                    "command": p.text(fields.get("command", "")),
                }
            )
        return found

    def waiting(self) -> Iterator[str]:
        """Queue entries of live waiters in order; entries of dead processes are removed."""
        for name in sorted(os.listdir(self.queue)):
            entry = os.path.join(self.queue, name)
            try:
                pid = int(name.partition("-")[2] or 0)
            except ValueError:
                continue
            if not pid_alive(pid):
                _unlink(entry)
                continue
            yield entry

    # -- usage log -----------------------------------------------------------------------

    def log_usage(self, line: bytes) -> None:
        fd = os.open(
            os.path.join(self.path, p.USAGE_LOG), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666
        )
        try:
            os.write(fd, line)  # one write with O_APPEND: lines never interleave
        finally:
            os.close(fd)

    def usage(self) -> list[tuple[str, dict[str, str]]]:
        try:
            with open(os.path.join(self.path, p.USAGE_LOG), "rb") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        return [e for e in map(p.parse, lines) if e is not None]


def now_ns() -> int:
    return time.time_ns()


def _open(path: str) -> int:
    old = os.umask(0)
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    finally:
        os.umask(old)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _first_line(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.readline().decode("utf-8", "replace").rstrip("\n")
    except OSError:
        return None


def _write_file(path: str, data: bytes, mode: int) -> None:
    """Atomically: written under a temporary name, then renamed."""
    tmp = f"{path}.{os.getpid()}.tmp"
    old = os.umask(0)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    finally:
        os.umask(old)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.rename(tmp, path)
