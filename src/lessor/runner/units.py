"""Hook units: a hook run and everything it starts, contained and killed as one.

A hook may start children that leave its session (`setsid`), drop its
environment (`env -i`, `sudo`) or double-fork; after a timeout, a cancellation
or a crash of the server, none of them may go on creating instances. Each run
is therefore a *unit* built on the strongest mechanism the machine allows:

- **cgroup**: where the server's own cgroup v2 is writable (root, or a
  systemd unit with `Delegate=yes`), every run gets a cgroup of its own below
  it; the hook's shell enters it before it runs anything, and the kernel keeps
  every descendant inside. Killing the unit is one write to `cgroup.kill`.
- **subreaper**: elsewhere on Linux, the hook runs below a small reaper
  process (runner/reaper.py) marked PR_SET_CHILD_SUBREAPER, so orphans are
  re-parented to it and the unit is that process's tree.
- **session**: elsewhere, a session and process group of its own (what a
  child leaves by `setsid` escapes).

Every run leaves a durable record in `hook-runs/running/` until it ends: its
cgroup, its anchor process (pid and start time, so that a reused pid never
kills a stranger) and a token also set in its environment. After a crash,
`kill_recorded` kills what each record names. A hook that ends by itself
releases what it leaves running (a pretend VM, a daemon): that is the
administrator's design, not a leftover.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import psutil

REAPER = Path(__file__).with_name("reaper.py")
CGROUP_PREFIX = "lessor-hook-"
_START_SLACK = 0.05
"""Seconds two readings of one process's start time may differ by (they are rounded ticks)."""


class Unit(ABC):
    """One hook run's containment: how to start it, kill it and let it go."""

    mechanism: str

    def __init__(self, token: str) -> None:
        self.token = token
        self.pid: int | None = None
        self.started: float | None = None

    @abstractmethod
    def argv(self, command: str) -> list[str]:
        """The program to run for the administrator's `command` (run under /bin/sh -c)."""

    def attach(self, pid: int) -> None:
        """The unit's anchor process has started."""
        self.pid = pid
        with contextlib.suppress(psutil.Error):
            self.started = psutil.Process(pid).create_time()

    def record(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "mechanism": self.mechanism,
            "pid": self.pid,
            "started": self.started,
        }

    def kill(self) -> list[int]:
        """Kill every process of the unit now; returns their pids."""
        return kill_recorded(self.record())

    def release(self) -> Path | None:
        """The hook ended by itself: what it left running may go on.

        Returns a cgroup to remove with prune_cgroups once that has ended.
        """
        return None


class SessionUnit(Unit):
    mechanism = "session"

    def argv(self, command: str) -> list[str]:
        return ["/bin/sh", "-c", command]


class ReaperUnit(Unit):
    mechanism = "subreaper"

    def argv(self, command: str) -> list[str]:
        return [sys.executable, "-S", "-I", str(REAPER), command]


class CgroupUnit(Unit):
    mechanism = "cgroup"

    def __init__(self, token: str, base: Path) -> None:
        super().__init__(token)
        self.path = base / f"{CGROUP_PREFIX}{token}"
        self.path.mkdir()

    def argv(self, command: str) -> list[str]:
        # The shell moves itself into the cgroup, then becomes the hook's shell:
        # nothing the hook starts was ever outside. The command and the path
        # are arguments ($2, $1), never pasted into the script.
        enter = 'echo $$ > "$1" && exec /bin/sh -c "$2"'
        return ["/bin/sh", "-c", enter, "/bin/sh", str(self.path / "cgroup.procs"), command]

    def record(self) -> dict[str, Any]:
        return {**super().record(), "cgroup": str(self.path)}

    def release(self) -> Path | None:
        try:
            self.path.rmdir()
        except FileNotFoundError:
            return None
        except OSError:
            return self.path  # busy while what the hook left runs
        return None


def kill_recorded(record: dict[str, Any]) -> list[int]:
    """Kill what a run record names: its cgroup's processes, its anchor process's tree."""
    killed: list[int] = []
    cgroup = record.get("cgroup")
    if cgroup:
        killed += _kill_cgroup(Path(cgroup))
    pid, started = record.get("pid"), record.get("started")
    if isinstance(pid, int) and isinstance(started, (int, float)):
        with contextlib.suppress(psutil.Error):
            anchor = psutil.Process(pid)
            if abs(anchor.create_time() - started) <= _START_SLACK:
                killed += _kill_tree(anchor)
                if record.get("mechanism") == "session":  # and its group: it led a session
                    with contextlib.suppress(OSError):
                        os.killpg(pid, signal.SIGKILL)
    return sorted(set(killed))


def prune_cgroups(paths: list[Path]) -> list[Path]:
    """Remove the cgroups of ended runs whose leftovers have exited; returns those still busy."""
    busy = []
    for path in paths:
        try:
            path.rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            busy.append(path)
    return busy


def _kill_cgroup(path: Path) -> list[int]:
    if not path.is_dir():
        return []
    pids = _cgroup_pids(path)
    kill_file = path / "cgroup.kill"
    if kill_file.exists():
        with contextlib.suppress(OSError):
            kill_file.write_text("1")
    else:  # before Linux 5.14: freeze, kill each, thaw so that they die
        with contextlib.suppress(OSError):
            (path / "cgroup.freeze").write_text("1")
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            (path / "cgroup.freeze").write_text("0")
    deadline = time.monotonic() + 2.0
    while _cgroup_pids(path) and time.monotonic() < deadline:
        time.sleep(0.01)
    with contextlib.suppress(OSError):
        path.rmdir()
    return pids


def _cgroup_pids(path: Path) -> list[int]:
    try:
        return [int(line) for line in (path / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _kill_tree(root: psutil.Process) -> list[int]:
    """Stop the whole tree first (a stopped process cannot fork), then kill it."""
    stopped: dict[int, psutil.Process] = {}
    while True:
        try:
            found = [root, *root.children(recursive=True)]
        except psutil.Error:
            found = []
        new = [p for p in found if p.pid not in stopped]
        if not new:
            break
        for proc in new:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGSTOP)
                stopped[proc.pid] = proc
        if not stopped:
            break
    for proc in stopped.values():
        with contextlib.suppress(psutil.Error):
            proc.kill()
    return list(stopped)


class Containment:
    """Makes the units of one server's hook runs, with the mechanism detected at start."""

    def __init__(self, mechanism: str | None = None, cgroup_base: Path | None = None) -> None:
        if mechanism is None:
            cgroup_base = cgroup_base or own_cgroup()
            mechanism = "cgroup" if cgroup_base else "subreaper" if _linux() else "session"
        if mechanism == "cgroup" and cgroup_base is None:
            cgroup_base = own_cgroup()
            if cgroup_base is None:
                raise ValueError("no writable cgroup v2 for hook units")
        if mechanism not in ("cgroup", "subreaper", "session"):
            raise ValueError(f"unknown containment {mechanism!r}")
        self.mechanism = mechanism
        self.cgroup_base = cgroup_base

    def describe(self) -> str:
        if self.mechanism == "cgroup":
            return f"a cgroup per run below {self.cgroup_base}"
        if self.mechanism == "subreaper":
            return "a subreaper process per run (no writable cgroup v2 here)"
        return "a session per run (no cgroup v2, no subreaper here: a daemon can escape)"

    def unit(self, token: str) -> Unit:
        if self.mechanism == "cgroup":
            assert self.cgroup_base is not None
            return CgroupUnit(token, self.cgroup_base)
        if self.mechanism == "subreaper":
            return ReaperUnit(token)
        return SessionUnit(token)


def own_cgroup() -> Path | None:
    """This process's cgroup v2 directory, if lessor may create hook cgroups below it."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    own = next((line[3:] for line in lines if line.startswith("0::")), None)
    if own is None:
        return None
    for mount in mounts:
        fields = mount.split()
        sep = fields.index("-") if "-" in fields else -1
        if sep < 0 or fields[sep + 1] != "cgroup2":
            continue
        root, point = fields[3], fields[4]
        if not (own == root or own.startswith(root.rstrip("/") + "/")):
            continue
        base = Path(point) / own[len(root.rstrip("/")) :].lstrip("/")
        if _usable(base):
            return base
    return None


def _usable(base: Path) -> bool:
    if not os.access(base / "cgroup.procs", os.W_OK):
        return False
    probe = base / f"{CGROUP_PREFIX}probe-{os.getpid()}"
    try:
        probe.mkdir()
    except OSError:
        return False
    try:
        return (probe / "cgroup.kill").exists() or (probe / "cgroup.freeze").exists()
    finally:
        with contextlib.suppress(OSError):
            probe.rmdir()


def _linux() -> bool:
    return sys.platform.startswith("linux")


def read_record(path: Path) -> dict[str, Any]:
    """A run record; one from before records were JSON holds only its token (the file name)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        record = {}
    if not isinstance(record, dict):
        record = {}
    record.setdefault("token", path.name)
    return record


def write_record(path: Path, record: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)
