"""`lessor maint …`: resalloc-maint's commands, reading the database the server uses.

Like resalloc-maint, these find the database (and the hook logs) from
CONFIG_DIR's server.yaml and work on it directly, so they need no running
server and no admin token: whoever can read server.yaml is an admin. A
deletion requested here is carried out by the server's next pass (within
its `sleeptime`).

Heavy imports (SQLAlchemy, pydantic) happen inside the commands, so that the
`lessor` client commands start as fast as before.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

if TYPE_CHECKING:
    from lessor.domain.model import Resource
    from lessor.server import Parts
    from lessor.service.core import LessorService

EXIT_FAILED = 1
EXIT_USAGE = 2


@dataclass
class MaintCtx:
    config_dir: Path | None
    db_url: str | None
    data_dir: Path | None
    _parts: Parts | None = None

    def settings(self) -> tuple[str, Path]:
        """The database URL and the log directory of the server."""
        from lessor.config.server import config_from_dir
        from lessor.config.yamlfile import ConfigError

        try:
            cfg = config_from_dir(self.config_dir, db_url=self.db_url, data_dir=self.data_dir)
        except ConfigError as e:
            _fail(str(e), EXIT_USAGE)
        return cfg.resolved_db_url(), cfg.resolved_logdir()

    def parts(self) -> Parts:
        if self._parts is None:
            self._parts = _open(self.settings()[0])
        return self._parts

    def service(self) -> LessorService:
        return self.parts().service


def _fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    click.echo(f"lessor maint: {message}", err=True)
    sys.exit(code)


def _open(url: str) -> Parts:
    """The server's database as it is: never created or migrated from here."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from lessor.server import build

    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        _fail(f"not a database URL: {url!r}", EXIT_USAGE)
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
        _fail(
            f"no lessor database at {shown}; give --config-dir (or CONFIG_DIR) with the "
            "server's server.yaml, or --db URL"
        )
    try:
        parts = build(url, (), migrate=False)
        parts.store.list_tickets([])
    except (sa.exc.SQLAlchemyError, ValueError) as e:
        _fail(f"cannot read the lessor database at {shown}: {str(e).splitlines()[0]}")
    return parts


def _lookup(service: LessorService, key: str) -> Resource:
    """A resource by id or by name, as resalloc-maint accepts both."""
    from lessor.service.errors import NotFound

    if key.isdigit():
        try:
            return service.get_resource(int(key))
        except NotFound:
            pass
    else:
        found = service.store.resource_by_name(key)
        if found is not None:
            return found
    _fail(f"no resource {key!r}")


def _failed_with(service: LessorService, r: Resource) -> bool:
    """Whether the ticket a resource no longer held still names failed with it."""
    from lessor.domain.states import ResourceState, TicketState

    if r.ticket_id is None or r.state is ResourceState.TAKEN:
        return False
    ticket = service.store.get_ticket(r.ticket_id)
    return ticket is not None and ticket.state is TicketState.FAILED


@click.group()
@click.option(
    "--config-dir",
    envvar="CONFIG_DIR",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory with the server's server.yaml (env CONFIG_DIR, as resalloc-maint).",
)
@click.option(
    "--db", "db_url", metavar="URL", help="The server's database, overriding server.yaml."
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    help="The server's --data-dir, when server.yaml names no db_url or logdir.",
)
@click.pass_context
def maint(
    ctx: click.Context, config_dir: Path | None, db_url: str | None, data_dir: Path | None
) -> None:
    """Administer resources and tickets (resalloc-maint's commands and output)."""
    ctx.obj = MaintCtx(config_dir, db_url, data_dir)


@maint.command("resource-list")
@click.option("--up", is_flag=True, help="Only resources that are up (free or taken).")
@click.pass_obj
def resource_list(obj: MaintCtx, up: bool) -> None:
    """List live resources: `ID - NAME pool=… tags=… status=… releases=… ticket=…`."""
    from lessor.domain.states import LIVE_RESOURCE_STATES, ResourceState
    from lessor.maint.lines import resource_line

    states = [ResourceState.UP, ResourceState.TAKEN] if up else list(LIVE_RESOURCE_STATES)
    service = obj.service()
    for r in service.list_resources(states):
        click.echo(resource_line(r, _failed_with(service, r)))


@maint.command("ticket-list")
@click.pass_obj
def ticket_list(obj: MaintCtx) -> None:
    """List tickets not yet closed: `ID - state=… tags=…[ resource=NAME]`."""
    from lessor.domain.states import TicketState
    from lessor.maint.lines import ticket_line

    service = obj.service()
    states: list[TicketState] = [s for s in TicketState if s is not TicketState.CLOSED]
    for t in service.list_tickets(states):
        name = None
        if t.resource_id is not None:
            held = service.store.get_resource(t.resource_id)
            name = held.name if held else None
        click.echo(ticket_line(t, name))


@maint.command("resource-info")
@click.argument("resource")
@click.pass_obj
def resource_info(obj: MaintCtx, resource: str) -> None:
    """Print a resource (by ID or NAME) as JSON."""
    from lessor.maint.lines import resource_info as render

    service = obj.service()
    found = _lookup(service, resource)
    click.echo(render(found, _failed_with(service, found)))


@maint.command("resource-delete")
@click.argument("resources", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Delete every live resource.")
@click.option("--unused", is_flag=True, help="Delete the resources no ticket holds.")
@click.pass_obj
def resource_delete(
    obj: MaintCtx, resources: tuple[str, ...], everything: bool, unused: bool
) -> None:
    """Have resources (IDs or NAMEs) deleted by cmd_delete."""
    from lessor.domain.states import LIVE_RESOURCE_STATES, ResourceState
    from lessor.service.errors import ServiceError

    if not (resources or everything or unused):
        _fail("give resource IDs or names, --all or --unused", EXIT_USAGE)
    parts = obj.parts()
    service = parts.service
    chosen = [_lookup(service, key) for key in resources]
    if everything:
        chosen += service.list_resources(list(LIVE_RESOURCE_STATES))
    elif unused:
        chosen += service.list_resources([ResourceState.UP])
    failed = False
    for r in {r.id: r for r in chosen}.values():
        try:
            parts.executor.call(service.delete_resource, r.id)
        except ServiceError as e:
            click.echo(f"lessor maint: resource {r.id}: {e}", err=True)
            failed = True
    if failed:
        sys.exit(EXIT_FAILED)


@maint.command("resource-logs")
@click.argument("resources", nargs=-1, required=True)
@click.pass_obj
def resource_logs(obj: MaintCtx, resources: tuple[str, ...]) -> None:
    """Print and follow the hook logs of resources (IDs or NAMEs), as `tail -F`."""
    logdir = obj.settings()[1] / "hooks"
    service = obj.service()
    paths = []
    for key in resources:
        rid = _lookup(service, key).id
        # Named one by one, not a glob, so tail also follows logs not yet written.
        paths += [str(logdir / f"{rid:06d}_{kind}") for kind in SUFFIXES]
    sys.stdout.flush()
    try:
        os.execvp("tail", ["tail", "-F", "-n+0", *paths])
    except OSError as e:
        _fail(f"cannot run tail: {e.strerror}")


SUFFIXES = ("alloc", "watch", "release", "terminate")
"""The hook logs of one resource: cmd_new, cmd_livecheck, cmd_release, cmd_delete."""


@maint.command("foreach-resource")
@click.option(
    "--command",
    "template",
    default="echo {name}",
    show_default=True,
    help="Shell command run for each live resource; may use {name}, {state}, {data_utf8}, "
    "{id}, {pool}, {id_in_pool}. The hook variables (RESALLOC_NAME…) are set too.",
)
@click.pass_obj
def foreach_resource(obj: MaintCtx, template: str) -> None:
    """Run a shell command for each live resource, as resalloc-maint does."""
    from lessor.domain.hooks import Hook
    from lessor.domain.states import LIVE_RESOURCE_STATES
    from lessor.maint.lines import foreach_values
    from lessor.runner.env import hook_env

    for r in obj.service().list_resources(list(LIVE_RESOURCE_STATES)):
        try:
            command = template.format(**foreach_values(r))
        except (KeyError, IndexError, ValueError) as e:
            _fail(f"--command: cannot fill in {e}; use {{name}}, {{state}}, {{data_utf8}}…", 2)
        subprocess.call(command, shell=True, env={**os.environ, **hook_env(r, Hook.LIVECHECK)})
