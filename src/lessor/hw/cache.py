"""The machine's topology and hw.yaml, cached between runs of `lessor hw`.

Reading them means pathlib, re and a YAML parser: some 30 ms of imports,
ten times the `flock … taskset` that `lessor hw` is measured against, for
an answer that changes only when the machine or the file does. The cache
is keyed by what would change it: the file's identity (inode, size,
mtime), the sysfs root, the online CPUs, the NIC names and the boot.
Stale in the worst case until the next boot or edit of hw.yaml; never
shared between users (a marshal file is trusted only from its owner).

Next to it, `machine-UID.native` says the same in lines for the native
launcher (`native/lessor.c`): the keys it checks itself, then the cores,
NICs, reservable set and profiles. Anything it cannot say plainly (a path
with a newline, a profile name with a space) is left out, and the launcher
then hands the run to Python.
"""

from __future__ import annotations

import marshal
import os

from lessor.hw.config import HwConfig, Profile
from lessor.hw.topology import Core, Nic, Topology

FORMAT = 1
NATIVE_FORMAT = "lessor-hw-native 1"


def machine(state_dir: str, sysfs: str, config: str, required: bool) -> tuple[Topology, HwConfig]:
    """Topology and config; raises HwConfigError as load_config does (errors are not cached)."""
    key = _key(sysfs, config, required)
    path = os.path.join(state_dir, f"machine-{os.getuid()}.cache")
    native = os.path.join(state_dir, f"machine-{os.getuid()}.native")
    found = _read(path)
    if found is not None and found[0] == key:
        topo, cfg = _decode(found[1])
        if not os.path.exists(native):  # an older lessor wrote only the marshal file
            _write_native(native, key, topo, cfg)
        return topo, cfg
    from lessor.hw.config import load_config
    from lessor.hw.topology import read_topology

    topo = read_topology(sysfs)
    cfg = load_config(config, topo, required=required)
    _write(path, (key, _encode(topo, cfg)))
    _write_native(native, key, topo, cfg)
    return topo, cfg


def native_text(key: tuple[object, ...], topo: Topology, cfg: HwConfig) -> str | None:
    """The cache in lines for the C launcher; None when something cannot be said plainly."""
    _, sysfs, root_id, config, identity, required, online, nets, boot = key
    names = [*nets, *(n.name for n in topo.nics), *(n.pci for n in topo.nics)]  # type: ignore[misc]
    paths = [str(sysfs), str(config)]
    if not all(_field(x) for x in names) or not all(p.isprintable() for p in paths):
        return None
    lines = [
        NATIVE_FORMAT,
        f"sysfs {sysfs}",
        f"sysfs-id {' '.join(map(str, root_id))}",  # type: ignore[call-overload]
        f"config {config}",
        f"config-id {' '.join(map(str, identity)) if identity else 'none'}",  # type: ignore[call-overload]
        f"required {int(bool(required))}",
        f"online {_stripped(online)}",
        f"net {' '.join(nets)}",  # type: ignore[arg-type]
        f"boot {_stripped(boot)}",
    ]
    lines += [f"core {c.id} {c.node} {','.join(map(str, c.cpus))}" for c in topo.cores]
    lines += [f"nic {n.name} {n.pci} {n.node}" for n in topo.nics]
    cores, nics = cfg.reservable(topo)
    lines += [f"reservable-core {c}" for c in sorted(cores)]
    lines += [f"reservable-nic {n}" for n in sorted(nics)]
    # a profile the launcher cannot name is simply absent: asking for it goes to Python
    lines += [f"profile {k} {p.cores} {p.nics}" for k, p in cfg.profiles.items() if _field(k)]
    return "\n".join([*lines, "end", ""])


def _field(text: str) -> bool:
    """One space-free field of a line, short enough for the launcher's 64-byte names."""
    return bool(text) and text.isprintable() and " " not in text and len(text.encode()) < 64


def _stripped(text: object) -> str:
    """A sysfs or proc text as the launcher compares it: without trailing white space."""
    return str(text or "").rstrip(" \t\n\v\f\r")


def _write_native(path: str, key: tuple[object, ...], topo: Topology, cfg: HwConfig) -> None:
    text = native_text(key, topo, cfg)
    if text is None:
        try:  # noqa: SIM105 (contextlib costs start-up)
            os.unlink(path)  # an older one would describe something else
        except OSError:
            pass
        return
    _write_bytes(path, text.encode())


def _key(sysfs: str, config: str, required: bool) -> tuple[object, ...]:
    try:
        st = os.stat(config)
        identity: tuple[int, ...] | None = (st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        identity = None
    root = os.stat(sysfs)
    return (
        FORMAT,
        sysfs,
        (root.st_ino, root.st_mtime_ns),
        config,
        identity,
        required,
        _text(os.path.join(sysfs, "devices/system/cpu/online")),
        tuple(sorted(_listdir(os.path.join(sysfs, "class/net")))),
        _text("/proc/sys/kernel/random/boot_id"),
    )


def _encode(topo: Topology, cfg: HwConfig) -> tuple[object, ...]:
    return (
        tuple((c.id, c.node, c.cpus) for c in topo.cores),
        tuple((n.name, n.pci, n.node) for n in topo.nics),
        cfg.cores,
        cfg.nics,
        tuple((name, p.cores, p.nics) for name, p in cfg.profiles.items()),
    )


def _decode(data: tuple[object, ...]) -> tuple[Topology, HwConfig]:
    cores, nics, cfg_cores, cfg_nics, profiles = data
    topo = Topology(
        tuple(Core(*c) for c in cores),  # type: ignore[attr-defined]
        tuple(Nic(*n) for n in nics),  # type: ignore[attr-defined]
    )
    by_name = {name: Profile(c, n) for name, c, n in profiles}  # type: ignore[attr-defined]
    return topo, HwConfig(cfg_cores, cfg_nics, by_name)  # type: ignore[arg-type]


def _read(path: str) -> tuple[object, tuple[object, ...]] | None:
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_uid != os.getuid():
                return None  # someone else's: marshal is not safe against crafted data
            found = marshal.loads(f.read())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    return found if isinstance(found, tuple) and len(found) == 2 else None


def _write(path: str, value: tuple[object, ...]) -> None:
    _write_bytes(path, marshal.dumps(value))  # type: ignore[arg-type]  # tuples of plain values


def _write_bytes(path: str, data: bytes) -> None:
    """Atomically (write, then rename); a failure only costs the next run the slow way."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, path)
    except OSError:
        try:  # noqa: SIM105 (contextlib costs start-up)
            os.unlink(tmp)
        except OSError:
            pass


def _text(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []
