"""`lessor`: the one command. Client commands are light; the server and hw load on demand."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lessor import __version__
from lessor.client import cli as client_cli
from lessor.config.loglevels import LOG_LEVELS

if TYPE_CHECKING:
    from lessor.config.startup import Ready
    from lessor.domain.model import Pool
    from lessor.server import Server


@click.group(epilog=client_cli.EXIT_CODES, context_settings={"help_option_names": ["-h", "--help"]})
@client_cli.server_options
@click.version_option(__version__, prog_name="lessor")
@click.pass_context
def main(ctx: click.Context, server: str | None, admin_token: str | None) -> None:
    """lessor allocates expensive resources: ask with a ticket, get a ready one."""
    ctx.obj = client_cli.Ctx(server, admin_token)


client_cli.register(main)


def _register_admin_commands() -> None:
    """resalloc-maint's commands, the resalloc import, check-config; their modules import light.

    SQLAlchemy and the rest load inside the commands, so client commands stay fast.
    """
    from lessor.config.check import check_config
    from lessor.importer.cli import import_resalloc
    from lessor.maint.cli import maint

    main.add_command(maint)
    main.add_command(import_resalloc)
    main.add_command(check_config)


_register_admin_commands()


def _register_simulate() -> None:
    """The policy simulator; like the admin commands, it loads its heavy parts when run."""
    from lessor.sim.cli import simulate

    main.add_command(simulate)


_register_simulate()


def _register_agent() -> None:
    """`lessor agent`: psutil, httpx and the sysfs reader load when it runs."""
    from lessor.agent.cli import agent

    main.add_command(agent)


_register_agent()


def _register_hw() -> None:
    """`lessor --server URL hw …` (`lessor hw …` itself is dispatched by lessor.entry)."""
    from lessor.hw.cli import hw

    main.add_command(hw)


_register_hw()


SERVER_EXIT_CODES = """
\b
Exit codes:
  0  stopped normally
  2  wrong usage or configuration: an option, server.yaml, pools.yaml, a hook
     program, a directory, the port (one line on stderr says which and why)
  3  the database did not answer within --db-wait seconds
"""


@main.command(epilog=SERVER_EXIT_CODES)
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="server.yaml.")
@click.option(
    "--config-dir",
    envvar="CONFIG_DIR",
    type=click.Path(path_type=Path),
    help="Directory with server.yaml and pools.yaml (resalloc layout; env CONFIG_DIR).",
)
@click.option("--pools", "pools_file", type=click.Path(path_type=Path), help="pools.yaml.")
@click.option(
    "--db",
    "db_url",
    envvar="LESSOR_DB",
    metavar="URL",
    help="sqlite:///FILE or postgresql://USER@HOST/DB (env LESSOR_DB; a password goes "
    "there or in ~/.pgpass, never on the command line).",
)
@click.option(
    "--db-wait",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="How long to keep trying PostgreSQL at start (default 30).",
)
@click.option("--host", help="Address to listen on (default localhost).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default 49100).")
@click.option(
    "--data-dir", type=click.Path(path_type=Path), help="Where the SQLite DB and logs go."
)
@click.option(
    "--admin-token-file",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="FILE",
    help="File holding the token admin requests must present (or env LESSOR_SERVER_ADMIN_TOKEN).",
)
@click.option(
    # Only its environment variable is accepted: on a command line, `ps` shows it to all.
    "--admin-token",
    "server_admin_token",
    envvar="LESSOR_SERVER_ADMIN_TOKEN",
    hidden=True,
    help="Refused on the command line (every local user reads it in ps): "
    "use --admin-token-file or LESSOR_SERVER_ADMIN_TOKEN.",
)
@click.option(
    "--agent-token",
    "server_agent_token",
    envvar="LESSOR_SERVER_AGENT_TOKEN",
    hidden=True,
    help="The token `lessor agent` presents; only from LESSOR_SERVER_AGENT_TOKEN or "
    "server.yaml's agent_token (on a command line every local user reads it in ps).",
)
@click.option(
    "--agent-silence",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="An agent silent this long is down: nothing is placed on its host (default 60).",
)
@click.option(
    "--sleeptime",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds between periodic passes (default 20).",
)
@click.option(
    "--log-level",
    "loglevel",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    help="How much the server logs (default info).",
)
@click.pass_context
def server(
    ctx: click.Context,
    config_file: Path | None,
    config_dir: Path | None,
    pools_file: Path | None,
    db_url: str | None,
    db_wait: float | None,
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    admin_token_file: Path | None,
    server_admin_token: str | None,
    server_agent_token: str | None,
    agent_silence: float | None,
    sleeptime: float | None,
    loglevel: str | None,
) -> None:
    """Run the lessor server: API, reconciler and hooks."""
    from lessor.config.startup import SECRETS_ENV, ServerOptions, StartupFailed, settle

    def on_argv(param: str) -> bool:
        return ctx.get_parameter_source(param) is click.core.ParameterSource.COMMANDLINE

    options = ServerOptions(
        config_file=config_file,
        config_dir=config_dir,
        pools=pools_file,
        db_url=db_url,
        db_url_source="--db" if on_argv("db_url") else "LESSOR_DB",
        host=host,
        port=port,
        data_dir=data_dir,
        sleeptime=sleeptime,
        loglevel=loglevel,
        db_wait=db_wait,
        admin_token=server_admin_token,
        admin_token_source=(
            "--admin-token" if on_argv("server_admin_token") else "LESSOR_SERVER_ADMIN_TOKEN"
        ),
        admin_token_file=admin_token_file,
        agent_silence=agent_silence,
        agent_token=server_agent_token,
        agent_token_source=(
            "--agent-token" if on_argv("server_agent_token") else "LESSOR_SERVER_AGENT_TOKEN"
        ),
    )
    for name in SECRETS_ENV:  # read: no hook inherits them
        os.environ.pop(name, None)
    try:
        ready = settle(options, say=_say)
    except StartupFailed as e:
        for line in e.problems:
            _say(line)
        sys.exit(e.code)
    _serve(ready)


def _say(line: str) -> None:
    click.echo(f"lessor: {line}", err=True)


def _serve(ready: Ready) -> None:
    import uvicorn

    from lessor.api import limits
    from lessor.api.fastlane import FastLane
    from lessor.config.database import safe_url
    from lessor.config.startup import EXIT_CONFIG
    from lessor.config.tls import tls_of
    from lessor.server import LogdirTaken, Server, Settings
    from lessor.service.core import Access

    cfg = ready.startup.config
    level = cfg.loglevel.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if cfg.main_logfile is not None:  # resalloc's server.yaml: where its log rotation looks
        cfg.main_logfile.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(cfg.main_logfile)
        to_file.setFormatter(logging.getLogger().handlers[0].formatter)
        logging.getLogger().addHandler(to_file)
    settings = Settings(
        db_url=cfg.resolved_db_url(),
        pools=ready.startup.pools,
        logdir=cfg.resolved_logdir(),
        admin_token=cfg.admin_token,
        agent_token=cfg.agent_token,
        agent_silence=cfg.agent_silence,
        sleeptime=cfg.sleeptime,
        pools_loader=_pools_loader(cfg.pools),
        hook_env=(*cfg.hook_env, *os.environ.get("LESSOR_HOOK_ENV", "").split()),
        allowed_origins=tuple(cfg.allowed_origins),
        access=Access(resalloc_xmlrpc=cfg.xmlrpc, resalloc_secrets=cfg.xmlrpc_secret_data),
        pools_file=cfg.pools,
    )
    # Request threads mostly wait on the database; with Python's default 5 ms
    # switch interval each one queues behind a busy reconciler pass for up to
    # 5 ms per hand-over, which dominated ticket latency.
    sys.setswitchinterval(0.0005)
    try:
        server = Server(settings, safe_url(settings.db_url))
    except LogdirTaken as e:
        _say(str(e))
        sys.exit(EXIT_CONFIG)
    tls = tls_of(cfg)
    url = f"{'https' if tls else 'http'}://{cfg.hostname}:{cfg.port}"
    admin = "admin token set" if cfg.admin_token else "no admin token: admin requests refused"
    count = len(settings.pools)
    logs = f"hook logs: {settings.logdir}/hooks"
    if cfg.main_logfile is not None:
        logs += f"   server log: {cfg.main_logfile}"
    secured = ""
    if tls is not None:
        secured = "\n  TLS: " + (
            f"client certificates signed by {tls.clients} required"
            if tls.clients
            else "any client (no ssl_clients)"
        )
    click.echo(
        f"lessor {__version__}: {count} pool{'s' if count != 1 else ''}, "
        f"database {safe_url(settings.db_url)}, {admin}\n"
        f"  web UI: {url}/   API docs: {url}/docs   {logs}{secured}",
        err=True,
    )
    _reload_on_sighup(server)
    config = uvicorn.Config(
        FastLane(server.app),  # opening and closing tickets past FastAPI's machinery
        host=cfg.hostname,
        port=cfg.port,
        # asyncio's own loop: its subprocesses close inherited descriptors,
        # so a VM started by cmd_new never holds our listening socket.
        loop="asyncio",
        log_level=cfg.loglevel.lower(),
        access_log=cfg.loglevel.lower() == "debug",
        # Long-polls (waitTicket, ?wait=) would otherwise hold a stop for as
        # long as their tickets wait; their clients simply ask again.
        timeout_graceful_shutdown=2,
        # headers bounded, a request read within a deadline (api/limits.py)
        http=limits.Http,
        timeout_keep_alive=limits.KEEP_ALIVE,
        **(tls.uvicorn_options() if tls else {}),
    )
    # The socket was bound before the banner: a port in use was one line, not a traceback.
    _uvicorn_server()(config, on_exit=server.stopping).run(sockets=[ready.sock])


def _uvicorn_server() -> type:
    import uvicorn

    class Stopping(uvicorn.Server):
        """uvicorn's server, telling lessor's waiters first when asked to stop: a long-poll
        then answers the ticket as it is, and a stop waits for no waiting client."""

        def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
            super().__init__(config)
            self.on_exit = on_exit

        def handle_exit(self, sig: int, frame: object) -> None:
            self.on_exit()
            super().handle_exit(sig, frame)  # type: ignore[arg-type]

    return Stopping


def _pools_loader(path: Path | None) -> Callable[[], tuple[Pool, ...]] | None:
    from lessor.config.pools import load_pools

    return None if path is None else lambda: load_pools(path)


def _reload_on_sighup(server: Server) -> None:
    """SIGHUP rereads pools.yaml, as daemons do; off the handler, which must return at once."""
    import signal

    signal.signal(signal.SIGHUP, lambda signum, frame: server.reload_in_background())


if __name__ == "__main__":
    main()
