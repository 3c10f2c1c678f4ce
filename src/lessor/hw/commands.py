"""`lessor hw` with argparse: help, subcommands, and the run when its arguments are unusual.

lessor hw [--cores N] [--nics N] [--profile P] [--numa same|any] [--smt]
          [--no-wait | --wait-timeout S] [--time-limit S] -- COMMAND...
lessor hw topology [--json]
lessor hw status [--json]
lessor hw pools [--host NAME]         # this machine as pools of a lessor server (shared lab)
Any of them with --server URL (or LESSOR_HW_SERVER): through that server.

A plain run does not come here: `cli.py` reads its arguments without argparse.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

from lessor.hw import run
from lessor.hw.argv import DEFAULT_LEASE, RunArgs
from lessor.hw.cli import EXIT_SERVER, EXIT_USAGE, SERVER_ENV, run_args, server_call
from lessor.hw.config import HwConfigError, config_path, load_config
from lessor.hw.state import State, state_dir
from lessor.hw.topology import Topology, read_topology, sysfs_root
from lessor.hw.usage import WINDOWS, busy_fraction, holders_average, intervals

EPILOG = f"""\
environment of COMMAND: LESSOR_CPUS (CPU list), LESSOR_NUMA_NODE, NIC0..NICn-1
(PCI addresses) and NIC0_NAME.. (interface names); its CPU affinity is the
reserved CPUs.

exit codes: the command's own (128+N if killed by signal N);
  {run.EXIT_BUSY}  busy with --no-wait, or --wait-timeout passed
  {run.EXIT_IMPOSSIBLE}  this machine can never satisfy the request
  {run.EXIT_TIME_LIMIT} --time-limit reached (SIGTERM, then SIGKILL after a grace)
  {EXIT_USAGE}   bad arguments or bad hw.yaml
  {EXIT_SERVER}  --server: the server was unreachable or refused a request

state: LESSOR_HW_STATE_DIR, else /run/lessor/hw (root) or $XDG_RUNTIME_DIR/lessor/hw.
config: --config, LESSOR_HW_CONFIG or /etc/lessor/hw.yaml.
shared lab: --server URL or LESSOR_HW_SERVER (not LESSOR_SERVER: local mode is the
default); the host's pools come from `lessor hw pools`; tickets are leased for
--lease S (30) and renewed while the command runs, so a killed holder's hardware
is free again after at most that long.
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lessor hw",
        usage="lessor hw [OPTIONS] -- COMMAND...\n       lessor hw topology|status|pools [OPTIONS]",
        description="Reserve CPU cores and NICs, run COMMAND pinned to them, free them after.\n\n"
        "  topology  this machine's cores, SMT siblings, NUMA nodes and NICs\n"
        "  status    holders, waiters, utilisation (--server: as the server sees them)\n"
        "  pools     this machine as pools.yaml for a lessor server (a shared lab)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--cores", type=int, help="whole physical cores (all SMT siblings)")
    p.add_argument("--nics", type=int, help="network interfaces")
    p.add_argument("--profile", help="a profile of hw.yaml (cores and NICs)")
    p.add_argument(
        "--numa",
        choices=("same", "any"),
        help="all on one NUMA node (default: same when cores and NICs are asked)",
    )
    p.add_argument("--smt", action="store_true", help="--cores counts hardware threads")
    p.add_argument("--no-wait", action="store_true", help=f"exit {run.EXIT_BUSY} if busy")
    p.add_argument("--wait-timeout", type=float, metavar="S", help="wait at most S seconds")
    p.add_argument("--time-limit", type=float, metavar="S", help="stop the command after S s")
    p.add_argument(
        "--grace",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds between SIGTERM and SIGKILL at the time limit (default 5)",
    )
    p.add_argument("--config", help="hw.yaml")
    p.add_argument("--sysfs-root", help="a (fake) sysfs tree instead of /sys")
    p.add_argument("--json", action="store_true", help="topology/status: print JSON")
    p.add_argument("--server", metavar="URL", help="reserve through this lessor server")
    p.add_argument("--host", help="this machine's name in the server's pools (default: hostname)")
    p.add_argument(
        "--lease",
        type=float,
        default=DEFAULT_LEASE,
        metavar="S",
        help="--server: tickets' lease, renewed while running; bounds a dead holder's hold",
    )
    return p


def main(args_in: Sequence[str]) -> int:
    args_in = list(args_in)
    command: list[str] = []
    if "--" in args_in:
        i = args_in.index("--")
        args_in, command = args_in[:i], args_in[i + 1 :]
    parser = _parser()
    sub = None
    for word in ("topology", "status", "pools"):
        if word in args_in and not command:
            sub = word
            args_in.remove(word)
    args = parser.parse_args(args_in)
    if sub is None:
        if not command:
            parser.print_usage(sys.stderr)
            print("lessor hw: give the command after --", file=sys.stderr)
            return EXIT_USAGE
        fields = {k: v for k, v in vars(args).items() if k != "json"}
        return run_args(RunArgs(tuple(command), **fields))
    topo = read_topology(sysfs_root(args.sysfs_root))
    if sub == "topology":
        return _topology(topo, args.json)
    try:
        cfg = load_config(config_path(args.config), topo, required=args.config is not None)
    except HwConfigError as e:
        print(f"lessor hw: {e}", file=sys.stderr)
        return EXIT_USAGE
    if sub == "pools":
        from lessor.hw.lab import host_of
        from lessor.hw.lab_pools import pools_yaml

        print(pools_yaml(topo, *cfg.reservable(topo), host_of(args.host)), end="")
        return 0
    state = State(state_dir())
    server = args.server or os.environ.get(SERVER_ENV) or None
    if server:
        return server_call(lambda: _server_status(server, args.host, state, args.json))
    return _status(state, topo, cfg.reservable(topo), list(cfg.profiles), args.json)


def _server_status(server: str, host: str | None, state: State, as_json: bool) -> int:
    from lessor.client.http import LessorClient
    from lessor.hw.lab import host_of
    from lessor.hw.lab_status import status

    with LessorClient(server) as client:
        return status(client, host_of(host), state.path, as_json)


def _topology(topo: Topology, as_json: bool) -> int:
    if as_json:
        print(
            json.dumps(
                {
                    "nodes": list(topo.nodes),
                    "cores": [
                        {"id": c.id, "node": c.node, "cpus": list(c.cpus)} for c in topo.cores
                    ],
                    "nics": [{"name": n.name, "pci": n.pci, "node": n.node} for n in topo.nics],
                },
                indent=2,
            )
        )
        return 0
    for node in topo.nodes:
        cores = [c for c in topo.cores if c.node == node]
        print(f"node {node}: {len(cores)} cores")
        for c in cores:
            print(f"  core {c.id}: cpus {','.join(str(x) for x in c.cpus)}")
        for n in (n for n in topo.nics if n.node == node):
            print(f"  nic {n.name}: {n.pci}")
    return 0


def _status(
    state: State,
    topo: Topology,
    reservable: tuple[frozenset[int], frozenset[str]],
    profiles: list[str],
    as_json: bool,
) -> int:
    now = time.time()
    holders: dict[object, dict[str, object]] = {}
    for info in state.holders().values():
        holders.setdefault(info.get("token"), info)
    waiters = [info for _, info in state.waiters()]
    spans = intervals(state.usage())
    cores_n, nics_n = len(reservable[0]), len(reservable[1])
    util = {
        "cores": [busy_fraction(spans, "cores", cores_n, w, now) for w in WINDOWS],
        "nics": [busy_fraction(spans, "nics", nics_n, w, now) for w in WINDOWS],
        **{
            f"profile {p}": [holders_average(spans, p, w, now) for w in WINDOWS]
            for p in [*profiles, "-"]
        },
    }
    if as_json:
        print(
            json.dumps(
                {
                    "holders": list(holders.values()),
                    "waiters": waiters,
                    "utilisation": util,
                    "reservable": {"cores": cores_n, "nics": nics_n},
                },
                indent=2,
            )
        )
        return 0
    print(f"reservable: {cores_n} cores, {nics_n} NICs")
    print(f"holders ({len(holders)}):")
    for h in holders.values():
        since = time.strftime("%H:%M:%S", time.localtime(float(h.get("since", 0))))  # type: ignore[arg-type]
        print(
            f"  {h.get('user')} pid {h.get('pid')} since {since}: cpus {h.get('cpus')} "
            f"nics {h.get('nic_names')} - {h.get('command')}"
        )
    print(f"waiters ({len(waiters)}):")
    for w in waiters:
        print(f"  {w.get('user')}: {w.get('command')}")
    print("utilisation over 1, 5, 15 min:")
    for name, values in util.items():
        unit = "%" if name in ("cores", "nics") else " holders"
        shown = [f"{v * 100:.0f}%" if unit == "%" else f"{v:.2f}" for v in values]
        print(f"  {name:<20} {'  '.join(shown)}")
    return 0
