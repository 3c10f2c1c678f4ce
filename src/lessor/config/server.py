"""server.yaml and command-line settings of `lessor server`."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lessor.config.loglevels import LOG_LEVELS
from lessor.config.yamlfile import ConfigError, did_you_mean, load_yaml, problems

log = logging.getLogger(__name__)

DEFAULT_PORT = 49100
DEFAULT_DB_WAIT = 30.0
RESALLOC_LOGDIR = Path("/var/log/resallocserver")
"""resalloc's `logdir` default: its log rotation, merge-hook-logs cron and operators look there."""


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

    # resalloc ignores keys it does not know; so does lessor, with a warning (read_server_config).
    model_config = ConfigDict(extra="ignore")

    db_url: str | None = None
    db_wait: float = Field(default=DEFAULT_DB_WAIT, ge=0)
    """Seconds to keep trying PostgreSQL at start before giving up (lessor)."""
    logdir: Path | None = None
    data_dir: Path | None = None
    hostname: str = "localhost"
    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)
    loglevel: str = "info"
    sleeptime: float = Field(default=20.0, gt=0)
    pools: Path | None = None
    admin_token: str | None = None
    admin_token_file: Path | None = None
    """A file holding the admin token (lessor): no secret on a command line or in this file."""
    agent_token: str | None = None
    """The token `lessor agent` sends to register its host's providers (lessor)."""
    agent_silence: float = Field(default=60.0, gt=0)
    """Seconds without a heartbeat after which an agent's providers are down (lessor)."""
    host: str | None = None
    """resalloc's older spelling of `hostname`; `hostname` wins when both are set."""
    main_logfile: Path | None = None
    """resalloc's server log file; the server log goes there as well as to stderr."""
    xmlrpc: bool = True
    """Serve resalloc's XML-RPC (its clients, who carry no ticket key, may close any ticket
    by id, as in resalloc); false for a site whose clients all use lessor's API (lessor)."""
    xmlrpc_secret_data: bool = False
    """Give XML-RPC callers a secret_data pool's data (they cannot prove they hold the
    ticket); off unless the site accepts that (lessor)."""
    allowed_origins: list[str] = []
    """Origins (`https://ui.example.com`) besides the server's own whose pages may change
    state, e.g. the UI behind a proxy that rewrites Host (lessor)."""
    hook_env: list[str] = []
    """The server's environment variables every hook gets (names, or PREFIX*), besides the
    documented few (lessor; see docs/hooks.md)."""
    ssl_certfile: Path | None = None
    """resalloc's TLS: the server's certificate (PEM; its key too, unless ssl_keyfile). When
    set, the whole port speaks TLS: XML-RPC, the API and the web UI."""
    ssl_keyfile: Path | None = None
    ssl_clients: Path | None = None
    """resalloc's TLS: CA certificates (PEM); when set, every client must present a
    certificate they signed."""

    @field_validator("loglevel")
    @classmethod
    def _loglevel(cls, value: str) -> str:
        if value.lower() not in LOG_LEVELS:
            raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}, not {value!r}")
        return value.lower()

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


@dataclass(frozen=True)
class ServerFile:
    """server.yaml as read: its settings (the defaults if it has errors), its errors and
    warnings, and where each key was written."""

    config: ServerConfig
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    where: dict[str, str] = field(default_factory=dict)
    """`file:line: key` of each key given, for messages about its value."""


def read_server_config(path: Path) -> ServerFile:
    """server.yaml; relative `pools` and `admin_token_file` are relative to its directory."""
    try:
        doc = load_yaml(path)
    except ConfigError as e:
        return ServerFile(ServerConfig(), e.problems)
    data = doc.data or {}
    if not isinstance(data, dict):
        return ServerFile(ServerConfig(), (f"{doc.where(())}: expected a mapping of settings",))
    known = set(ServerConfig.model_fields)
    warnings = [
        f"{doc.where((str(key),))}: unknown key {key!r} ignored{did_you_mean(str(key), known)}"
        for key in data
        if key not in known
    ]
    for dup in doc.duplicates:
        if len(dup.at) == 1:
            lines = ", ".join(str(n) for n in dup.lines)
            warnings.append(
                f"{path}:{dup.lines[-1]}: {dup.at[0]} is given twice (lines {lines}): "
                "the last one counts"
            )
    try:
        cfg = ServerConfig.model_validate(data)
    except ValidationError as e:
        return ServerFile(ServerConfig(), tuple(problems(doc, e)), tuple(warnings))
    for key in ("pools", "admin_token_file", "ssl_certfile", "ssl_keyfile", "ssl_clients"):
        value = getattr(cfg, key)
        if value is not None and not value.is_absolute():
            cfg = cfg.model_copy(update={key: path.parent / value})
    where = {str(key): f"{doc.where((str(key),))}: {key}" for key in data}
    return ServerFile(cfg, (), tuple(warnings), where)


def load_server_config(path: Path) -> ServerConfig:
    """server.yaml's settings, its warnings logged; ConfigError naming file and line."""
    read = read_server_config(path)
    for warning in read.warnings:
        log.warning("%s", warning)
    if read.errors:
        raise ConfigError(*read.errors)
    return read.config


def resalloc_defaults(cfg: ServerConfig) -> ServerConfig:
    """resalloc's defaults for what the server.yaml of a resalloc config directory leaves out.

    The logs go where resalloc writes them, so that its log rotation, its
    hourly merge-hook-logs and the operators' habits find them:
    `/var/log/resallocserver/hooks/` and `main.log` beside it. A data
    directory given to lessor (`--data-dir`) keeps them in it instead, as
    without server.yaml; a `logdir` or `main_logfile` in the file wins.
    """
    logdir = cfg.logdir or (cfg.data_dir / "logs" if cfg.data_dir else RESALLOC_LOGDIR)
    main_logfile = cfg.main_logfile or logdir / "main.log"
    return cfg.model_copy(update={"logdir": logdir, "main_logfile": main_logfile})


def config_from_dir(config_dir: Path | None, **given: object) -> ServerConfig:
    """Settings from a resalloc-style directory's server.yaml; defaults without one.

    The maintenance and import commands find the server's database and logs
    this way, as resalloc-maint does from CONFIG_DIR. `given` are a command's
    options (None: not given); they override the file's settings, and
    resalloc's defaults fill in the rest (see resalloc_defaults).
    """
    in_layout = config_dir is not None and (config_dir / "server.yaml").exists()
    cfg = ServerConfig()
    if config_dir is not None and in_layout:
        cfg = load_server_config(config_dir / "server.yaml")
    cfg = cfg.model_copy(update={k: v for k, v in given.items() if v is not None})
    return resalloc_defaults(cfg) if in_layout else cfg
