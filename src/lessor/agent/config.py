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
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, field_validator

from lessor.agent.inventory import Reserves
from lessor.config.yamlfile import ConfigError, load_yaml, problems
from lessor.domain.capacity import is_custom


class AgentConfigError(Exception):
    """agent.yaml is wrong: file:line and what."""


@dataclass(frozen=True)
class AgentConfig:
    name: str | None = None
    disk_path: Path = Path("/")
    reserves: Reserves = field(default_factory=Reserves)
    traits: tuple[str, ...] = ()
    heartbeat: float = 10.0


class _Reserved(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    vcpu: int = 0
    memory_mb: int = 0
    disk_gb: int = 0

    @field_validator("vcpu", "memory_mb", "disk_gb")
    @classmethod
    def _whole(cls, v: int) -> int:
        if v < 0:
            raise ValueError("expected a whole number >= 0")
        return v


def _custom(trait: str) -> str:
    if not is_custom(trait):
        raise ValueError(f"{trait!r} is not CUSTOM_[A-Z0-9_]+")
    return trait


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    disk_path: str = "/"
    reserved: _Reserved = _Reserved()
    traits: list[Annotated[str, AfterValidator(_custom)]] = []
    heartbeat: float = 10.0

    @field_validator("name")
    @classmethod
    def _named(cls, v: str | None) -> str | None:
        if v is not None and not v:
            raise ValueError("expected a string")
        return v

    @field_validator("disk_path")
    @classmethod
    def _dir(cls, v: str) -> str:
        if not Path(v).is_dir():
            raise ValueError("no such directory")
        return v

    @field_validator("heartbeat")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("expected seconds > 0")
        return v


def load_agent_config(path: Path) -> AgentConfig:
    try:
        doc = load_yaml(path)
        if not isinstance(doc.data or {}, dict):
            raise ConfigError(
                f"{doc.where(())}: expected a mapping ({', '.join(_File.model_fields)})"
            )
        try:
            f = _File.model_validate(doc.data or {})
        except ValidationError as e:
            raise ConfigError(problems(doc, e, unknown=True)[0]) from e
    except ConfigError as e:
        raise AgentConfigError(str(e)) from e
    r = f.reserved
    reserves = Reserves(vcpu=r.vcpu, memory_mb=r.memory_mb, disk_gb=r.disk_gb)
    return AgentConfig(f.name, Path(f.disk_path), reserves, tuple(f.traits), f.heartbeat)
