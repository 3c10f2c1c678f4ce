"""Which cores and NICs to give a request: pure, so every rule is unit-tested with data."""

from __future__ import annotations

from lessor.hw.topology import Core, Nic, Topology

TYPE_CHECKING = False  # not typing's: importing typing costs ~10 ms of start-up
if TYPE_CHECKING:
    from dataclasses import dataclass as record
else:  # dataclasses costs more start-up than all of `lessor hw` (see record.py)
    from lessor.hw.record import record


@record(frozen=True)
class Request:
    cores: int = 0
    nics: int = 0
    same_node: bool = True
    smt: bool = False  # count CPUs (hardware threads) instead of whole cores


@record(frozen=True)
class Choice:
    cores: tuple[Core, ...]
    cpus: tuple[int, ...]
    nics: tuple[Nic, ...]
    node: int | None


def choose(
    topo: Topology,
    reservable_cores: frozenset[int],
    reservable_nics: frozenset[str],
    busy_cores: frozenset[int],
    busy_nics: frozenset[str],
    req: Request,
) -> Choice | None:
    """The first fit, lowest node and lowest numbers first; None when it must wait.

    With `smt`, `cores` counts hardware threads, but a core is still never
    split between two holders: the unit of exclusion stays the physical core.
    """
    free_cores = [c for c in topo.cores if c.id in reservable_cores and c.id not in busy_cores]
    free_nics = [n for n in topo.nics if n.name in reservable_nics and n.name not in busy_nics]
    nodes: list[int | None] = list(topo.nodes) if req.same_node else [None]
    for node in nodes:
        cores = [c for c in free_cores if node is None or c.node == node]
        nics = [n for n in free_nics if node is None or n.node == node]
        picked = _pick_cores(cores, req)
        if picked is None or len(nics) < req.nics:
            continue
        cpus = tuple(sorted(cpu for c in picked for cpu in c.cpus))
        if req.smt:
            cpus = cpus[: req.cores]
        return Choice(tuple(picked), cpus, tuple(nics[: req.nics]), node)
    return None


def possible(topo: Topology, cores: frozenset[int], nics: frozenset[str], req: Request) -> bool:
    """Whether the request could ever be met here, even with nothing busy."""
    return choose(topo, cores, nics, frozenset(), frozenset(), req) is not None


def _pick_cores(cores: list[Core], req: Request) -> list[Core] | None:
    if not req.smt:
        return cores[: req.cores] if len(cores) >= req.cores else None
    picked, threads = [], 0
    for c in cores:
        if threads >= req.cores:
            break
        picked.append(c)
        threads += len(c.cpus)
    return picked if threads >= req.cores else None
