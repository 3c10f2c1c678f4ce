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
    list_period: float = Field(
        1800, gt=0, description="seconds between cmd_list runs (lessor; resalloc: 30 minutes)"
    )
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
    # Policy keys of lessor (resalloc has none of them; its files simply lack them).
    priority: int = Field(
        0, description="higher is cheaper: its resources are handed out and started first (lessor)"
    )
    idle_time: float = Field(
        600, ge=0, description="seconds a spare beyond max_prealloc may stay unused (lessor)"
    )
    livecheck_timeout: float = Field(
        600, gt=0, description="seconds before cmd_livecheck is killed, a failure (lessor)"
    )
    secret_data: bool = Field(
        False, description="never show resource data in listings or the web UI (lessor)"
    )
    start_backoff: float = Field(
        5, ge=0, description="seconds of pause after a failed cmd_new, doubling (lessor)"
    )
    start_backoff_max: float = Field(300, ge=0, description="the longest such pause (lessor)")
    delete_backoff: float = Field(
        10, ge=0, description="seconds before a failed cmd_delete is retried, doubling (lessor)"
    )
    delete_backoff_max: float = Field(3600, ge=0, description="the longest such wait (lessor)")

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
            list_period=self.list_period,
            livecheck_period=self.livecheck_period,
            livecheck_attempts=self.livecheck_attempts,
            reuse_opportunity_time=self.reuse_opportunity_time,
            reuse_max_count=self.reuse_max_count,
            reuse_max_time=self.reuse_max_time,
            hook_timeout=self.hook_timeout,
            priority=self.priority,
            idle_time=self.idle_time,
            livecheck_timeout=self.livecheck_timeout,
            name_pattern=self.name_pattern,
            description=self.description,
            secret_data=self.secret_data,
            start_backoff=self.start_backoff,
            start_backoff_max=self.start_backoff_max,
            delete_backoff=self.delete_backoff,
            delete_backoff_max=self.delete_backoff_max,
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
    _check_on_demand_tags(doc, pools)
    return tuple(pools)


def _check_on_demand_tags(doc: YamlDoc, pools: list[Pool]) -> None:
    """A tag is on-demand everywhere or nowhere (resalloc refuses such a config too).

    A ticket asking for an on-demand tag must start a resource for itself;
    if some pool also offered the tag as a normal, preallocated one, whether
    a resource gets started would depend on which pool the ticket meets.
    """
    on_demand = {t.name: p.name for p in pools for t in p.tags_on_demand}
    for p in pools:
        for index, tag in enumerate(p.tags):
            if tag.name in on_demand:
                raise ConfigError(
                    f"{doc.where((p.name, 'tags', index))}: pool {p.name!r}: tag {tag.name!r} "
                    f"is an on-demand tag of pool {on_demand[tag.name]!r}; a tag may not be "
                    "both a normal and an on-demand tag (move it to tags_on_demand here, "
                    "or to tags there)"
                )
