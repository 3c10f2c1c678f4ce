"""Who reserved which server tickets, as seen on this machine: one flocked file per reservation.

The server knows tickets, not people: a ticket has no owner or command.
Every `lessor hw --server` on the machine therefore writes a small file in
the state directory (user, pid, command, its ticket ids) and keeps it
flocked for as long as it lives. `status` and waiters read them to say who
reserved what; a file whose lock is free belongs to a process that died
(`kill -9`), so its tickets can be closed at once instead of after their
lease: the lease stays the bound when nobody on this machine looks.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os

SUFFIX = ".reservation"


class ReservationFile:
    """Our own file: created locked (under a temporary name, then renamed), updated in place."""

    def __init__(self, directory: str, info: dict[str, object]) -> None:
        self.info = dict(info)
        name = f"server-{os.getpid()}-{os.urandom(4).hex()}"
        tmp = os.path.join(directory, f".{name}.tmp")
        self.path = os.path.join(directory, name + SUFFIX)
        old = os.umask(0)
        try:
            self.fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        finally:
            os.umask(old)
        fcntl.flock(self.fd, fcntl.LOCK_EX)  # before the name is visible: never seen unlocked
        self._write()
        os.rename(tmp, self.path)

    def update(self, **changes: object) -> None:
        self.info.update(changes)
        self._write()

    def _write(self) -> None:
        data = json.dumps(self.info).encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)

    def keep_keys(self, keys: dict[int, str]) -> None:
        """The tickets' keys, in a file of its own only this user reads (0600): the shared
        file says who reserved what, the keys let this user's next run close them at once."""
        tmp = f"{self.path}.keys.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, json.dumps({str(t): k for t, k in keys.items()}).encode())
        finally:
            os.close(fd)
        os.rename(tmp, f"{self.path}.keys")

    def remove(self) -> None:
        for path in (self.path, f"{self.path}.keys"):
            with contextlib.suppress(OSError):
                os.unlink(path)
        os.close(self.fd)


def read_reservations(directory: str) -> list[tuple[str, dict[str, object], bool]]:
    """(path, info, alive) of every reservation file; alive: a running process holds its lock."""
    found = []
    with contextlib.suppress(OSError):
        names = sorted(n for n in os.listdir(directory) if n.endswith(SUFFIX))
        for name in names:
            path = os.path.join(directory, name)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue  # gone meanwhile: its reservation ended
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    alive = False
                except BlockingIOError:
                    alive = True
                try:
                    info = json.loads(os.pread(fd, 65536, 0) or b"{}")
                except ValueError:
                    continue  # being rewritten right now: look again next time
                found.append((path, info, alive))
            finally:
                os.close(fd)
    return found


def read_keys(path: str) -> dict[int, str]:
    """The keys a reservation's owner kept (none when another user's: it is theirs alone)."""
    try:
        with open(f"{path}.keys", encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, ValueError):
        return {}
    return {int(t): str(k) for t, k in raw.items()} if isinstance(raw, dict) else {}


def remove_keys(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(f"{path}.keys")


def ticket_ids(info: dict[str, object]) -> list[int]:
    raw = info.get("tickets")
    return [int(t) for t in raw if isinstance(t, int)] if isinstance(raw, list) else []
