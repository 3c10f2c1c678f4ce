"""The machine's CPUs, physical cores, NUMA nodes and NICs, read from sysfs.

Everything takes a root directory so tests can describe any machine with a
fake tree (`LESSOR_SYSFS_ROOT`), e.g. two sockets with SMT and four NICs.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not typing's: importing typing costs ~10 ms of start-up
if TYPE_CHECKING:
    from dataclasses import dataclass as record
    from pathlib import Path
else:  # dataclasses costs more start-up than all of `lessor hw` (see record.py)
    from lessor.hw.record import record

SYSFS_ENV = "LESSOR_SYSFS_ROOT"


@record(frozen=True)
class Core:
    """A physical core: the unit `lessor hw` hands out, all its SMT siblings together."""

    id: int  # the lowest CPU number of the core: unique machine-wide
    node: int
    cpus: tuple[int, ...]


@record(frozen=True)
class Nic:
    name: str
    pci: str
    node: int


@record(frozen=True)
class Topology:
    cores: tuple[Core, ...]
    nics: tuple[Nic, ...]

    @property
    def nodes(self) -> tuple[int, ...]:
        return tuple(sorted({c.node for c in self.cores} | {n.node for n in self.nics}))

    def core_of(self, cpu: int) -> Core | None:
        return next((c for c in self.cores if cpu in c.cpus), None)


def parse_cpulist(text: str) -> list[int]:
    """'0-3,8,10-11' -> [0, 1, 2, 3, 8, 10, 11] (the kernel's list format)."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


def sysfs_root(explicit: str | None = None) -> str:
    return explicit or os.environ.get(SYSFS_ENV) or "/sys"


def read_topology(root_dir: str | Path) -> Topology:
    """Read from sysfs; the run path gets it from `cache.py` instead (pathlib and re are slow)."""
    from pathlib import Path

    root = Path(root_dir)
    cpu_dir = root / "devices/system/cpu"
    online_file = cpu_dir / "online"
    online = set(parse_cpulist(online_file.read_text())) if online_file.exists() else None
    node_of: dict[int, int] = {}
    for node_dir in sorted((root / "devices/system/node").glob("node[0-9]*")):
        for cpu in parse_cpulist((node_dir / "cpulist").read_text()):
            node_of[cpu] = int(node_dir.name[4:])
    cores: dict[int, Core] = {}
    for d in sorted(cpu_dir.glob("cpu[0-9]*"), key=lambda p: int(p.name[3:])):
        cpu = int(d.name[3:])
        if online is not None and cpu not in online:
            continue
        siblings_file = d / "topology/thread_siblings_list"
        siblings = parse_cpulist(siblings_file.read_text()) if siblings_file.exists() else [cpu]
        siblings = sorted(s for s in siblings if online is None or s in online)
        first = siblings[0]
        if first not in cores:
            cores[first] = Core(first, node_of.get(first, 0), tuple(siblings))
    nics = []
    for d in sorted((root / "class/net").glob("*")):
        device = d / "device"
        if not device.exists():
            continue  # virtual: lo, bridges, tunnels
        numa_file = device / "numa_node"
        node = int(numa_file.read_text()) if numa_file.exists() else -1
        nics.append(Nic(d.name, _pci_address(device), max(node, 0)))
    return Topology(tuple(cores.values()), tuple(nics))


def _pci_address(device: Path) -> str:
    """The PCI function the NIC hangs off (virtio NICs sit one level below it)."""
    import re

    pci = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
    parts = os.path.realpath(device).split(os.sep)
    return next((p for p in reversed(parts) if pci.match(p)), parts[-1])
