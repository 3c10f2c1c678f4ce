"""Fake sysfs trees: describe any machine to `lessor hw` through LESSOR_SYSFS_ROOT."""

from __future__ import annotations

from pathlib import Path


def two_socket_smt(root: Path, cores_per_node: int = 4) -> Path:
    """Two NUMA nodes, SMT (cpu N and N+total/2 are siblings), two NICs per node."""
    total = cores_per_node * 2
    cpu_dir = root / "devices/system/cpu"
    cpu_dir.mkdir(parents=True)
    (cpu_dir / "online").write_text(f"0-{total * 2 - 1}\n")
    for node in (0, 1):
        first = node * cores_per_node
        last = first + cores_per_node - 1
        cpus = f"{first}-{last},{first + total}-{last + total}"
        d = root / f"devices/system/node/node{node}"
        d.mkdir(parents=True)
        (d / "cpulist").write_text(cpus + "\n")
    for cpu in range(total * 2):
        core = cpu % total
        t = cpu_dir / f"cpu{cpu}/topology"
        t.mkdir(parents=True)
        (t / "thread_siblings_list").write_text(f"{core},{core + total}\n")
        (t / "core_id").write_text(f"{core % cores_per_node}\n")
    pci = root / "devices/pci0000:00"
    for i, node in enumerate((0, 0, 1, 1)):
        dev = pci / f"0000:0{i + 1}:00.0"
        dev.mkdir(parents=True)
        (dev / "numa_node").write_text(f"{node}\n")
        net = root / f"class/net/eth{i}"
        net.mkdir(parents=True)
        (net / "device").symlink_to(dev)
    (root / "class/net/lo").mkdir(parents=True)  # virtual: no device
    return root
