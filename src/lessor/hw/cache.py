"""The plan file: the machine as Python read it, and plans for the native launcher.

`plan-UID` in the state directory holds, in lines (`protocol.py`'s hex for
anything free-form):

- *checks* of what the content was derived from: the environment variables
  that name hw.yaml and sysfs (and LESSOR_HW_SERVER, which must be unset),
  hw.yaml's inode, size and mtime, the sysfs root, the online CPUs, the NIC
  and PCI device names, the boot id. Both sides evaluate them the same plain
  way (an equal environment value, stat, whole file, set of names); any
  difference makes the file stale and the run Python's, which writes it anew;
- `machine`: the topology (with what NVML said of the GPUs) and hw.yaml, as
  JSON, so Python reads neither sysfs nor YAML nor NVML again;
- *units*: every reservable core, NIC and GPU with its lock file, CPUs and
  what the command is told of it (`rules.Unit`);
- *requests*: for the command lines seen so far (and every profile), keyed by
  their options as `request_key` spells them, the plan `rules.plan` made.

The launcher applies a plan and knows no rule. A command line it finds no
plan for goes to Python, which adds one: the first run of each shape is a
Python run, the next is native.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict

from lessor.hw import protocol as p
from lessor.hw.config import CONFIG_ENV, HwConfig, Profile, Reservable
from lessor.hw.fit import possible
from lessor.hw.rules import Plan, RequestError, plan, resolve
from lessor.hw.state import State, _write_file
from lessor.hw.topology import SYSFS_ENV, Core, Gpu, Nic, Topology

SERVER_ENV = "LESSOR_HW_SERVER"
MAX_REQUESTS = 256
"""Plans kept per file; the oldest go first."""


def request_key(options: Sequence[str]) -> str | None:
    """`--cores 2 --numa same` as 'cores=2 numa=same'; None when the launcher would not read it."""
    if len(options) % 2:
        return None
    pairs: dict[str, str] = {}
    for flag, value in zip(options[::2], options[1::2], strict=True):
        name = flag[2:]
        if flag[:2] != "--" or name not in p.FAST_OPTIONS or name in pairs:
            return None
        if not value or value[0] == "-" or any(c not in p.VALUE_CHARS for c in value):
            return None
        pairs[name] = value
    return " ".join(f"{k}={pairs[k]}" for k in sorted(pairs)) if pairs else None


def checks(sysfs: str, config: str) -> list[list[str]]:
    """What the file's content was derived from, in the check lines both sides evaluate."""
    found = [
        ["check-env", name, _hex(os.environ.get(name, ""))] for name in (CONFIG_ENV, SYSFS_ENV)
    ]
    found.append(["check-env", SERVER_ENV, ""])  # set, it means the server: never the launcher's
    found += [_stat(config), _stat(sysfs), _stat(os.path.join(sysfs, "module/nvidia"))]
    found += [_file(os.path.join(sysfs, "devices/system/cpu/online"))]
    found += [_dir(os.path.join(sysfs, d)) for d in ("class/net", "bus/pci/devices")]
    found += [_file("/proc/sys/kernel/random/boot_id")]
    return found


def holds(check: Sequence[str]) -> bool:
    """Whether one check line still holds (what native/lessor.c's `check()` does)."""
    kind, *args = check
    if kind == "check-env" and len(args) == 2:
        return _hex(os.environ.get(args[0], "")) == args[1]
    if kind in ("check-stat", "check-absent", "check-file", "check-dir") and args:
        return [kind, *args] == _probe(kind, p.unhex(args[0]).decode("utf-8", "surrogateescape"))
    return False


def _probe(kind: str, path: str) -> list[str]:
    return {"check-stat": _stat, "check-absent": _stat, "check-file": _file, "check-dir": _dir}[
        kind
    ](path)


def _stat(path: str) -> list[str]:
    try:
        st = os.stat(path)
    except OSError:
        return ["check-absent", _hex(path)]
    return ["check-stat", _hex(path), str(st.st_ino), str(st.st_size), str(st.st_mtime_ns)]


def _file(path: str) -> list[str]:
    try:
        with open(path, "rb") as f:
            return ["check-file", _hex(path), f.read(65536).hex()]
    except OSError:
        return ["check-absent", _hex(path)]


def _dir(path: str) -> list[str]:
    try:
        names = sorted(os.fsencode(n) for n in os.listdir(path))
    except OSError:
        return ["check-absent", _hex(path)]
    return ["check-dir", _hex(path), ",".join(n.hex() for n in names)]


def _hex(text: str) -> str:
    return os.fsencode(text).hex()


# -- the machine -----------------------------------------------------------------------


def machine(state: State) -> tuple[Topology, HwConfig] | None:
    """The machine the plan file describes, when its checks still hold."""
    lines = _lines(state)
    if lines is None:
        return None
    for words in lines:
        if words[0].startswith("check-") and not holds(words):
            return None
        if words[0] == "machine":
            try:
                return _decode(json.loads(" ".join(words[1:])))
            except (ValueError, KeyError, TypeError):
                return None
    return None


def load(
    state: State, sysfs_option: str | None, config_option: str | None
) -> tuple[Topology, HwConfig]:
    """The machine: from the plan file when it still holds, else read (and the file written).

    Explicit --sysfs-root or --config bypass the file: its plans are for the
    paths the environment names, the only ones the launcher knows.
    """
    from lessor.hw.config import config_path, load_config
    from lessor.hw.topology import read_topology, sysfs_root

    sysfs, config = sysfs_root(sysfs_option), config_path(config_option)
    cached = sysfs_option is None and config_option is None
    if cached:
        found = machine(state)
        if found is not None:
            return found
        head = checks(sysfs, config)  # before reading: a change meanwhile makes it stale
    topo = read_topology(sysfs)
    cfg = load_config(config, topo, required=config_option is not None)
    if cached:
        write(state, head, topo, cfg)
    return topo, cfg


def write(state: State, head: list[list[str]], topo: Topology, cfg: HwConfig) -> None:
    """A new plan file for this machine, with a plan for every profile."""
    reservable = cfg.reservable(topo)
    entries = []
    for name in cfg.profiles:
        key = request_key(["--profile", name])
        if key is None:
            continue
        try:
            req = resolve(None, None, None, None, False, name, cfg.profiles)
        except RequestError:
            continue
        found = plan(topo, reservable, req, name)
        if possible(found):
            entries.append((key, found))
    with state.decision():
        _write(state, head, topo, cfg, reservable, entries)


def add_request(state: State, key: str, found: Plan) -> None:
    """Adds the plan for one command line (under the decision lock, so none is lost)."""
    with state.decision():
        lines = _lines(state)
        if lines is None:
            return
        head = [w for w in lines if w[0].startswith("check-")]
        if not all(holds(w) for w in head):
            return  # stale: the next Python run writes it anew
        known = machine(state)
        if known is None:
            return
        topo, cfg = known
        entries = list(_entries(lines, cfg.reservable(topo), topo))
        if any(k == key for k, _ in entries):
            return
        entries = [*entries, (key, found)][-MAX_REQUESTS:]
        _write(state, head, topo, cfg, cfg.reservable(topo), entries)


def _write(
    state: State,
    head: list[list[str]],
    topo: Topology,
    cfg: HwConfig,
    reservable: Reservable,
    entries: list[tuple[str, Plan]],
) -> None:
    from lessor.hw.rules import units

    all_units = [u for kind in units(topo, reservable).values() for u in kind]
    ids = {u.lock: i for i, u in enumerate(all_units)}
    out = [p.PLAN_MAGIC, *(" ".join(w) for w in head)]
    out.append("machine " + json.dumps(_encode(topo, cfg), separators=(",", ":")))
    for i, u in enumerate(all_units):
        out.append(f"unit {i} {_hex(u.lock)}")
        if u.cpus:
            out.append(f"cpus {i} {','.join(map(str, u.cpus))}")
        out += [f"export {i} {var} {_hex(value)}" for var, value in u.exports]
        out += [f"common {i} {rank} {var} {_hex(value)}" for rank, var, value in u.commons]
    for key, found in entries:
        out.append(f"request {_hex(key)} {_hex(found.profile)}")
        for alt in found.alternatives:
            out.append("alt")
            out += [f"need {n.count} {','.join(str(ids[u.lock]) for u in n.units)}" for n in alt]
    out.append("end")
    name = p.PLAN_FILE.format(uid=os.getuid())
    with contextlib.suppress(OSError):  # the file only speeds up the next run
        _write_file(os.path.join(state.path, name), ("\n".join(out) + "\n").encode(), 0o644)


def _entries(
    lines: list[list[str]], reservable: Reservable, topo: Topology
) -> Iterator[tuple[str, Plan]]:
    """The plans in the file, rebuilt from the machine (their keys are what matters)."""
    from lessor.hw.rules import Need, units

    all_units = [u for kind in units(topo, reservable).values() for u in kind]
    key: str | None = None
    profile = "-"
    alts: list[list[Need]] = []
    for words in [*lines, ["end"]]:
        if words[0] in ("request", "end") and key is not None:
            yield key, Plan(tuple(tuple(a) for a in alts), profile)
            key, alts = None, []
        if words[0] == "request":
            key, profile = p.text(words[1]), p.text(words[2])
        elif words[0] == "alt":
            alts.append([])
        elif words[0] == "need" and alts:
            members = tuple(all_units[int(i)] for i in words[2].split(",") if i)
            alts[-1].append(Need(int(words[1]), members))


def _lines(state: State) -> list[list[str]] | None:
    path = os.path.join(state.path, p.PLAN_FILE.format(uid=os.getuid()))
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_uid != os.getuid():
                return None  # anyone may write in the shared directory: only our own
            raw = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    if not raw or raw[0] != p.PLAN_MAGIC:
        return None
    return [line.split(" ") for line in raw[1:] if line]


def _encode(topo: Topology, cfg: HwConfig) -> dict[str, object]:
    def sorted_or_none(s: frozenset[object] | None) -> list[object] | None:
        return None if s is None else sorted(s)  # type: ignore[type-var]

    return {
        "topology": asdict(topo),
        "config": {
            "cores": sorted_or_none(cfg.cores),
            "nics": sorted_or_none(cfg.nics),
            "gpus": sorted_or_none(cfg.gpus),
            "profiles": {k: asdict(v) for k, v in cfg.profiles.items()},
        },
    }


def _decode(data: dict[str, object]) -> tuple[Topology, HwConfig]:
    t: dict[str, list[dict[str, object]]] = data["topology"]  # type: ignore[assignment]
    c: dict[str, object] = data["config"]  # type: ignore[assignment]
    topo = Topology(
        tuple(Core(x["id"], x["node"], tuple(x["cpus"])) for x in t["cores"]),  # type: ignore[arg-type]
        tuple(Nic(**x) for x in t["nics"]),  # type: ignore[arg-type]
        tuple(Gpu(**x) for x in t["gpus"]),  # type: ignore[arg-type]
    )

    def frozen(key: str) -> frozenset[object] | None:
        value = c[key]
        return None if value is None else frozenset(value)  # type: ignore[call-overload]

    profiles: dict[str, dict[str, int]] = c["profiles"]  # type: ignore[assignment]
    cfg = HwConfig(
        frozen("cores"),  # type: ignore[arg-type]
        frozen("nics"),  # type: ignore[arg-type]
        frozen("gpus"),  # type: ignore[arg-type]
        {k: Profile(**v) for k, v in profiles.items()},
    )
    return topo, cfg
