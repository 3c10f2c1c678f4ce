"""Fake sysfs trees: describe any machine to `lessor hw` through LESSOR_SYSFS_ROOT."""

from __future__ import annotations

from pathlib import Path

GPUS = (
    # (PCI address, class, vendor, device, node): two vendors on each node, in PCI order
    ("0000:17:00.0", "0x030200", "0x10de", "0x2330", 0),  # NVIDIA H100, a 3D controller
    ("0000:18:00.0", "0x030000", "0x1002", "0x740f", 0),  # AMD MI210, a VGA controller
    ("0000:b1:00.0", "0x030200", "0x10de", "0x2330", 1),
    ("0000:b2:00.0", "0x030000", "0x1002", "0x740f", 1),
)
NOT_GPUS = (
    ("0000:05:00.0", "0x030000", "0x1a03", "0x2000", 0),  # the BMC's VGA (ASPEED): not a GPU
    ("0000:19:00.0", "0x120000", "0x10de", "0x1234", 0),  # a processing accelerator
)


def two_socket_smt(root: Path, cores_per_node: int = 4, gpus: bool = True) -> Path:
    """Two NUMA nodes, SMT (cpu N and N+total/2 are siblings), two NICs per node and,
    with `gpus`, an NVIDIA and an AMD GPU per node (besides a BMC's VGA)."""
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
    for i, node in enumerate((0, 0, 1, 1)):
        dev = pci_device(root, f"0000:0{i + 1}:00.0", "0x020000", "0x8086", "0x1572", node)
        net = root / f"class/net/eth{i}"
        net.mkdir(parents=True)
        (net / "device").symlink_to(dev)
    (root / "class/net/lo").mkdir(parents=True)  # virtual: no device
    if gpus:
        for address, pci_class, vendor, device, node in (*GPUS, *NOT_GPUS):
            pci_device(root, address, pci_class, vendor, device, node)
    return root


def pci_device(
    root: Path, address: str, pci_class: str, vendor: str, device: str, node: int
) -> Path:
    """A PCI function under devices/pci0000:00, linked from bus/pci/devices as the kernel does."""
    dev = root / "devices/pci0000:00" / address
    dev.mkdir(parents=True)
    for name, value in (("class", pci_class), ("vendor", vendor), ("device", device)):
        (dev / name).write_text(value + "\n")
    (dev / "numa_node").write_text(f"{node}\n")
    bus = root / "bus/pci/devices"
    bus.mkdir(parents=True, exist_ok=True)
    (bus / address).symlink_to(dev)
    return dev
