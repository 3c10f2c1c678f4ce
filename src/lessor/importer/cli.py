"""`lessor import-resalloc`: take over a resalloc server's database, VMs and tickets alive."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

if TYPE_CHECKING:
    from lessor.importer.resalloc import Takeover


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"lessor import-resalloc: {message}", err=True)
    sys.exit(code)


@click.command("import-resalloc")
@click.option(
    "--from",
    "source",
    required=True,
    metavar="URL",
    help="resalloc's database (its server.yaml db_url), e.g. postgresql://resalloc@/resalloc.",
)
@click.option(
    "--config-dir",
    envvar="CONFIG_DIR",
    type=click.Path(path_type=Path, file_okay=False),
    help="lessor's config directory: server.yaml names the database to fill (env CONFIG_DIR).",
)
@click.option("--db", "db_url", metavar="URL", help="lessor's database, overriding server.yaml.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="lessor server's --data-dir.")
@click.option(
    "--pools",
    "pools_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="pools.yaml to check the pools against (default: the config directory's).",
)
@click.option("--dry-run", is_flag=True, help="Show what would be taken over; write nothing.")
def import_resalloc(
    source: str,
    config_dir: Path | None,
    db_url: str | None,
    data_dir: Path | None,
    pools_file: Path | None,
    dry_run: bool,
) -> None:
    """Take over a stopped resalloc server's live resources and open tickets.

    Run it after stopping resalloc-server and before starting lessor server on
    a new, empty database. Running VMs keep their names, data, ids and
    counters: no cmd_new runs for them, and clients keep their ticket ids.
    """
    from lessor.config.pools import load_pools
    from lessor.config.server import config_from_dir
    from lessor.config.yamlfile import ConfigError
    from lessor.importer.resalloc import NotImportable, read_resalloc

    try:
        cfg = config_from_dir(config_dir)
        if pools_file is None and config_dir is not None and (config_dir / "pools.yaml").exists():
            pools_file = config_dir / "pools.yaml"
        pools = load_pools(pools_file) if pools_file is not None else None
    except ConfigError as e:
        _fail(str(e), 2)
    updates = {"db_url": db_url, "data_dir": data_dir}
    cfg = cfg.model_copy(update={k: v for k, v in updates.items() if v is not None})

    try:
        takeover = read_resalloc(_read_only(source))
    except NotImportable as e:
        _fail(str(e))
    if pools is not None:
        configured = {p.name for p in pools}
        strays = sorted({r.pool for r in takeover.resources if r.pool not in configured})
        if strays:
            takeover.notes.append(
                f"pools {', '.join(strays)} are not in {pools_file}: lessor leaves their "
                "resources alone until they are configured again"
            )
    for line in _summary(takeover):
        click.echo(line)
    if dry_run:
        click.echo("dry run: nothing written")
        return
    _write(cfg.resolved_db_url(), takeover)
    click.echo(f"written to {_safe(cfg.resolved_db_url())}; now start lessor server")


def _read_only(url: str) -> str:
    """resalloc's database, opened so that reading it can never create or change it.

    SQLite would otherwise create an empty file for a mistyped path, and a dry
    run would leave a database behind where there was none.
    """
    from urllib.parse import quote

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return url  # read_resalloc names the bad URL
    if parsed.get_backend_name() != "sqlite" or parsed.query.get("uri"):
        return url
    path = Path(parsed.database or "")
    if not parsed.database or not path.is_file():
        _fail(f"--from {url}: no such file {path}; give the resalloc database to read", 2)
    uri = f"file:{quote(str(path.absolute()))}"
    return parsed.set(
        database=uri, query={**parsed.query, "mode": "ro", "uri": "true"}
    ).render_as_string(hide_password=False)


def _write(url: str, takeover: Takeover) -> None:
    import sqlalchemy as sa

    from lessor.server import build

    try:
        parts = build(url, ())
    except (sa.exc.SQLAlchemyError, ValueError) as e:
        _fail(f"cannot open lessor's database {_safe(url)}: {str(e).splitlines()[0]}")
    try:
        if not parts.store.is_empty():
            _fail(
                f"lessor's database {_safe(url)} already has tickets or resources; "
                "import into a new, empty database"
            )
        parts.store.adopt(takeover.tickets, takeover.resources)
    finally:
        parts.close()


def _summary(takeover: Takeover) -> list[str]:
    from collections import Counter

    def counts(states: list[str]) -> str:
        return ", ".join(f"{n} {s}" for s, n in sorted(Counter(states).items())) or "none"

    lines = [
        f"resources: {counts([str(r.state) for r in takeover.resources])}",
        f"tickets: {counts([str(t.state) for t in takeover.tickets])}",
    ]
    return lines + [f"note: {note}" for note in takeover.notes]


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url
