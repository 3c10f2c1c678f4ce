"""hw.yaml: which cores and NICs may be handed out, and named profiles.

cores: 2-15          # CPU list (cores are given by any of their CPUs); default: all but core 0
nics: [eth2, eth3]   # names or PCI addresses; default: every NIC with a PCI device
profiles:
  ci: {cores: 2, nics: 2}
"""

from __future__ import annotations

import os

from lessor.hw.topology import Topology, parse_cpulist

TYPE_CHECKING = False  # not typing's: importing typing costs ~10 ms of start-up
if TYPE_CHECKING:
    from dataclasses import dataclass as record
else:  # dataclasses costs more start-up than all of `lessor hw` (see record.py)
    from lessor.hw.record import record

CONFIG_ENV = "LESSOR_HW_CONFIG"
DEFAULT_CONFIG = "/etc/lessor/hw.yaml"


class HwConfigError(Exception):
    """A bad hw.yaml; the message names file and line."""


@record(frozen=True)
class Profile:
    cores: int = 0
    nics: int = 0


@record(frozen=True)
class HwConfig:
    cores: frozenset[int] | None  # core ids; None: all but the first core
    nics: frozenset[str] | None  # names; None: all
    profiles: dict[str, Profile]

    def reservable(self, topo: Topology) -> tuple[frozenset[int], frozenset[str]]:
        cores = self.cores
        if cores is None:
            ids = sorted(c.id for c in topo.cores)
            cores = frozenset(ids[1:] if len(ids) > 1 else ids)
        nics = self.nics if self.nics is not None else frozenset(n.name for n in topo.nics)
        return cores, nics


def config_path(explicit: str | None = None) -> str:
    return explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG


def load_config(
    path_name: str | os.PathLike[str], topo: Topology, *, required: bool = False
) -> HwConfig:
    """The file's settings, or the defaults when there is no file (unless `required`)."""
    from pathlib import Path

    path = Path(path_name)
    if not path.exists():
        if required:
            raise HwConfigError(f"{path}: no such file")
        return HwConfig(None, None, {})
    from lessor.config.yamlfile import ConfigError, load_yaml

    try:
        doc = load_yaml(path)
    except ConfigError as e:
        raise HwConfigError(str(e)) from e
    data = doc.data or {}
    if not isinstance(data, dict):
        raise HwConfigError(f"{doc.where(())}: expected a mapping (cores, nics, profiles)")
    for key in data:
        if key not in ("cores", "nics", "profiles"):
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
    nics = None
    if "nics" in data:
        if not isinstance(data["nics"], list):
            raise HwConfigError(f"{doc.where(('nics',))}: nics: expected a list of names")
        by_pci = {n.pci: n.name for n in topo.nics}
        known = {n.name for n in topo.nics}
        nics = set()
        for i, n in enumerate(data["nics"]):
            name = by_pci.get(str(n), str(n))
            if name not in known:
                raise HwConfigError(f"{doc.where(('nics', i))}: nics: no such NIC {n!r}")
            nics.add(name)
    profiles: dict[str, Profile] = {}
    raw_profiles = data.get("profiles") or {}
    if not isinstance(raw_profiles, dict):
        raise HwConfigError(f"{doc.where(('profiles',))}: profiles: expected a mapping")
    for name, body in raw_profiles.items():
        where = doc.where(("profiles", str(name)))
        if not isinstance(body, dict) or set(body) - {"cores", "nics"}:
            raise HwConfigError(f"{where}: profile {name!r}: expected {{cores: N, nics: N}}")
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
        profiles,
    )
