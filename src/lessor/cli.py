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

if TYPE_CHECKING:
    from fastapi import FastAPI

    from lessor.domain.model import Pool


@click.group(epilog=client_cli.EXIT_CODES, context_settings={"help_option_names": ["-h", "--help"]})
@client_cli.server_options
@click.version_option(__version__, prog_name="lessor")
@click.pass_context
def main(ctx: click.Context, server: str | None, admin_token: str | None) -> None:
    """lessor allocates expensive resources: ask with a ticket, get a ready one."""
    ctx.obj = client_cli.Ctx(server, admin_token)


client_cli.register(main)


def _register_admin_commands() -> None:
    """resalloc-maint's commands and the resalloc import; their modules import light.

    SQLAlchemy and the rest load inside the commands, so client commands stay fast.
    """
    from lessor.importer.cli import import_resalloc
    from lessor.maint.cli import maint

    main.add_command(maint)
    main.add_command(import_resalloc)


_register_admin_commands()


def _register_simulate() -> None:
    """The policy simulator; like the admin commands, it loads its heavy parts when run."""
    from lessor.sim.cli import simulate

    main.add_command(simulate)


_register_simulate()


@main.command(
    context_settings={
        "ignore_unknown_options": True,
        "allow_extra_args": True,
        "help_option_names": [],
    },
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def hw(ctx: click.Context, args: tuple[str, ...]) -> None:
    """Reserve CPU cores and NICs for a command (lessor hw --help).

    `lessor hw …` itself never gets here (lessor.entry runs it without
    click); `lessor --server URL hw …` does, and then means that server.
    LESSOR_SERVER alone does not: local mode stays the default (see docs/hw.md).
    """
    from lessor.hw.cli import main as hw_main

    # click eats the `--` that separates our options from the command; take
    # the arguments exactly as typed instead.
    raw = sys.argv[sys.argv.index("hw") + 1 :] if "hw" in sys.argv else list(args)
    group = ctx.parent
    if (
        group is not None
        and group.get_parameter_source("server") is click.core.ParameterSource.COMMANDLINE
        and "--server" not in raw
    ):
        raw = ["--server", str(group.params["server"]), *raw]
    sys.exit(hw_main(raw))


@main.command()
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="server.yaml.")
@click.option(
    "--config-dir",
    envvar="CONFIG_DIR",
    type=click.Path(path_type=Path),
    help="Directory with server.yaml and pools.yaml (resalloc layout; env CONFIG_DIR).",
)
@click.option("--pools", "pools_file", type=click.Path(path_type=Path), help="pools.yaml.")
@click.option("--db", "db_url", metavar="URL", help="sqlite:///FILE or postgresql://…")
@click.option("--host", help="Address to listen on (default localhost).")
@click.option("--port", type=int, help="Port (default 49100).")
@click.option(
    "--data-dir", type=click.Path(path_type=Path), help="Where the SQLite DB and logs go."
)
@click.option(
    "--admin-token",
    "server_admin_token",
    envvar="LESSOR_SERVER_ADMIN_TOKEN",
    help="Token that admin requests must present (env LESSOR_SERVER_ADMIN_TOKEN).",
)
@click.option("--sleeptime", type=float, help="Seconds between periodic passes (default 20).")
@click.option("--log-level", "loglevel", help="debug, info, warning, error.")
def server(
    config_file: Path | None,
    config_dir: Path | None,
    pools_file: Path | None,
    db_url: str | None,
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    server_admin_token: str | None,
    sleeptime: float | None,
    loglevel: str | None,
) -> None:
    """Run the lessor server: API, reconciler and hooks."""
    from lessor.config.pools import load_pools
    from lessor.config.server import ServerConfig, load_server_config
    from lessor.config.yamlfile import ConfigError

    try:
        cfg = ServerConfig()
        if config_dir is not None:
            if (config_dir / "server.yaml").exists():
                cfg = load_server_config(config_dir / "server.yaml")
            if cfg.pools is None:
                cfg = cfg.model_copy(update={"pools": config_dir / "pools.yaml"})
        if config_file is not None:
            cfg = load_server_config(config_file)
        overrides = {
            "pools": pools_file,
            "db_url": db_url,
            "hostname": host,
            "port": port,
            "data_dir": data_dir,
            "admin_token": server_admin_token,
            "sleeptime": sleeptime,
            "loglevel": loglevel,
        }
        cfg = cfg.model_copy(update={k: v for k, v in overrides.items() if v is not None})
        if cfg.pools is None:
            raise ConfigError(
                "no pools: give --pools FILE, --config-dir DIR or pools: in server.yaml"
            )
        pools = load_pools(cfg.pools)
    except ConfigError as e:
        click.echo(f"lessor: {e}", err=True)
        sys.exit(2)
    _serve(cfg, pools)


def _serve(cfg: object, pools: object) -> None:
    import uvicorn

    from lessor.api import limits
    from lessor.api.app import Settings, create_app
    from lessor.api.fastlane import FastLane
    from lessor.config.server import ServerConfig

    assert isinstance(cfg, ServerConfig)
    level = cfg.loglevel.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if cfg.main_logfile is not None:  # resalloc's server.yaml: where its log rotation looks
        cfg.main_logfile.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(cfg.main_logfile)
        to_file.setFormatter(logging.getLogger().handlers[0].formatter)
        logging.getLogger().addHandler(to_file)
    settings = Settings(
        db_url=cfg.resolved_db_url(),
        pools=pools,  # type: ignore[arg-type]
        logdir=cfg.resolved_logdir(),
        admin_token=cfg.admin_token,
        sleeptime=cfg.sleeptime,
        retry_base=float(os.environ.get("LESSOR_DELETE_RETRY_BASE", "10")),
        pools_loader=_pools_loader(cfg.pools),
    )
    # Request threads mostly wait on the database; with Python's default 5 ms
    # switch interval each one queues behind a busy reconciler pass for up to
    # 5 ms per hand-over, which dominated ticket latency.
    sys.setswitchinterval(0.0005)
    url = f"http://{cfg.hostname}:{cfg.port}"
    click.echo(
        f"lessor {__version__}: {len(settings.pools)} pools, database {_safe(settings.db_url)}\n"
        f"  API docs: {url}/docs   hook logs: {settings.logdir}/hooks",
        err=True,
    )
    app = create_app(settings)
    _reload_on_sighup(app)
    uvicorn.run(
        FastLane(app),  # opening and closing tickets past FastAPI's machinery
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
    )


def _pools_loader(path: Path | None) -> Callable[[], tuple[Pool, ...]] | None:
    from lessor.config.pools import load_pools

    return None if path is None else lambda: load_pools(path)


def _reload_on_sighup(app: FastAPI) -> None:
    """SIGHUP rereads pools.yaml, as daemons do; off the handler, which must return at once."""
    import signal
    import threading

    def on_hup(signum: int, frame: object) -> None:
        service = getattr(app.state, "service", None)
        if service is not None:
            threading.Thread(target=service.reload_in_background, daemon=True).start()

    signal.signal(signal.SIGHUP, on_hup)


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    main()
