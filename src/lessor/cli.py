"""`lessor`: the one command. Client commands are light; the server and hw load on demand."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from lessor import __version__
from lessor.client import cli as client_cli


@click.group(epilog=client_cli.EXIT_CODES, context_settings={"help_option_names": ["-h", "--help"]})
@client_cli.server_options
@click.version_option(__version__, prog_name="lessor")
@click.pass_context
def main(ctx: click.Context, server: str | None, admin_token: str | None) -> None:
    """lessor allocates expensive resources: ask with a ticket, get a ready one."""
    ctx.obj = client_cli.Ctx(server, admin_token)


client_cli.register(main)


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

    from lessor.api.app import Settings, create_app
    from lessor.config.server import ServerConfig

    assert isinstance(cfg, ServerConfig)
    level = cfg.loglevel.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings(
        db_url=cfg.resolved_db_url(),
        pools=pools,  # type: ignore[arg-type]
        logdir=cfg.resolved_logdir(),
        admin_token=cfg.admin_token,
        sleeptime=cfg.sleeptime,
        retry_base=float(os.environ.get("LESSOR_DELETE_RETRY_BASE", "10")),
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
    uvicorn.run(
        create_app(settings),
        host=cfg.hostname,
        port=cfg.port,
        # asyncio's own loop: its subprocesses close inherited descriptors,
        # so a VM started by cmd_new never holds our listening socket.
        loop="asyncio",
        log_level=cfg.loglevel.lower(),
        access_log=cfg.loglevel.lower() == "debug",
    )


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    main()
