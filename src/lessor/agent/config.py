"""agent.yaml: what the host keeps for itself, where its disk is, its custom traits.

```yaml
name: rack1-host3          # the provider's name (default: the host name)
disk_path: /var/lib/vms    # DISK_GB is the size of this file system (default: /)
reserved: {vcpu: 2, memory_mb: 4096, disk_gb: 50}
traits: [CUSTOM_LAB_A]
heartbeat: 10              # seconds between heartbeats (keep well under the server's agent_silence)
```
A wrong key or value is one line naming file:line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lessor.agent.inventory import Reserves
from lessor.config.yamlfile import ConfigError, load_yaml
from lessor.domain.capacity import is_custom

KEYS = ("name", "disk_path", "reserved", "traits", "heartbeat")


class AgentConfigError(Exception):
    """agent.yaml is wrong: file:line and what."""


@dataclass(frozen=True)
class AgentConfig:
    name: str | None = None
    disk_path: Path = Path("/")
    reserves: Reserves = field(default_factory=Reserves)
    traits: tuple[str, ...] = ()
    heartbeat: float = 10.0


def load_agent_config(path: Path) -> AgentConfig:
    try:
        doc = load_yaml(path)
    except ConfigError as e:
        raise AgentConfigError(str(e)) from e
    data = doc.data or {}
    if not isinstance(data, dict):
        raise AgentConfigError(f"{doc.where(())}: expected a mapping ({', '.join(KEYS)})")
    for key in data:
        if key not in KEYS:
            raise AgentConfigError(f"{doc.where((key,))}: unknown key {key!r}")
    name = data.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise AgentConfigError(f"{doc.where(('name',))}: name: expected a string")
    disk = data.get("disk_path", "/")
    if not isinstance(disk, str) or not Path(disk).is_dir():
        raise AgentConfigError(f"{doc.where(('disk_path',))}: disk_path: no such directory")
    raw = data.get("reserved") or {}
    if not isinstance(raw, dict):
        raise AgentConfigError(f"{doc.where(('reserved',))}: reserved: expected a mapping")
    amounts: dict[str, int] = {}
    for k, v in raw.items():
        if k not in ("vcpu", "memory_mb", "disk_gb"):
            raise AgentConfigError(
                f"{doc.where(('reserved', k))}: reserved: unknown key {k!r} "
                "(vcpu, memory_mb, disk_gb)"
            )
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise AgentConfigError(
                f"{doc.where(('reserved', k))}: reserved: {k}: expected a whole number >= 0"
            )
        amounts[k] = v
    traits = data.get("traits") or []
    if not isinstance(traits, list):
        raise AgentConfigError(f"{doc.where(('traits',))}: traits: expected a list")
    for i, t in enumerate(traits):
        if not isinstance(t, str) or not is_custom(t):
            raise AgentConfigError(
                f"{doc.where(('traits', i))}: traits: {t!r} is not CUSTOM_[A-Z0-9_]+"
            )
    beat = data.get("heartbeat", 10)
    if not isinstance(beat, int | float) or isinstance(beat, bool) or beat <= 0:
        raise AgentConfigError(f"{doc.where(('heartbeat',))}: heartbeat: expected seconds > 0")
    return AgentConfig(name, Path(disk), Reserves(**amounts), tuple(traits), float(beat))
