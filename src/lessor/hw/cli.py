"""`lessor hw`: reserve cores, NICs and GPUs for a command; the machine, its status and pools.

    lessor hw [OPTIONS] -- COMMAND...
    lessor hw topology|status|pools [OPTIONS]

A plain run is usually done by the native launcher (`native/lessor.c`)
before Python starts; this is everything else, and the run itself where
the launcher is not installed or hands it over (a request it has no plan
for, one that must wait, any other option).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from lessor.hw import cache, show
from lessor.hw import protocol as p
from lessor.hw.config import HwConfigError
from lessor.hw.fit import environment, possible
from lessor.hw.rules import RequestError, never_possible, plan, resolve
from lessor.hw.run import (
    Limits,
    Unavailable,
    release_line,
    reservation_record,
    reserve,
    reserve_line,
    run_command,
)
from lessor.hw.state import State, StateError, state_dir

SERVER_ENV = cache.SERVER_ENV
DEFAULT_LEASE = 30.0
"""Seconds: a `--server` ticket's lease, renewed while the command runs."""
_COMMAND, _OPTIONS = "lessor.hw.command", "lessor.hw.options"

EPILOG = f"""\b
The command gets LESSOR_CPUS (its CPU affinity), LESSOR_NUMA_NODE (when the
CPUs, or without CPUs the rest, sit on one node), NIC0.. and NIC0_NAME..,
LESSOR_GPUS and GPU0.. (PCI addresses), CUDA_VISIBLE_DEVICES for NVIDIA
GPUs, ROCR_VISIBLE_DEVICES and HIP_VISIBLE_DEVICES for AMD ones,
ZE_AFFINITY_MASK for Intel ones.

\b
Exit codes: the command's own (128+N if killed by signal N), or
  {p.EXIT_BUSY}  busy with --no-wait, or --wait-timeout passed
  {p.EXIT_IMPOSSIBLE}  this machine can never satisfy the request
  {p.EXIT_TIME_LIMIT} --time-limit reached (SIGTERM, then SIGKILL after --grace)
  {p.EXIT_USAGE}   bad arguments or a bad hw.yaml
  {p.EXIT_SERVER}  --server: the server was unreachable or refused a request

\b
State: {p.STATE_ENV}, else {p.STATE_SHARED} (root) or $XDG_RUNTIME_DIR/lessor/hw.
Config: --config, LESSOR_HW_CONFIG or /etc/lessor/hw.yaml. A shared lab:
--server URL or {SERVER_ENV} (not LESSOR_SERVER: local mode is the default);
the host's pools come from `lessor hw pools`.
"""


@dataclass(frozen=True)
class Where:
    """The options every subcommand shares with a run (a subcommand's own win)."""

    config: str | None
    sysfs_root: str | None
    server: str | None
    host: str | None


class HwGroup(click.Group):
    """`lessor hw [OPTIONS] -- COMMAND…` is a run; `lessor hw NAME …` a subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args and not (args and args[0] in self.commands):
            split = args.index("--")
            ctx.meta[_COMMAND], ctx.meta[_OPTIONS] = args[split + 1 :], args[:split]
            args = args[:split]
        return super().parse_args(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click's, headed Subcommands: COMMAND is what runs after --."""
        rows = [(name, cmd.get_short_help_str(60)) for name, cmd in self.commands.items()]
        with formatter.section("Subcommands"):
            formatter.write_dl(sorted(rows))

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands:
            raise click.UsageError(
                f"no subcommand {args[0]!r}; the command to run goes after --", ctx
            )
        return super().resolve_command(ctx, args)


def shared(f: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option("--config", metavar="FILE", help="hw.yaml (default: LESSOR_HW_CONFIG)."),
            click.option(
                "--sysfs-root", metavar="DIR", help="A (fake) sysfs tree instead of /sys."
            ),
            click.option(
                "--server", metavar="URL", help=f"Through this lessor server ({SERVER_ENV})."
            ),
            click.option(
                "--host",
                metavar="NAME",
                help="This machine's name in the server's pools (default: the host name).",
            ),
        ]
    ):
        f = option(f)
    return f


count = click.IntRange(min=0)
seconds = click.FloatRange(min=0)


@click.group(
    cls=HwGroup,
    invoke_without_command=True,
    epilog=EPILOG,
    subcommand_metavar="-- COMMAND... | SUBCOMMAND [ARGS]...",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("--cores", type=count, help="Whole physical cores (all their SMT siblings).")
@click.option("--nics", type=count, help="Network interfaces.")
@click.option("--gpus", type=count, help="Whole GPUs.")
@click.option("--profile", metavar="NAME", help="A profile of hw.yaml (its cores, NICs, GPUs).")
@click.option(
    "--numa",
    type=click.Choice(["same", "any"]),
    help="All on one NUMA node (default: same when more than one kind is asked for).",
)
@click.option("--smt", is_flag=True, help="--cores counts hardware threads.")
@click.option("--no-wait", is_flag=True, help=f"Exit {p.EXIT_BUSY} at once if busy.")
@click.option("--wait-timeout", type=seconds, metavar="S", help="Wait at most S seconds.")
@click.option("--time-limit", type=seconds, metavar="S", help="Stop the command after S seconds.")
@click.option(
    "--grace",
    type=seconds,
    default=5.0,
    show_default=True,
    metavar="S",
    help="Seconds between SIGTERM and SIGKILL at the time limit.",
)
@click.option(
    "--lease",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_LEASE,
    show_default=True,
    metavar="S",
    help="--server: the tickets' lease, renewed while the command runs.",
)
@shared
@click.pass_context
def hw(
    ctx: click.Context,
    /,
    config: str | None,
    sysfs_root: str | None,
    server: str | None,
    host: str | None,
    lease: float,
    **request: Any,
) -> None:
    """Reserve CPU cores, NICs and GPUs; run COMMAND pinned to them; free them after."""
    ctx.obj = Where(config, sysfs_root, server or _group_server(ctx), host)
    if ctx.invoked_subcommand is not None:
        return
    command = ctx.meta.get(_COMMAND)
    if not command:
        raise click.UsageError("give the command to run after --", ctx)
    ctx.exit(_run(ctx.obj, lease, list(command), list(ctx.meta[_OPTIONS]), request))


def _group_server(ctx: click.Context) -> str | None:
    """`lessor --server URL hw …` means that server; LESSOR_SERVER alone does not."""
    parent = ctx.parent
    given = click.core.ParameterSource.COMMANDLINE
    if parent is not None and parent.get_parameter_source("server") is given:
        return str(parent.params["server"])
    return os.environ.get(SERVER_ENV) or None


def _fail(message: str, code: int) -> int:
    click.echo(f"lessor hw: {message}", err=True)
    return code


def _state() -> State:
    try:
        return State(state_dir())
    except StateError as e:
        sys.exit(_fail(str(e), p.EXIT_BUSY))


def _run(where: Where, lease: float, command: list[str], options: list[str], o: Any) -> int:
    state = _state()
    try:
        topo, cfg = cache.load(state, where.sysfs_root, where.config)
    except HwConfigError as e:
        return _fail(str(e), p.EXIT_USAGE)
    try:
        req = resolve(
            o["cores"], o["nics"], o["gpus"], o["numa"], o["smt"], o["profile"], cfg.profiles
        )
    except RequestError as e:
        raise click.UsageError(str(e)) from e
    limits = Limits(o["no_wait"], o["wait_timeout"], o["time_limit"], o["grace"])
    if where.server:
        return _server_call(lambda: _server_run(where, lease, state, req, limits, command))
    reservable = cfg.reservable(topo)
    found = plan(topo, reservable, req, o["profile"])
    if not possible(found):
        return _fail(never_possible(req, reservable), p.EXIT_IMPOSSIBLE)
    key = cache.request_key(options)
    if key is not None and where.sysfs_root is None and where.config is None:
        cache.add_request(state, key, found)  # the next run of this shape is the launcher's
    try:
        grant, taken = reserve(state, found, limits, command)
    except Unavailable as e:
        return _fail(str(e), e.code)
    token = os.urandom(16)
    taken.write(reservation_record(token, command, found.profile, grant))
    state.log_usage(reserve_line(token, found.profile, grant))
    try:
        return run_command(command, environment(grant), grant.cpus, limits)
    finally:
        state.log_usage(release_line(token))
        taken.release()


def _server_call(call: Callable[[], int]) -> int:
    """The server's refusals and absence as one clear line and exit 76, never a traceback."""
    from lessor.client.http import ClientError, ServerUnreachable

    try:
        return call()
    except ServerUnreachable as e:
        return _fail(str(e), p.EXIT_SERVER)
    except ClientError as e:
        return _fail(f"the server refused: {e}", p.EXIT_SERVER)


def _server_run(
    where: Where, lease: float, state: State, req: Any, limits: Limits, command: list[str]
) -> int:
    import time

    from lessor.hw.lab import Lab, host_of
    from lessor.hw.run import stop, user_name

    assert where.server is not None
    lab = Lab(where.server, host_of(where.host), lease, state.path)
    info = {
        "user": user_name(),
        "pid": os.getpid(),
        "command": " ".join(command)[:200],
        "since": time.time(),
    }
    try:
        try:
            grant = lab.reserve(req, limits, info)
        except Unavailable as e:
            return _fail(str(e), e.code)
        child: list[int] = []

        def lost(tid: int, why: str) -> None:
            click.echo(
                f"lessor hw: lost ticket {tid} ({why}): the hardware is no longer ours; "
                "stopping the command",
                err=True,
            )
            for pid in child:
                stop(pid)

        lab.lost = lost
        return run_command(command, environment(grant), grant.cpus, limits, child.append)
    finally:
        lab.release()


def _where(ctx: click.Context, **own: str | None) -> Where:
    """A subcommand's options, else the group's."""
    group: Where = ctx.find_object(Where) or Where(None, None, None, None)
    return Where(
        own.get("config") or group.config,
        own.get("sysfs_root") or group.sysfs_root,
        own.get("server") or group.server,
        own.get("host") or group.host,
    )


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@hw.command()
@click.option("--sysfs-root", metavar="DIR", help="A (fake) sysfs tree instead of /sys.")
@json_option
@click.pass_context
def topology(ctx: click.Context, sysfs_root: str | None, as_json: bool) -> None:
    """This machine's NUMA nodes with their cores (and SMT siblings), NICs and GPUs."""
    from lessor.hw.topology import read_topology
    from lessor.hw.topology import sysfs_root as root

    show.topology(read_topology(root(_where(ctx, sysfs_root=sysfs_root).sysfs_root)), as_json)


@hw.command()
@shared
@json_option
@click.pass_context
def status(ctx: click.Context, /, as_json: bool, **own: str | None) -> None:
    """Reservations, waiters and utilisation over 1, 5 and 15 minutes.

    With --server: this host's slots, reservations and waiters as the server sees them.
    """
    where = _where(ctx, **own)
    state = _state()
    if where.server:
        server = where.server
        ctx.exit(_server_call(lambda: _server_status(server, where.host, state, as_json)))
    try:
        topo, cfg = cache.load(state, where.sysfs_root, where.config)
    except HwConfigError as e:
        ctx.exit(_fail(str(e), p.EXIT_USAGE))
    show.status(state, topo, cfg.reservable(topo), list(cfg.profiles), as_json)


def _server_status(server: str, host: str | None, state: State, as_json: bool) -> int:
    from lessor.client.http import LessorClient
    from lessor.hw.lab import host_of
    from lessor.hw.lab_status import status as lab_status

    with LessorClient(server) as client:
        return lab_status(client, host_of(host), state.path, as_json)


@hw.command()
@click.option("--config", metavar="FILE", help="hw.yaml (default: LESSOR_HW_CONFIG).")
@click.option("--sysfs-root", metavar="DIR", help="A (fake) sysfs tree instead of /sys.")
@click.option(
    "--host", metavar="NAME", help="This machine's name in the pools (default: the host name)."
)
@click.pass_context
def pools(ctx: click.Context, /, **own: str | None) -> None:
    """This machine's reservable cores, NICs and GPUs as pools.yaml for a lessor server."""
    from lessor.hw.config import config_path, load_config
    from lessor.hw.lab import host_of
    from lessor.hw.lab_pools import pools_yaml
    from lessor.hw.topology import read_topology, sysfs_root

    where = _where(ctx, **own)
    topo = read_topology(sysfs_root(where.sysfs_root))
    try:
        cfg = load_config(config_path(where.config), topo, required=where.config is not None)
    except HwConfigError as e:
        ctx.exit(_fail(str(e), p.EXIT_USAGE))
    click.echo(pools_yaml(topo, cfg.reservable(topo), host_of(where.host)), nl=False)


def main(argv: list[str] | None = None) -> None:
    """`lessor hw …` (and `python -m lessor.hw …`); exits with the code."""
    hw.main(args=argv, prog_name="lessor hw")
