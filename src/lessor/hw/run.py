"""Reserve, run the command pinned to what was reserved, release: however the command ends."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lessor.hw import protocol as p
from lessor.hw.fit import Grant, fit
from lessor.hw.rules import Plan
from lessor.hw.state import State, Taken, command_bytes

POLL = 0.02
"""Seconds between looks while waiting; releases are seen within this."""

FORWARDED = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)


class Unavailable(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Limits:
    no_wait: bool = False
    wait_timeout: float | None = None
    time_limit: float | None = None
    grace: float = 5.0


def reserve(state: State, plan: Plan, limits: Limits, argv: Sequence[str]) -> tuple[Grant, Taken]:
    """The grant and its locks, first come first served; raises Unavailable when busy."""
    names = [u.lock for u in plan.units()]
    entry: str | None = None  # our place in the queue, once we have to wait
    started = time.monotonic()
    told = False
    try:
        while True:
            with state.decision():
                # first come, first served; with nobody queued, a newcomer needs no entry
                if next(state.waiting(), None) == entry:
                    got = _take(state, plan, names)
                    if got is not None:
                        return got
                if entry is None and not limits.no_wait:
                    entry = state.enqueue_locked(waiter_record(argv))
            if limits.no_wait or (
                limits.wait_timeout is not None
                and time.monotonic() - started >= limits.wait_timeout
            ):
                raise Unavailable(f"busy: {describe_reservations(state)}", p.EXIT_BUSY)
            if not told:
                print(f"lessor hw: waiting; {describe_reservations(state)}", file=sys.stderr)
                told = True
            time.sleep(POLL)
    finally:
        if entry is not None:
            os.unlink(entry)


def _take(state: State, plan: Plan, names: list[str]) -> tuple[Grant, Taken] | None:
    """Under the decision lock: the grant and its locks, or None when it must wait."""
    taken = state.try_take(names)
    grant = fit(plan, taken.fds.keys())
    if grant is None:
        taken.release()
        return None
    return grant, taken.keep({u.lock for u in grant.units})


def describe_reservations(state: State) -> str:
    by_pid: dict[int, str] = {}
    for r in state.reservations().values():
        if r is not None:
            by_pid.setdefault(r.pid, f"{r.user} pid {r.pid} ({r.command[:200]})")
    if not by_pid:
        return "waiting for earlier requests in the queue"
    return "reserved by " + "; ".join(by_pid.values())


# -- the records of a reservation, in protocol.py's line format (native/lessor.c writes the same)


def reservation_record(token: bytes, argv: Sequence[str], profile: str, grant: Grant) -> bytes:
    return p.line(
        p.RESERVATION,
        {
            "token": token,
            "pid": os.getpid(),
            "since": time.time_ns(),
            "user": user_name(),
            "profile": profile,
            "command": command_bytes(list(argv)),
            "units": [u.lock.encode() for u in grant.units],
            "cpus": list(grant.cpus),
        },
    )


def reserve_line(token: bytes, profile: str, grant: Grant) -> bytes:
    return p.line(
        p.RESERVE,
        {
            "t": time.time_ns(),
            "token": token,
            "pid": os.getpid(),
            "user": user_name(),
            "profile": profile,
            "units": [u.lock.encode() for u in grant.units],
        },
    )


def release_line(token: bytes) -> bytes:
    return p.line(p.RELEASE, {"t": time.time_ns(), "token": token})


def waiter_record(argv: Sequence[str]) -> bytes:
    return p.line(
        p.WAITER,
        {
            "pid": os.getpid(),
            "since": time.time_ns(),
            "user": user_name(),
            "command": command_bytes(list(argv)),
        },
    )


def user_name() -> str:
    """As getpass.getuser() (the launcher asks the same variables, in the same order)."""
    for var in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if os.environ.get(var):
            return os.environ[var]
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


# -- running the command -------------------------------------------------------------


def run_command(
    argv: Sequence[str],
    env_extra: dict[str, str],
    cpus: Sequence[int],
    limits: Limits,
    started: Callable[[int], None] | None = None,
) -> int:
    """Runs the command pinned to `cpus`; its exit code (128+N when killed by signal N)."""
    env = {**os.environ, **env_extra}
    available = os.sched_getaffinity(0)
    pinned = {c for c in cpus if c in available}
    if cpus and not pinned:
        print(
            f"lessor hw: CPUs {','.join(map(str, cpus))} are not on this machine (a fake sysfs?); "
            "affinity not set",
            file=sys.stderr,
        )
    pid = _spawn(list(argv), env, pinned)
    if pid is None:
        return p.EXIT_CANNOT_RUN
    if started is not None:
        started(pid)
    previous = {s: signal.signal(s, lambda n, _f: _kill(pid, n)) for s in FORWARDED}
    try:
        if limits.time_limit is None or _exits_within(pid, limits.time_limit):
            code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
            return 128 - code if code < 0 else code
        print(
            f"lessor hw: time limit of {limits.time_limit:g}s reached; stopping the command",
            file=sys.stderr,
        )
        job = _tree(pid)
        _signal_all(job, signal.SIGTERM)
        _exits_within(pid, limits.grace)
        _signal_all(job + _tree(pid), signal.SIGKILL)
        os.waitpid(pid, 0)
        return p.EXIT_TIME_LIMIT
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _spawn(argv: list[str], env: dict[str, str], cpus: set[int]) -> int | None:
    """fork + exec: pinned, dying with us; None (and a message) when it cannot be run.

    A close-on-exec pipe tells an exec failure (its errno comes through)
    from a started command (the pipe closes empty).
    """
    die_with_parent = _die_with_parent_call()
    parent = os.getpid()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: nothing here may return or raise into our caller
        try:
            os.close(r)
            # Python ignores these for itself; the command gets the defaults, as from a shell
            # (and from the native launcher): `lessor hw -- yes | head` must end `yes`
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
            if cpus:
                os.sched_setaffinity(0, cpus)
            die_with_parent()
            if os.getppid() == parent:  # else we died before prctl took effect: run nothing
                os.execvpe(argv[0], argv, env)
        except OSError as e:
            os.write(w, str(e.errno or 0).encode())
        finally:
            os._exit(p.EXIT_CANNOT_RUN)
    os.close(w)
    with os.fdopen(r, "rb") as from_child:
        failed = from_child.read()
    if not failed:
        return pid
    os.waitpid(pid, 0)
    print(f"lessor hw: cannot run {argv[0]}: {os.strerror(int(failed))}", file=sys.stderr)
    return None


def _exits_within(pid: int, seconds: float) -> bool:
    """Whether the child ends within `seconds` (it is left to be reaped)."""
    fd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([fd], [], [], max(seconds, 0.0))
    finally:
        os.close(fd)
    return bool(ready)


def _kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
        os.kill(pid, sig)


def _tree(pid: int) -> list[Any]:
    """The command and everything it started: a time limit ends the whole job."""
    import psutil

    try:
        return [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _signal_all(procs: list[Any], sig: int) -> None:
    import psutil

    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(sig)


_PR_SET_PDEATHSIG = 1


def _die_with_parent_call() -> Callable[[], object]:
    """prctl(PR_SET_PDEATHSIG, SIGKILL), loaded before fork: the command dies with
    `lessor hw` even on kill -9, so freed hardware is really free."""
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    return lambda: prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def stop(pid: int) -> None:
    """SIGTERM to the command (from another thread: the hardware was lost)."""
    _kill(pid, signal.SIGTERM)
