"""What `lessor server` settles before it starts; `lessor check-config` shares the first part.

Every mistake is said in one line naming the option, or the file and line,
it came from, with the value and what is expected — before the banner and
before any migration, never as a traceback. The order is the cheap checks
first: options and files (`resolve`), then directories (`prepare_directories`),
the listening socket (`listen`), and last the wait for PostgreSQL.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lessor.config.database import (
    DatabaseUnreachable,
    has_password,
    sqlite_file,
    sqlite_problem,
    url_problem,
    wait_for_database,
)
from lessor.config.pools import read_pools
from lessor.config.server import ServerConfig, read_server_config, resalloc_defaults
from lessor.config.tls import check_tls
from lessor.config.yamlfile import ConfigError
from lessor.domain.model import Pool

EXIT_CONFIG = 2
"""Wrong usage or configuration: an option, server.yaml, pools.yaml, a directory, the port."""
EXIT_DATABASE = 3
"""The database did not answer within --db-wait seconds."""

TOKEN_ENV = "LESSOR_SERVER_ADMIN_TOKEN"
DB_ENV = "LESSOR_DB"
AGENT_TOKEN_ENV = "LESSOR_SERVER_AGENT_TOKEN"
SECRETS_ENV = (TOKEN_ENV, DB_ENV, AGENT_TOKEN_ENV)
"""Read once at start and removed from the server's environment, so no hook inherits them."""


@dataclass(frozen=True)
class ServerOptions:
    """What `lessor server` was given on its command line and in its environment."""

    config_file: Path | None = None
    config_dir: Path | None = None
    pools: Path | None = None
    db_url: str | None = None
    db_url_source: str = "--db"
    """`--db` when it was typed on the command line, `LESSOR_DB` from the environment."""
    host: str | None = None
    port: int | None = None
    data_dir: Path | None = None
    sleeptime: float | None = None
    loglevel: str | None = None
    db_wait: float | None = None
    admin_token: str | None = None
    admin_token_source: str = TOKEN_ENV
    """`--admin-token` when it was typed on the command line (refused: `ps` shows it)."""
    admin_token_file: Path | None = None
    agent_silence: float | None = None
    agent_token: str | None = None
    agent_token_source: str = AGENT_TOKEN_ENV
    """`--agent-token` when it was typed on the command line (refused: `ps` shows it)."""


@dataclass(frozen=True)
class Startup:
    """The settings to start with, or the errors that prevent it, and the warnings."""

    config: ServerConfig
    pools: tuple[Pool, ...] = ()
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    where: Mapping[str, str] = field(default_factory=dict)
    """Where each setting came from, for messages: `--db`, `server.yaml:3: db_url`."""

    def label(self, key: str, default: str) -> str:
        return self.where.get(key, default)

    def checked(self) -> Startup:
        if self.errors:
            raise ConfigError(*self.errors)
        return self


def resolve(options: ServerOptions) -> Startup:
    """server.yaml, pools.yaml and the options merged and checked; nothing is written."""
    errors: list[str] = []
    warnings: list[str] = []
    errors += _secrets_on_argv(options)
    cfg, where = ServerConfig(), dict[str, str]()
    server_yaml = options.config_file
    in_layout = False  # resalloc's: a config directory with its server.yaml
    if server_yaml is None and options.config_dir is not None:
        server_yaml = options.config_dir / "server.yaml"
        in_layout = server_yaml.exists()
        if not in_layout:
            server_yaml = None
    if server_yaml is not None:
        read = read_server_config(server_yaml)
        cfg, where = read.config, dict(read.where)
        errors += read.errors
        warnings += read.warnings
    if cfg.pools is None and options.config_dir is not None:
        cfg = cfg.model_copy(update={"pools": options.config_dir / "pools.yaml"})
    overrides = {
        "pools": ("--pools", options.pools),
        "db_url": (options.db_url_source, options.db_url),
        "hostname": ("--host", options.host),
        "port": ("--port", options.port),
        "data_dir": ("--data-dir", options.data_dir),
        "sleeptime": ("--sleeptime", options.sleeptime),
        "agent_silence": ("--agent-silence", options.agent_silence),
        "loglevel": ("--log-level", options.loglevel),
        "db_wait": ("--db-wait", options.db_wait),
    }
    given = {key: value for key, (_, value) in overrides.items() if value is not None}
    cfg = cfg.model_copy(update=given)
    where.update({key: label for key, (label, value) in overrides.items() if value is not None})
    if in_layout:
        for key in ("logdir", "main_logfile"):
            where.setdefault(key, f"{key} (resalloc's default)")
        cfg = resalloc_defaults(cfg)
    tls_errors, tls_warnings = check_tls(cfg, where)
    errors += tls_errors
    warnings += tls_warnings

    token, token_errors, token_warnings = _admin_token(options, cfg, where)
    errors += token_errors
    warnings += token_warnings
    cfg = cfg.model_copy(update={"admin_token": token})
    if options.agent_token and options.agent_token_source == AGENT_TOKEN_ENV:
        cfg = cfg.model_copy(update={"agent_token": options.agent_token})

    problem = url_problem(cfg.resolved_db_url())
    if problem is not None:
        errors.append(f"{where.get('db_url', 'db_url')}: {problem}")

    pools: tuple[Pool, ...] = ()
    if cfg.pools is None:
        if not errors:  # not when server.yaml, which may name them, has errors
            errors.append("no pools: give --pools FILE, --config-dir DIR or pools: in server.yaml")
    else:
        read_p = read_pools(cfg.pools)
        pools = read_p.pools
        errors += read_p.errors
        warnings += read_p.warnings
    return Startup(cfg, pools, tuple(errors), tuple(warnings), where)


def _secrets_on_argv(options: ServerOptions) -> list[str]:
    """Every local user reads other users' command lines (`ps`, /proc/PID/cmdline)."""
    errors = []
    if options.admin_token_source == "--admin-token":
        errors.append(
            "--admin-token: a token on the command line is readable by every local user "
            "(ps); put it in a file and give --admin-token-file FILE (mode 0600), or set "
            f"{TOKEN_ENV} in the server's environment"
        )
    if options.agent_token_source == "--agent-token":
        errors.append(
            "--agent-token: a token on the command line is readable by every local user "
            f"(ps); set {AGENT_TOKEN_ENV} in the server's environment, or agent_token in "
            "server.yaml (mode 0600)"
        )
    db_url = options.db_url
    if db_url is not None and options.db_url_source == "--db" and has_password(db_url):
        errors.append(
            "--db: the URL holds a password, readable by every local user (ps); set "
            f"{DB_ENV}=URL in the server's environment instead, or leave the password "
            "out and keep it in PostgreSQL's ~/.pgpass (or the file PGPASSFILE names)"
        )
    return errors


def _admin_token(
    options: ServerOptions, cfg: ServerConfig, where: Mapping[str, str]
) -> tuple[str | None, list[str], list[str]]:
    """The admin token from one place: the environment, a file, or server.yaml.

    Returns the token, errors and warnings.
    """
    if options.admin_token_source == "--admin-token":
        return None, [], []  # refused already
    if options.admin_token and options.admin_token_file:
        return None, [f"both {TOKEN_ENV} and --admin-token-file are given; give one of them"], []
    if options.admin_token:
        return options.admin_token, [], []
    if options.admin_token_file is not None:
        return read_token_file(options.admin_token_file, "--admin-token-file")
    if cfg.admin_token_file is not None:
        label = where["admin_token_file"]
        if cfg.admin_token:
            return None, [f"{label}: admin_token is given too; keep one of them"], []
        return read_token_file(cfg.admin_token_file, label)
    return cfg.admin_token, [], []


def read_token_file(path: Path, label: str) -> tuple[str | None, list[str], list[str]]:
    """The token in `path` (surrounding blanks dropped); errors and warnings about the file."""
    try:
        token = path.read_text().strip()
        mode = path.stat().st_mode
    except OSError as e:
        return None, [f"{label} {path}: cannot read: {e.strerror}"], []
    except UnicodeDecodeError:
        return None, [f"{label} {path}: expected the token as text"], []
    if not token or len(token.split()) != 1:
        return None, [f"{label} {path}: expected the token alone on one line"], []
    warnings = []
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.append(
            f"{label} {path}: readable by other users (mode {stat.S_IMODE(mode):04o}); "
            f"chmod 600 {path}"
        )
    return token, [], warnings


def prepare_directories(startup: Startup) -> None:
    """The data directory made if missing; every directory the server writes checked.

    Only lessor's own data directory is created: for a database file or a
    log directory given explicitly, a missing directory is more likely a typo.
    """
    cfg = startup.config
    problems = []
    if cfg.db_url is None or cfg.logdir is None:  # the data directory is in use
        data = cfg.resolved_data_dir()
        default = "LESSOR_DATA_DIR" if os.environ.get("LESSOR_DATA_DIR") else "data directory"
        label = startup.label("data_dir", f"{default} (default; set --data-dir)")
        try:
            data.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            problems.append(f"{label} {data}: cannot create it: {e.strerror}")
        else:
            if not os.access(data, os.W_OK | os.X_OK):
                problems.append(f"{label} {data}: not writable by this user")
    database = sqlite_file(cfg.resolved_db_url())
    if database is not None and not problems:
        problem = sqlite_problem(database)
        if problem is not None:
            label = startup.label("db_url", "database (default)")
            problems.append(f"{label} {cfg.resolved_db_url()}: {problem}")
    if cfg.logdir is not None:
        problem = _creatable(cfg.logdir)
        if problem is not None:
            problems.append(f"{startup.label('logdir', 'logdir')} {cfg.logdir}: {problem}")
    if cfg.main_logfile is not None:
        problem = _creatable(cfg.main_logfile.parent)
        if problem is not None:
            label = startup.label("main_logfile", "main_logfile")
            problems.append(f"{label} {cfg.main_logfile}: {problem}")
    if problems:
        raise ConfigError(*problems)


def _creatable(path: Path) -> str | None:
    """None when the server can write in `path`, or create it."""
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable by this user"
    return None


def listen(startup: Startup) -> socket.socket:
    """The server's socket, bound and listening: a port in use is one line, before the banner."""
    cfg = startup.config
    label = f"{startup.label('port', '--port')} {cfg.port}"
    family = socket.AF_INET6 if ":" in cfg.hostname else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((cfg.hostname, cfg.port))
        sock.listen(2048)
    except socket.gaierror as e:
        sock.close()
        host = startup.label("hostname", "--host")
        raise ConfigError(
            f"{host} {cfg.hostname}: not an address of this machine: {e.strerror}"
        ) from None
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            why = "in use by another process (another lessor server?); stop it or choose another"
            raise ConfigError(f"{label}: {why} port") from None
        if e.errno == errno.EACCES:
            raise ConfigError(f"{label}: permission denied (ports below 1024 need root)") from None
        raise ConfigError(f"{label}: cannot listen on {cfg.hostname}: {e.strerror}") from None
    return sock


class StartupFailed(Exception):
    """The server cannot start; `problems` are its lines, `code` its exit status."""

    def __init__(self, code: int, problems: tuple[str, ...]) -> None:
        super().__init__("\n".join(problems))
        self.code = code
        self.problems = problems


@dataclass(frozen=True)
class Ready:
    startup: Startup
    sock: socket.socket
    """Bound and listening: requests queue from now on, served once the app runs."""


def settle(options: ServerOptions, say: Callable[[str], None]) -> Ready:
    """Everything `lessor server` checks before its banner, in order; StartupFailed says why not.

    Warnings go to `say` as they are found, and so do the notes while PostgreSQL
    is waited for. Nothing is migrated here.
    """
    startup = resolve(options)
    for warning in startup.warnings:
        say(f"warning: {warning}")
    try:
        startup.checked()
        prepare_directories(startup)
        sock = listen(startup)
    except ConfigError as e:
        raise StartupFailed(EXIT_CONFIG, e.problems) from None
    try:
        wait_for_database(startup.config.resolved_db_url(), startup.config.db_wait, say)
    except DatabaseUnreachable as e:
        sock.close()
        label = startup.label("db_url", "db_url")
        raise StartupFailed(EXIT_DATABASE, (f"{label}: {e}",)) from None
    return Ready(startup, sock)
