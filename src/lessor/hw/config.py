"""hw.yaml: which cores, NICs and GPUs may be handed out, and named profiles.

cores: 2-15          # CPU list (cores are given by any of their CPUs); default: all but core 0
nics: [eth2, eth3]   # names or PCI addresses; default: every NIC with a PCI device
gpus: ['0000:17:00.0']  # PCI addresses, quoted (or NVIDIA UUIDs); default: every GPU
profiles:
  ci: {cores: 2, nics: 2}
  train: {cores: 8, gpus: 2}
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lessor.hw.topology import Topology, parse_cpulist

if TYPE_CHECKING:
    from lessor.config.yamlfile import YamlDoc

CONFIG_ENV = "LESSOR_HW_CONFIG"
DEFAULT_CONFIG = "/etc/lessor/hw.yaml"
KINDS = ("cores", "nics", "gpus")


class HwConfigError(Exception):
    """A bad hw.yaml; the message names file and line."""


@dataclass(frozen=True)
class Profile:
    cores: int = 0
    nics: int = 0
    gpus: int = 0


@dataclass(frozen=True)
class Reservable:
    """What may be handed out: core ids, NIC names, GPU PCI addresses."""

    cores: frozenset[int] = frozenset()
    nics: frozenset[str] = frozenset()
    gpus: frozenset[str] = frozenset()


@dataclass(frozen=True)
class HwConfig:
    cores: frozenset[int] | None = None  # core ids; None: all but the first core
    nics: frozenset[str] | None = None  # names; None: all
    gpus: frozenset[str] | None = None  # PCI addresses; None: all
    profiles: dict[str, Profile] = field(default_factory=dict)

    def reservable(self, topo: Topology) -> Reservable:
        cores = self.cores
        if cores is None:
            ids = sorted(c.id for c in topo.cores)
            cores = frozenset(ids[1:] if len(ids) > 1 else ids)
        nics = self.nics if self.nics is not None else frozenset(n.name for n in topo.nics)
        gpus = self.gpus if self.gpus is not None else frozenset(g.pci for g in topo.gpus)
        return Reservable(cores, nics, gpus)


def config_path(explicit: str | None = None) -> str:
    return explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG


def load_config(
    path_name: str | os.PathLike[str], topo: Topology, *, required: bool = False
) -> HwConfig:
    """The file's settings, or the defaults when there is no file (unless `required`)."""
    path = Path(path_name)
    if not path.exists():
        if required:
            raise HwConfigError(f"{path}: no such file")
        return HwConfig()
    from lessor.config.yamlfile import ConfigError, load_yaml

    try:
        doc = load_yaml(path)
    except ConfigError as e:
        raise HwConfigError(str(e)) from e
    data = doc.data or {}
    if not isinstance(data, dict):
        raise HwConfigError(f"{doc.where(())}: expected a mapping (cores, nics, gpus, profiles)")
    for key in data:
        if key not in (*KINDS, "profiles"):
            raise HwConfigError(f"{doc.where((key,))}: unknown key {key!r}")
    cores = None
    if "cores" in data:
        raw = data["cores"]
        try:
            cpus = parse_cpulist(
                ",".join(str(x) for x in raw) if isinstance(raw, list) else str(raw)
            )
        except ValueError as e:
            raise HwConfigError(f"{doc.where(('cores',))}: cores: not a CPU list: {raw!r}") from e
        cores = set()
        for cpu in cpus:
            core = topo.core_of(cpu)
            if core is None:
                raise HwConfigError(
                    f"{doc.where(('cores',))}: cores: this machine has no CPU {cpu}"
                )
            cores.add(core.id)
    by_nic = {n.pci: n.name for n in topo.nics} | {n.name: n.name for n in topo.nics}
    nics = _names(doc, data, "nics", by_nic, "NIC", str)
    by_gpu = {g.pci: g.pci for g in topo.gpus} | {
        g.uuid.lower(): g.pci for g in topo.gpus if g.uuid
    }
    gpus = _names(doc, data, "gpus", by_gpu, "GPU", str.lower)
    profiles: dict[str, Profile] = {}
    raw_profiles = data.get("profiles") or {}
    if not isinstance(raw_profiles, dict):
        raise HwConfigError(f"{doc.where(('profiles',))}: profiles: expected a mapping")
    for name, body in raw_profiles.items():
        where = doc.where(("profiles", str(name)))
        if not isinstance(body, dict) or set(body) - set(KINDS):
            raise HwConfigError(
                f"{where}: profile {name!r}: expected {{cores: N, nics: N, gpus: N}}"
            )
        values = {}
        for k, v in body.items():
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise HwConfigError(
                    f"{doc.where(('profiles', str(name), k))}: profile {name!r}: "
                    f"{k}: expected a whole number >= 0, got {v!r}"
                )
            values[k] = v
        profiles[str(name)] = Profile(**values)
    return HwConfig(
        frozenset(cores) if cores is not None else None,
        frozenset(nics) if nics is not None else None,
        frozenset(gpus) if gpus is not None else None,
        profiles,
    )


def _names(
    doc: YamlDoc,
    data: dict[str, object],
    key: str,
    known: dict[str, str],
    what: str,
    normal: Callable[[str], str],
) -> set[str] | None:
    """A list of NICs or GPUs by any of their names, as the names lessor hw keys them by."""
    if key not in data:
        return None
    where = doc.where
    items = data[key]
    if not isinstance(items, list):
        raise HwConfigError(f"{where((key,))}: {key}: expected a list")
    found = set()
    for i, item in enumerate(items):
        if not isinstance(item, str):  # YAML reads 0000:17:00.0 as a number
            raise HwConfigError(
                f"{where((key, i))}: {key}: {item!r} is not a name; quote PCI addresses "
                "('0000:17:00.0')"
            )
        name = known.get(normal(item))
        if name is None:
            raise HwConfigError(f"{where((key, i))}: {key}: no such {what} {item!r}")
        found.add(name)
    return found
