"""`lessor hw`: the run path, kept light because start-up time is most of its overhead.

A well-formed run (`lessor hw OPTIONS -- COMMAND`) is read by `argv.py`,
the machine comes from `cache.py`, and nothing heavier than the standard
library's built-in modules is imported; help, subcommands and anything
unusual go to `commands.py` (argparse). `--server` loads the HTTP client.
"""

from __future__ import annotations

import os
import sys
import time

from lessor.hw import run
from lessor.hw.argv import RunArgs, parse_run
from lessor.hw.choose import Request
from lessor.hw.config import HwConfigError, config_path
from lessor.hw.state import State, state_dir
from lessor.hw.topology import sysfs_root

TYPE_CHECKING = False  # not typing's: importing typing costs ~10 ms of start-up
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

EXIT_USAGE = 2
EXIT_SERVER = 76  # EX_PROTOCOL: --server was unreachable or refused a request
SERVER_ENV = "LESSOR_HW_SERVER"


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    fast = parse_run(args_in)
    if fast is not None:
        return run_args(fast)
    from lessor.hw import commands

    return commands.main(args_in)


def usage_error(message: str) -> int:
    print(f"lessor hw: {message}", file=sys.stderr)
    return EXIT_USAGE


def run_args(args: RunArgs) -> int:
    """Reserve (here or through --server), run the command, release."""
    from lessor.hw.cache import machine

    if args.lease <= 0:
        return usage_error("--lease must be more than 0 seconds")
    state = State(state_dir())
    try:
        topo, cfg = machine(
            state.path,
            sysfs_root(args.sysfs_root),
            config_path(args.config),
            required=args.config is not None,
        )
    except HwConfigError as e:
        return usage_error(str(e))
    cores, nics = args.cores, args.nics
    if args.profile:
        prof = cfg.profiles.get(args.profile)
        if prof is None:
            known = ", ".join(sorted(cfg.profiles)) or "none"
            return usage_error(f"no profile {args.profile!r} (known: {known})")
        cores = prof.cores if cores is None else cores
        nics = prof.nics if nics is None else nics
    cores, nics = cores or 0, nics or 0
    if cores < 0 or nics < 0 or (cores == 0 and nics == 0):
        return usage_error("ask for --cores N and/or --nics N (or --profile)")
    same = args.numa == "same" if args.numa else bool(cores and nics)
    req = Request(cores, nics, same, args.smt)
    limits = run.Limits(args.no_wait, args.wait_timeout, args.time_limit, args.grace)
    command = list(args.command)
    waiting = {"user": run.user_name(), "command": " ".join(command)[:200], "since": time.time()}
    server = args.server or os.environ.get(SERVER_ENV) or None
    if server:
        return server_call(
            lambda: _server_run(server, args.host, args.lease, state, req, limits, command, waiting)
        )
    try:
        choice, held = run.reserve(state, topo, cfg.reservable(topo), req, limits, waiting)
    except run.Unavailable as e:
        print(f"lessor hw: {e}", file=sys.stderr)
        return e.code
    info = run.holder_info(command, args.profile, choice)
    held.write_holder(info)
    state.log_usage(
        {
            "event": "reserve",
            **{k: info[k] for k in ("token", "profile", "cores", "nics", "pid", "user")},
        }
    )
    try:
        return run.run_command(command, choice, limits, {})
    finally:
        state.log_usage({"event": "release", "token": info["token"]})
        held.release()


def server_call(run: Callable[[], int]) -> int:
    """The server's refusals and absence as one clear line and exit 76, never a traceback."""
    from lessor.client.http import ClientError, ServerUnreachable

    try:
        return run()
    except ServerUnreachable as e:
        print(f"lessor hw: {e}", file=sys.stderr)
    except ClientError as e:
        print(f"lessor hw: the server refused: {e}", file=sys.stderr)
    return EXIT_SERVER


def _server_run(
    server: str,
    host: str | None,
    lease: float,
    state: State,
    req: Request,
    limits: run.Limits,
    command: list[str],
    info: dict[str, object],
) -> int:
    from lessor.hw.lab import Lab, host_of

    lab = Lab(server, host_of(host), lease, state.path)
    try:
        try:
            choice = lab.reserve(req, limits, {**info, "pid": os.getpid()})
        except run.Unavailable as e:
            print(f"lessor hw: {e}", file=sys.stderr)
            return e.code
        child: list[int] = []

        def lost(tid: int, why: str) -> None:
            print(
                f"lessor hw: lost ticket {tid} ({why}): the hardware is no longer ours; "
                "stopping the command",
                file=sys.stderr,
            )
            for pid in child:
                run.stop(pid)

        lab.lost = lost
        return run.run_command(command, choice, limits, {}, started=child.append)
    finally:
        lab.release()
