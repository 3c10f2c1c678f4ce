"""`lessor check-config`: what `lessor server` would say of its configuration, without starting.

It imports light: the checks load when the command runs, so that the
`lessor` command stays fast for everything else.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@click.command("check-config")
@click.option(
    "--pools",
    "pools_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="pools.yaml (default: the one server.yaml or the config directory names).",
)
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="server.yaml.")
@click.option(
    "--config-dir",
    envvar="CONFIG_DIR",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory with server.yaml and pools.yaml (resalloc layout; env CONFIG_DIR).",
)
def check_config(
    pools_file: Path | None, config_file: Path | None, config_dir: Path | None
) -> None:
    """Check pools.yaml, server.yaml and the hooks' programs as `lessor server` would.

    Nothing is started, written or connected to: run it before a restart or
    a reload. Errors and warnings go to stderr, one a line with file and
    line; the summary to stdout. Exit 0 when the server would start, 2 if not.
    """
    from lessor.config.startup import EXIT_CONFIG, ServerOptions, resolve

    if config_file is not None and config_dir is not None:
        raise click.UsageError("give --config FILE or --config-dir DIR, not both")
    startup = resolve(
        ServerOptions(config_file=config_file, config_dir=config_dir, pools=pools_file)
    )
    for error in startup.errors:
        click.echo(f"lessor: {error}", err=True)
    for warning in startup.warnings:
        click.echo(f"lessor: warning: {warning}", err=True)
    files = [str(p) for p in (config_file, startup.config.pools) if p is not None]
    if config_dir is not None and config_file is None and (config_dir / "server.yaml").exists():
        files.insert(0, str(config_dir / "server.yaml"))
    found = [_plural(len(startup.pools), "pool")] if not startup.errors else []
    if startup.errors:
        found.append(_plural(len(startup.errors), "error"))
    if startup.warnings:
        found.append(_plural(len(startup.warnings), "warning"))
    status = ", ".join(found) if startup.errors or startup.warnings else f"{found[0]}, OK"
    click.echo(f"{' and '.join(files) or 'no files'}: {status}")
    sys.exit(EXIT_CONFIG if startup.errors else 0)
