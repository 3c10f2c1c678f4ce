"""The keys of the tickets this user opened, kept so that later commands can prove they hold them.

The server returns a ticket's key once, in the answer that opened it, and
asks for it to close or extend the ticket and to read a secret pool's data.
`lessor ticket` writes it here; ticket-wait, -check, -show, -close and
-extend read it, so the same user on the same machine never handles keys.

One JSON file, private to the user: `$XDG_STATE_HOME/lessor/tickets.json`
(default `~/.local/state/lessor/`), mode 0600 in a 0700 directory, keyed by
server URL and ticket id. Writes hold a lock and replace the file whole, so
parallel `lessor ticket`s lose nothing and a crash leaves the old file or
the new one. A file that is not ours or not ours to read is ignored with one
warning: keys are a convenience, and every command still works with
`--key-file`/LESSOR_TICKET_KEY.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeGuard

KEPT_UNCHECKED = 24 * 3600.0
"""Seconds a key is kept before a sweep asks the server whether its ticket still lives."""
SWEEP_EVERY = 24 * 3600.0
"""Seconds between sweeps of one server's old keys."""

Servers = dict[str, dict[str, Any]]
"""The file's content, by server URL: {"tickets": {ID: {"key": K, "saved": T}}, "swept": T}."""


def default_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(base) / "lessor" / "tickets.json"


class TicketKeys:
    """The key file; `warn` hears (once) why it cannot be used."""

    def __init__(self, path: Path | None = None, warn: Callable[[str], None] | None = None) -> None:
        self.path = path or default_path()
        self._warn = warn or (lambda message: None)
        self._warned = False

    def get(self, server: str, ticket_id: int) -> str | None:
        entry = self._servers().get(server, {}).get("tickets", {}).get(str(ticket_id))
        return None if entry is None else str(entry["key"])

    def put(self, server: str, ticket_id: int, key: str) -> None:
        def edit(servers: Servers) -> None:
            tickets = servers.setdefault(server, {}).setdefault("tickets", {})
            tickets[str(ticket_id)] = {"key": key, "saved": time.time()}

        self._change(edit)

    def forget(self, server: str, ticket_ids: Iterable[int]) -> None:
        """Drop the keys of tickets that have ended (nothing is written if none was kept)."""
        gone = {str(t) for t in ticket_ids}
        if not gone & set(self._servers().get(server, {}).get("tickets", {})):
            return

        def edit(servers: Servers) -> None:
            tickets = servers.get(server, {}).get("tickets", {})
            for tid in gone:
                tickets.pop(tid, None)

        self._change(edit)

    def due_for_sweep(self, server: str, now: float | None = None) -> list[int]:
        """Tickets whose keys are old enough to ask about, if this server's sweep is due.

        Claiming the sweep is written at once, so parallel commands do not all sweep.
        """
        now = time.time() if now is None else now
        entry = self._servers().get(server, {})
        if now - float(entry.get("swept", 0)) < SWEEP_EVERY:
            return []
        old = [
            int(tid)
            for tid, e in entry.get("tickets", {}).items()
            if now - float(e["saved"]) > KEPT_UNCHECKED
        ]
        if old:
            self._change(lambda servers: servers.setdefault(server, {}).update(swept=now))
        return old

    # --- the file ---------------------------------------------------------------------------

    def _say(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            self._warn(message)

    def _servers(self) -> Servers:
        return self._load()[0]

    def _load(self) -> tuple[Servers, bool]:
        """What the file holds, and whether we may replace it; nothing (with a warning) when
        it cannot be trusted."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return {}, True
        except OSError as e:
            self._say(f"cannot read the ticket keys in {self.path}: {e.strerror}")
            return {}, False
        if st.st_uid != os.geteuid():
            self._say(
                f"ignoring {self.path}: it belongs to uid {st.st_uid}, not to you; "
                "ticket keys are not kept (give them with --key-file or LESSOR_TICKET_KEY)"
            )
            return {}, False
        try:
            found = json.loads(self.path.read_text())
        except OSError as e:
            self._say(f"cannot read the ticket keys in {self.path}: {e.strerror}")
            return {}, False
        except ValueError as e:
            self._say(f"ignoring {self.path}: not a file of ticket keys ({e}); starting anew")
            return {}, True
        servers = found.get("servers") if isinstance(found, dict) else None
        if not _well_formed(servers):
            self._say(f"ignoring {self.path}: not a file of ticket keys; starting anew")
            return {}, True
        return servers, True

    def _change(self, edit: Callable[[Servers], None]) -> None:
        """Read, edit, write atomically; under a lock against our other commands. A file we
        may not replace is left as it is (the change is lost; the warning said so)."""
        try:
            directory = self._directory()
            with _locked(directory / ".tickets.lock"):
                servers, replaceable = self._load()
                edit(servers)
                if replaceable:
                    _write_atomically(self.path, {"version": 1, "servers": servers})
        except OSError as e:
            self._say(f"cannot keep ticket keys in {self.path}: {e.strerror or e}")

    def _directory(self) -> Path:
        directory = self.path.parent
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = directory.stat()
        if st.st_uid == os.geteuid() and st.st_mode & 0o077:
            directory.chmod(0o700)  # keys are secrets: nobody else lists or opens them
        return directory


def _well_formed(servers: object) -> TypeGuard[Servers]:
    """The shape `Servers` says, down to each entry: what the rest of the module relies on."""

    def number(x: object) -> bool:
        return isinstance(x, int | float) and not isinstance(x, bool)

    def entry(tid: object, e: object) -> bool:
        return (
            isinstance(tid, str)
            and tid.isdigit()
            and isinstance(e, dict)
            and isinstance(e.get("key"), str)
            and number(e.get("saved"))
        )

    return isinstance(servers, dict) and all(
        isinstance(s, dict)
        and number(s.get("swept", 0))
        and isinstance(s.get("tickets", {}), dict)
        and all(entry(tid, e) for tid, e in s.get("tickets", {}).items())
        for s in servers.values()
    )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write_atomically(path: Path, content: object) -> None:
    """A new file (0600, as mkstemp makes it) renamed over the old: readers see one or the other."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tickets.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(content, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
