"""Reserve, run the command pinned to what was reserved, release: however the command ends."""

from __future__ import annotations

import contextlib
import ctypes
import getpass
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lessor.hw.choose import Choice, Request, choose, possible
from lessor.hw.state import Held, State, pid_alive
from lessor.hw.topology import Topology

EXIT_BUSY = 75  # EX_TEMPFAIL: busy and --no-wait, or --wait-timeout passed
EXIT_IMPOSSIBLE = 69  # EX_UNAVAILABLE: this machine could never satisfy the request
EXIT_TIME_LIMIT = 124  # as timeout(1)
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


def reserve(
    state: State,
    topo: Topology,
    reservable: tuple[frozenset[int], frozenset[str]],
    req: Request,
    limits: Limits,
    info: dict[str, object],
) -> tuple[Choice, Held]:
    cores, nics = reservable
    if not possible(topo, cores, nics, req):
        raise Unavailable(
            f"this machine cannot ever give {req.cores} cores and {req.nics} NICs"
            f"{' on one NUMA node' if req.same_node and (req.cores and req.nics) else ''} "
            f"(reservable: {len(cores)} cores, {len(nics)} NICs)",
            EXIT_IMPOSSIBLE,
        )
    names = [state.lock_name("core", c) for c in sorted(cores)] + [
        state.lock_name("nic", n) for n in sorted(nics)
    ]
    entry = state.enqueue(info)
    started = time.monotonic()
    told = False
    try:
        while True:
            with state.decision():
                waiters = state.waiters()
                if waiters and waiters[0][0] == entry:
                    held, busy = state.try_take(names)
                    busy_cores = frozenset(int(n[5:-5]) for n in busy if n.startswith("core-"))
                    busy_nics = frozenset(n[4:-5] for n in busy if n.startswith("nic-"))
                    choice = choose(topo, cores, nics, busy_cores, busy_nics, req)
                    if choice is not None:
                        keep = {state.lock_name("core", c.id) for c in choice.cores}
                        keep |= {state.lock_name("nic", n.name) for n in choice.nics}
                        mine = Held({k: v for k, v in held.fds.items() if k in keep})
                        Held({k: v for k, v in held.fds.items() if k not in keep}).release()
                        for stale in state.stale_holder(mine):
                            if stale.get("token") and not pid_alive(int(stale.get("pid", 0))):  # type: ignore[call-overload]
                                state.log_usage(
                                    {
                                        "event": "release",
                                        "token": stale["token"],
                                        "why": "holder died",
                                    }
                                )
                        entry.unlink(missing_ok=True)
                        return choice, mine
                    held.release()
            if limits.no_wait or (
                limits.wait_timeout is not None
                and time.monotonic() - started >= limits.wait_timeout
            ):
                raise Unavailable(f"busy: {describe_holders(state)}", EXIT_BUSY)
            if not told:
                print(f"lessor hw: waiting; {describe_holders(state)}", file=sys.stderr)
                told = True
            time.sleep(POLL)
    finally:
        entry.unlink(missing_ok=True)


def describe_holders(state: State) -> str:
    by_pid: dict[object, dict[str, object]] = {}
    for info in state.holders().values():
        by_pid.setdefault(info.get("pid"), info)
    if not by_pid:
        return "waiting for earlier requests in the queue"
    return "held by " + "; ".join(
        f"{i.get('user')} pid {i.get('pid')} ({i.get('command')})" for i in by_pid.values()
    )


def run_command(
    argv: Sequence[str],
    choice: Choice,
    limits: Limits,
    extra_env: dict[str, str],
    started: Callable[[int], None] | None = None,
) -> int:
    env = dict(os.environ)
    env.update(extra_env)
    env["LESSOR_CPUS"] = ",".join(str(c) for c in choice.cpus)
    if choice.node is not None:
        env["LESSOR_NUMA_NODE"] = str(choice.node)
    for i, nic in enumerate(choice.nics):
        env[f"NIC{i}"] = nic.pci
        env[f"NIC{i}_NAME"] = nic.name
    available = os.sched_getaffinity(0)
    cpus = {c for c in choice.cpus if c in available}
    if choice.cpus and not cpus:
        print(
            f"lessor hw: CPUs {env['LESSOR_CPUS']} are not on this machine (a fake sysfs?); "
            "affinity not set",
            file=sys.stderr,
        )

    parent = os.getpid()

    def in_child() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)
        _die_with_parent()
        if os.getppid() != parent:  # we died before prctl took effect
            os._exit(1)

    try:
        child = subprocess.Popen(list(argv), env=env, preexec_fn=in_child)  # noqa: PLW1509
    except OSError as e:
        print(f"lessor hw: cannot run {argv[0]}: {e.strerror}", file=sys.stderr)
        return 127
    if started is not None:
        started(child.pid)
    previous = {s: signal.signal(s, lambda n, _f: child.send_signal(n)) for s in FORWARDED}
    try:
        try:
            code = child.wait(limits.time_limit)
        except subprocess.TimeoutExpired:
            print(
                f"lessor hw: time limit of {limits.time_limit:g}s reached; stopping the command",
                file=sys.stderr,
            )
            job = _tree(child.pid)
            _signal_all(job, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(limits.grace)
            _signal_all(job + _tree(child.pid), signal.SIGKILL)
            child.wait()
            return EXIT_TIME_LIMIT
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 128 - code if code < 0 else code


def _tree(pid: int) -> list[Any]:
    """The command and everything it started: a time limit ends the whole job."""
    import psutil  # only here: the common path stays light

    try:
        return [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _signal_all(procs: list[Any], sig: int) -> None:
    import psutil

    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.send_signal(sig)


def holder_info(argv: Sequence[str], profile: str | None, choice: Choice) -> dict[str, object]:
    return {
        "user": _user(),
        "pid": os.getpid(),
        "command": " ".join(argv)[:200],
        "since": time.time(),
        "token": uuid.uuid4().hex,
        "profile": profile or "-",
        "cores": len(choice.cores),
        "nics": len(choice.nics),
        "cpus": list(choice.cpus),
        "nic_names": [n.name for n in choice.nics],
    }


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """The command dies with `lessor hw` even on kill -9, so freed hardware is really free."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
