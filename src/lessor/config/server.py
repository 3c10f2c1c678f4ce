"""server.yaml and command-line settings of `lessor server`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from lessor.config.yamlfile import ConfigError, load_yaml

DEFAULT_PORT = 49100


def default_data_dir() -> Path:
    """Where the embedded SQLite database and hook logs live unless told otherwise."""
    env = os.environ.get("LESSOR_DATA_DIR")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/lessor")
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "lessor"


class ServerConfig(BaseModel):
    """Settings; key names follow resalloc's server.yaml where it has one."""

    model_config = ConfigDict(extra="forbid")

    db_url: str | None = None
    logdir: Path | None = None
    data_dir: Path | None = None
    hostname: str = "localhost"
    port: int = DEFAULT_PORT
    loglevel: str = "info"
    sleeptime: float = 20.0
    pools: Path | None = None
    admin_token: str | None = None
    host: str | None = None
    """resalloc's older spelling of `hostname`; `hostname` wins when both are set."""
    main_logfile: Path | None = None
    """resalloc's server log file; the server log goes there as well as to stderr."""

    @model_validator(mode="before")
    @classmethod
    def _host(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("host") and not data.get("hostname"):
            return {**data, "hostname": data["host"]}
        return data

    def resolved_data_dir(self) -> Path:
        return self.data_dir or default_data_dir()

    def resolved_db_url(self) -> str:
        return self.db_url or f"sqlite:///{self.resolved_data_dir() / 'lessor.sqlite'}"

    def resolved_logdir(self) -> Path:
        return self.logdir or self.resolved_data_dir() / "logs"


def load_server_config(path: Path) -> ServerConfig:
    doc = load_yaml(path)
    data = doc.data or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{doc.where(())}: expected a mapping of settings")
    try:
        cfg = ServerConfig.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{doc.where(tuple(err['loc']))}: {key}: {err['msg']}") from e
    if cfg.pools is not None and not cfg.pools.is_absolute():
        cfg = cfg.model_copy(update={"pools": path.parent / cfg.pools})
    return cfg


def config_from_dir(config_dir: Path | None) -> ServerConfig:
    """Settings from a resalloc-style directory's server.yaml; defaults without one.

    The maintenance and import commands find the server's database and logs
    this way, as resalloc-maint does from CONFIG_DIR.
    """
    if config_dir is not None and (config_dir / "server.yaml").exists():
        return load_server_config(config_dir / "server.yaml")
    return ServerConfig()
