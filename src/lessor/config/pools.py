"""pools.yaml: resalloc's format, key for key, read into domain Pools."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lessor.config.yamlfile import ConfigError, YamlDoc, load_yaml
from lessor.domain.model import Pool, Tag

log = logging.getLogger(__name__)


class TagConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    priority: int = 0


class PoolConfig(BaseModel):
    """One pool as written in pools.yaml; defaults are resalloc's."""

    model_config = ConfigDict(extra="allow")

    max: int = Field(4, ge=0)
    max_starting: int = Field(1, ge=0)
    max_prealloc: int = Field(2, ge=0)
    start_delay: float = Field(0, ge=0)
    cmd_new: str | None = None
    cmd_delete: str | None = None
    cmd_livecheck: str | None = None
    cmd_release: str | None = None
    cmd_list: str | None = None
    livecheck_period: float = Field(600, gt=0)
    livecheck_attempts: int = Field(3, ge=1)
    reuse_opportunity_time: float = Field(0, ge=0)
    reuse_max_count: int = Field(0, ge=0)
    reuse_max_time: float = Field(3600, ge=0)
    tags: list[TagConfig] = []
    tags_on_demand: list[TagConfig] = []
    named_counters: list[str] = []
    name_pattern: str = "{pool_name}_{id:08d}_{datetime}"
    description: str = ""
    hook_timeout: float = Field(3600, gt=0, description="seconds before a hook is killed (lessor)")

    @field_validator("tags", "tags_on_demand", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        """resalloc allows a bare string for a tag with priority 0."""
        if value is None:
            return []
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    def to_pool(self, name: str) -> Pool:
        return Pool(
            name=name,
            max=self.max,
            max_starting=self.max_starting,
            max_prealloc=self.max_prealloc,
            start_delay=self.start_delay,
            tags=tuple(Tag(t.name, t.priority) for t in self.tags),
            tags_on_demand=tuple(Tag(t.name, t.priority) for t in self.tags_on_demand),
            named_counters=tuple(self.named_counters),
            cmd_new=self.cmd_new,
            cmd_delete=self.cmd_delete,
            cmd_livecheck=self.cmd_livecheck,
            cmd_release=self.cmd_release,
            cmd_list=self.cmd_list,
            livecheck_period=self.livecheck_period,
            livecheck_attempts=self.livecheck_attempts,
            reuse_opportunity_time=self.reuse_opportunity_time,
            reuse_max_count=self.reuse_max_count,
            reuse_max_time=self.reuse_max_time,
            hook_timeout=self.hook_timeout,
            name_pattern=self.name_pattern,
            description=self.description,
        )


def load_pools(path: Path) -> tuple[Pool, ...]:
    """Read pools.yaml; relative hook paths stay relative to the server's working directory."""
    return parse_pools(load_yaml(path))


def parse_pools(doc: YamlDoc) -> tuple[Pool, ...]:
    if doc.data is None:
        return ()
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{doc.where(())}: expected a mapping of pool names to pools")
    pools = []
    for raw_name, body in doc.data.items():
        name = str(raw_name)
        if not isinstance(body, dict):
            raise ConfigError(
                f"{doc.where((raw_name,))}: pool {name!r}: expected a mapping of keys"
            )
        try:
            cfg = PoolConfig.model_validate(body)
        except ValidationError as e:
            err = e.errors()[0]
            loc = (raw_name, *err["loc"])
            key = ".".join(str(p) for p in err["loc"])
            raise ConfigError(f"{doc.where(loc)}: pool {name!r}: {key}: {err['msg']}") from e
        for key in cfg.model_extra or {}:
            log.warning(
                "%s: pool %r: unknown key %r ignored", doc.where((raw_name, key)), name, key
            )
        pools.append(cfg.to_pool(name))
    return tuple(pools)
