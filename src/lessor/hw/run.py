"""Reserve, run the command pinned to what was reserved, release: however the command ends.

This is the run path of `lessor hw`, so it imports only what it uses, when
it uses it: `subprocess` alone costs ~20 ms of start-up here (the command is
started with fork and exec instead), `signal` pulls in `enum`.
"""

from __future__ import annotations

import os
import sys
import time

from lessor.hw.choose import Choice, Request, choose, possible
from lessor.hw.state import Held, State, pid_alive
from lessor.hw.topology import Topology

TYPE_CHECKING = False  # not typing's: importing typing costs ~10 ms of start-up
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from dataclasses import dataclass as record
    from typing import Any
else:  # dataclasses costs more start-up than all of `lessor hw` (see record.py)
    from lessor.hw.record import record

EXIT_BUSY = 75  # EX_TEMPFAIL: busy and --no-wait, or --wait-timeout passed
EXIT_IMPOSSIBLE = 69  # EX_UNAVAILABLE: this machine could never satisfy the request
EXIT_TIME_LIMIT = 124  # as timeout(1)
EXIT_CANNOT_RUN = 127  # as a shell: no such command
POLL = 0.02
"""Seconds between looks while waiting; releases are seen within this."""

FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")


class Unavailable(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@record(frozen=True)
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
    entry: str | None = None  # our place in the queue, once we have to wait
    started = time.monotonic()
    told = False
    try:
        while True:
            with state.decision():
                # first come, first served; with nobody queued, a newcomer needs no entry
                if next(state.waiting(), None) == entry:
                    got = _take(state, topo, reservable, names, req)
                    if got is not None:
                        return got
                if entry is None and not limits.no_wait:
                    entry = state.enqueue_locked(info)
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
        if entry is not None:
            os.unlink(entry)


def _take(
    state: State,
    topo: Topology,
    reservable: tuple[frozenset[int], frozenset[str]],
    names: list[str],
    req: Request,
) -> tuple[Choice, Held] | None:
    """Under the decision lock: the choice and its locks, or None when it must wait."""
    cores, nics = reservable
    held, busy = state.try_take(names)
    busy_cores = frozenset(int(n[5:-5]) for n in busy if n.startswith("core-"))
    busy_nics = frozenset(n[4:-5] for n in busy if n.startswith("nic-"))
    choice = choose(topo, cores, nics, busy_cores, busy_nics, req)
    if choice is None:
        held.release()
        return None
    keep = {state.lock_name("core", c.id) for c in choice.cores}
    keep |= {state.lock_name("nic", n.name) for n in choice.nics}
    mine = Held({k: v for k, v in held.fds.items() if k in keep})
    Held({k: v for k, v in held.fds.items() if k not in keep}).release()
    for stale in state.stale_holder(mine):
        pid = stale.get("pid")
        if stale.get("token") and isinstance(pid, int) and not pid_alive(pid):
            state.log_usage({"event": "release", "token": stale["token"], "why": "holder died"})
    return choice, mine


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
    """Runs the command pinned to the choice; its exit code (128+N when killed by signal N)."""
    if TYPE_CHECKING:
        import signal
    else:  # the C module that `signal` re-exports, without the enum wrappers (~2 ms of imports)
        import _signal as signal

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
    pid = _spawn(list(argv), env, cpus)
    if pid is None:
        return EXIT_CANNOT_RUN
    if started is not None:
        started(pid)
    forwarded = [getattr(signal, name) for name in FORWARDED]
    previous = {s: signal.signal(s, lambda n, _f: _kill(pid, n)) for s in forwarded}
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
        return EXIT_TIME_LIMIT
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _spawn(argv: list[str], env: dict[str, str], cpus: set[int]) -> int | None:
    """fork + exec: pinned, dying with us; None (and a message) when it cannot be run.

    A close-on-exec pipe tells an exec failure (its errno comes through)
    from a started command (the pipe closes empty).
    """
    if TYPE_CHECKING:
        import signal
    else:  # the C module that `signal` re-exports, without the enum wrappers (~2 ms of imports)
        import _signal as signal

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
                _exec(argv, env)
        except OSError as e:
            os.write(w, str(e.errno or 0).encode())
        finally:
            os._exit(EXIT_CANNOT_RUN)
    os.close(w)
    with os.fdopen(r, "rb") as from_child:
        failed = from_child.read()
    if not failed:
        return pid
    os.waitpid(pid, 0)
    print(f"lessor hw: cannot run {argv[0]}: {os.strerror(int(failed))}", file=sys.stderr)
    return None


def _exec(argv: list[str], env: dict[str, str]) -> None:
    """os.execvpe, minus its `warnings` import (~1.5 ms in the child, before the command)."""
    if "/" in argv[0]:
        os.execve(argv[0], argv, env)
    error: OSError | None = None
    for directory in env.get("PATH", os.defpath).split(os.pathsep):
        try:
            os.execve(os.path.join(directory or ".", argv[0]), argv, env)
        except (FileNotFoundError, NotADirectoryError) as e:
            error = error or e
        except PermissionError as e:  # as execvp: a found but forbidden file is the answer
            error = e
    raise error or FileNotFoundError(2, "No such file or directory")


def _exits_within(pid: int, seconds: float) -> bool:
    """Whether the child ends within `seconds` (it is left to be reaped)."""
    import select

    fd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([fd], [], [], max(seconds, 0.0))
    finally:
        os.close(fd)
    return bool(ready)


def _kill(pid: int, sig: int) -> None:
    try:  # noqa: SIM105 (contextlib costs start-up)
        os.kill(pid, sig)
    except ProcessLookupError:
        pass  # it ended meanwhile


def _tree(pid: int) -> list[Any]:
    """The command and everything it started: a time limit ends the whole job."""
    import psutil  # only here: the common path stays light

    try:
        return [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _signal_all(procs: list[Any], sig: int) -> None:
    import contextlib

    import psutil

    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.send_signal(sig)


def holder_info(argv: Sequence[str], profile: str | None, choice: Choice) -> dict[str, object]:
    return {
        "user": user_name(),
        "pid": os.getpid(),
        "command": " ".join(argv)[:200],
        "since": time.time(),
        "token": os.urandom(16).hex(),
        "profile": profile or "-",
        "cores": len(choice.cores),
        "nics": len(choice.nics),
        "cpus": list(choice.cpus),
        "nic_names": [n.name for n in choice.nics],
    }


def user_name() -> str:
    """As getpass.getuser(), without its imports."""
    for var in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if os.environ.get(var):
            return os.environ[var]
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


_PR_SET_PDEATHSIG = 1
_SIGKILL = 9


def _die_with_parent_call() -> Callable[[], object]:
    """prctl(PR_SET_PDEATHSIG, SIGKILL), loaded before fork: the command dies with
    `lessor hw` even on kill -9, so freed hardware is really free."""
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    return lambda: prctl(_PR_SET_PDEATHSIG, _SIGKILL)


def stop(pid: int) -> None:
    """SIGTERM to the command (from another thread: the hardware was lost)."""
    _kill(pid, 15)
