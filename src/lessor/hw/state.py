"""Reservations on one machine: lock files the kernel releases when their holder dies.

Each core and NIC has a lock file in the state directory; holding it (flock)
is holding the hardware. A process that ends in any way, `kill -9`
included, drops its locks, so no stale reservation can outlive it. The
file's content says who holds it (user, pid, command, since), for `status`
and for the message a waiter prints. Waiters queue in FIFO order as files
named by a sequence number; dead waiters are skipped.
"""

from __future__ import annotations

import fcntl
import os
import time

from lessor.hw.wire import dumps, loads

TYPE_CHECKING = False  # not typing's: importing typing costs ~10 ms of start-up
if TYPE_CHECKING:
    from collections.abc import Iterator

STATE_ENV = "LESSOR_HW_STATE_DIR"


def state_dir() -> str:
    """Shared by every user of the machine: /run/lessor/hw when we may, else per user."""
    env = os.environ.get(STATE_ENV)
    if env:
        return env
    run = "/run/lessor/hw"
    if os.geteuid() == 0 or os.access(run, os.W_OK):
        return run
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return f"{runtime}/lessor/hw" if runtime else f"/tmp/lessor-hw-{os.getuid()}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


class Held:
    """Lock files we hold; closing them is the release."""

    def __init__(self, fds: dict[str, int]) -> None:
        self.fds = fds

    def write_holder(self, info: dict[str, object]) -> None:
        data = dumps(info).encode()
        for fd in self.fds.values():
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)

    def release(self) -> None:
        for fd in self.fds.values():
            try:  # noqa: SIM105 (contextlib costs start-up)
                os.ftruncate(fd, 0)
            except OSError:
                pass  # the release is the close; the emptied file only helps `status`
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
        self.queue = os.path.join(path, "queue")
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

    def decision(self) -> _Decision:
        return _Decision(os.path.join(self.path, "state.lock"))

    # -- hardware locks ----------------------------------------------------------------

    def lock_name(self, kind: str, key: object) -> str:
        return f"{kind}-{key}.lock"

    def try_take(self, names: list[str]) -> tuple[Held, set[str]]:
        """Takes every free lock among `names`; returns them and the names found busy."""
        held: dict[str, int] = {}
        busy: set[str] = set()
        for name in names:
            fd = _open(os.path.join(self.path, name))
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
            info = loads(raw) if raw else None
            if info is not None:
                found.append(info)
        return found

    def holders(self) -> dict[str, dict[str, object]]:
        """Lock name -> holder info, for the locks held right now."""
        result: dict[str, dict[str, object]] = {}
        names = sorted(n for n in os.listdir(self.path) if n.endswith(".lock") and "-" in n)
        for name in names:
            fd = _open(os.path.join(self.path, name))
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    continue  # free
                except BlockingIOError:
                    pass
                raw = os.pread(fd, 65536, 0)
                info = loads(raw) if raw else {}
                if info is not None:
                    result[name] = info
            finally:
                os.close(fd)
        return result

    # -- the FIFO queue ------------------------------------------------------------------

    def enqueue_locked(self, info: dict[str, object]) -> str:
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
        with open(entry, "w") as f:
            f.write(dumps(info))
        return entry

    def waiters(self) -> list[tuple[str, dict[str, object]]]:
        """Live waiters, first come first; entries of dead processes are removed."""
        return [(e, _read_json(e)) for e in self.waiting()]

    def waiting(self) -> Iterator[str]:
        """Queue entries of live waiters in order, without reading them: the run path's view."""
        for name in sorted(os.listdir(self.queue)):
            entry = os.path.join(self.queue, name)
            pid = int(name.partition("-")[2] or 0)
            if not pid_alive(pid):
                _unlink(entry)
                continue
            yield entry

    # -- usage log -----------------------------------------------------------------------

    def log_usage(self, event: dict[str, object]) -> None:
        line = dumps({"t": time.time(), **event}) + "\n"
        fd = os.open(
            os.path.join(self.path, "usage.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666
        )
        try:
            os.write(fd, line.encode())  # one write with O_APPEND: lines never interleave
        finally:
            os.close(fd)

    def usage(self) -> list[dict[str, object]]:
        try:
            with open(os.path.join(self.path, "usage.log"), "rb") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        return [e for e in map(loads, lines) if e is not None]


def _open(path: str) -> int:
    old = os.umask(0)
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    finally:
        os.umask(old)


def _unlink(path: str) -> None:
    try:  # noqa: SIM105 (contextlib costs start-up)
        os.unlink(path)
    except FileNotFoundError:
        pass


def _read_json(path: str) -> dict[str, object]:
    try:
        with open(path, "rb") as f:
            return loads(f.read()) or {}
    except OSError:
        return {}
