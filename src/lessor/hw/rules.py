"""Which hardware a request may get: every rule of `lessor hw`'s choice, stated once.

The rules turn the machine (topology and hw.yaml) into *units* — a whole
core with its SMT siblings, a NIC, a GPU — each with its lock file and what
the command is told of it, and a request into a *plan*: alternatives in order
of preference, each a list of *needs* ("COUNT free units from this ordered
list"). `fit.py` applies a plan to what is free; the native launcher does the
same with the plans `cache.py` writes for it. Neither knows a rule: the first
alternative whose needs are all met wins.

The rules: whole cores only, never shared; the reservable set of hw.yaml
only; first fit, lowest node and lowest numbers first; one NUMA node
(`--numa same`) by default when more than one kind is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

from lessor.hw import protocol
from lessor.hw.config import Profile, Reservable
from lessor.hw.topology import Core, Gpu, Nic, Topology
from lessor.hw.words import amount, listing

NUMA_ENV = "LESSOR_NUMA_NODE"
"""The node of the reserved CPUs when they all sit on one; without CPUs, of the rest."""
CPU_RANK, OTHER_RANK = 0, 1
"""Which units decide a common variable: CPUs first, NICs and GPUs when there are none."""


class RequestError(Exception):
    """A request that names no hardware or an unknown profile; the message says which."""


@dataclass(frozen=True)
class Request:
    cores: int = 0
    nics: int = 0
    gpus: int = 0
    same_node: bool = True
    smt: bool = False  # `cores` counts hardware threads; a core is still never split

    def wants(self) -> str:
        asked = [(self.cores, "cores"), (self.nics, "nics"), (self.gpus, "gpus")]
        said = listing([amount(n, k) for n, k in asked if n])
        return said + (" on one NUMA node" if self.same_node and self.kinds() > 1 else "")

    def kinds(self) -> int:
        return sum(1 for n in (self.cores, self.nics, self.gpus) if n)


@dataclass(frozen=True)
class Unit:
    """One thing a lock file stands for, and what the command is told when it gets it."""

    kind: str  # core, nic, gpu
    key: str  # core id, NIC name, GPU PCI address
    node: int
    cpus: tuple[int, ...] = ()  # its CPUs: the command's affinity
    exports: tuple[tuple[str, str], ...] = ()
    """(VAR, value): several chosen units' values are joined by commas; `#` numbers them."""
    commons: tuple[tuple[int, str, str], ...] = ()
    """(rank, VAR, value): set when every chosen unit of the lowest rank naming VAR agrees."""

    @property
    def lock(self) -> str:
        return protocol.lock_name(self.kind, self.key)


@dataclass(frozen=True)
class Need:
    count: int
    units: tuple[Unit, ...]  # in order of preference
    threads: bool = False  # count CPUs, not units (--smt; the launcher never gets such needs)


@dataclass(frozen=True)
class Plan:
    alternatives: tuple[tuple[Need, ...], ...]
    profile: str = "-"

    def units(self) -> tuple[Unit, ...]:
        """Every unit the plan may take, each once, in the order they first appear."""
        seen: dict[str, Unit] = {}
        for alt in self.alternatives:
            for need in alt:
                for u in need.units:
                    seen.setdefault(u.lock, u)
        return tuple(seen.values())


def resolve(
    cores: int | None,
    nics: int | None,
    gpus: int | None,
    numa: str | None,
    smt: bool,
    profile: str | None,
    profiles: dict[str, Profile],
) -> Request:
    """The request a command line makes: a profile's amounts unless given, numa's default."""
    if profile is not None:
        prof = profiles.get(profile)
        if prof is None:
            known = ", ".join(sorted(profiles)) or "none"
            raise RequestError(f"no profile {profile!r} (known: {known})")
        cores = prof.cores if cores is None else cores
        nics = prof.nics if nics is None else nics
        gpus = prof.gpus if gpus is None else gpus
    req = Request(cores or 0, nics or 0, gpus or 0, False, smt)
    if min(req.cores, req.nics, req.gpus) < 0 or req.kinds() == 0:
        raise RequestError("ask for --cores N, --nics N and/or --gpus N (or --profile)")
    same = numa == "same" if numa else req.kinds() > 1
    return Request(req.cores, req.nics, req.gpus, same, smt)


def core_unit(core: Core) -> Unit:
    return Unit("core", str(core.id), core.node, core.cpus, (), _numa(CPU_RANK, core.node))


def nic_unit(nic: Nic) -> Unit:
    exports = (("NIC#", nic.pci), ("NIC#_NAME", nic.name))
    return Unit("nic", nic.name, nic.node, (), exports, _numa(OTHER_RANK, nic.node))


def gpu_unit(gpu: Gpu) -> Unit:
    """Each vendor's runtime is told in its own variables, besides LESSOR_GPUS and GPU0…."""
    exports = [("LESSOR_GPUS", gpu.pci), ("GPU#", gpu.pci)]
    commons = list(_numa(OTHER_RANK, gpu.node))
    if gpu.vendor == "nvidia":
        # a UUID means one GPU whatever the order; an index needs the PCI order CUDA counts in
        exports.append(("CUDA_VISIBLE_DEVICES", gpu.uuid or str(gpu.index)))
        if not gpu.uuid:
            commons.append((0, "CUDA_DEVICE_ORDER", "PCI_BUS_ID"))
    elif gpu.vendor == "amd":
        # ROCr picks the GPUs; HIP then numbers what ROCr left, from 0
        exports += [("ROCR_VISIBLE_DEVICES", str(gpu.index)), ("HIP_VISIBLE_DEVICES", "#")]
    elif gpu.vendor == "intel":
        exports.append(("ZE_AFFINITY_MASK", str(gpu.index)))
        commons.append((0, "ZE_ENABLE_PCI_ID_DEVICE_ORDER", "1"))
    return Unit("gpu", gpu.pci, gpu.node, (), tuple(exports), tuple(commons))


def _numa(rank: int, node: int) -> tuple[tuple[int, str, str], ...]:
    return ((rank, NUMA_ENV, str(node)),)


def units(topo: Topology, reservable: Reservable) -> dict[str, tuple[Unit, ...]]:
    """The reservable units of each kind, in the order they are handed out."""
    return {
        "cores": tuple(core_unit(c) for c in topo.cores if c.id in reservable.cores),
        "nics": tuple(nic_unit(n) for n in topo.nics if n.name in reservable.nics),
        "gpus": tuple(gpu_unit(g) for g in topo.gpus if g.pci in reservable.gpus),
    }


def plan(topo: Topology, reservable: Reservable, req: Request, profile: str | None = None) -> Plan:
    """First fit: every node in order when on one node, else the whole machine at once."""
    by_kind = units(topo, reservable)
    wanted = [("cores", req.cores), ("nics", req.nics), ("gpus", req.gpus)]
    nodes: list[int | None] = list(topo.nodes) if req.same_node else [None]
    alternatives = []
    for node in nodes:
        needs = tuple(
            Need(
                count,
                tuple(u for u in by_kind[kind] if node is None or u.node == node),
                threads=kind == "cores" and req.smt,
            )
            for kind, count in wanted
            if count
        )
        alternatives.append(needs)
    return Plan(tuple(alternatives), profile or "-")


def never_possible(req: Request, reservable: Reservable) -> str:
    """The message for a request this machine cannot ever satisfy."""
    have = listing(
        [
            amount(len(reservable.cores), "cores"),
            amount(len(reservable.nics), "nics"),
            amount(len(reservable.gpus), "gpus"),
        ]
    )
    return f"this machine cannot ever give {req.wants()} (reservable: {have})"
