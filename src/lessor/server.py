"""The composition root: config -> store -> executor -> service -> reconciler -> app.

Everything a running server is made of is built here and nowhere else;
`lessor server`, `lessor maint`, `lessor import-resalloc`, the simulator,
the benchmarks and the tests build what they need through these functions,
so a part is wired one way only.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from lessor.api.app import create_app
from lessor.config.database import sqlite_file
from lessor.domain.model import Pool
from lessor.reconciler.loop import Reconciler
from lessor.runner import lockfile
from lessor.runner.hooks import HookRunner
from lessor.service.capacity import CapacityService
from lessor.service.core import AS_RESALLOC, Access, LessorService
from lessor.service.executor import Executor
from lessor.service.sizing import keep_sized
from lessor.store.capacity import SqlCapacityStore
from lessor.store.capacity_memory import MemoryCapacityStore
from lessor.store.interface import Store, Transactions
from lessor.store.memory import MemoryStore
from lessor.store.sql import SqlStore

log = logging.getLogger("lessor.agents")

MEMORY = "memory://"
"""A database URL for a store that lives and dies with the process (tests, simulations)."""


@dataclass(frozen=True)
class Settings:
    db_url: str
    pools: tuple[Pool, ...]
    logdir: Path
    admin_token: str | None = None
    agent_token: str | None = None
    """What `lessor agent` presents to write its host's providers (docs/agents.md)."""
    agent_silence: float = 60.0
    """Seconds without a heartbeat after which an agent's providers are down."""
    sleeptime: float = 20.0
    pools_loader: Callable[[], tuple[Pool, ...]] | None = None
    """Reads pools.yaml again, for `lessor reload` and SIGHUP."""
    pools_file: Path | None = None
    """pools.yaml, reloaded by the reconciler when it changes (as resalloc rereads it)."""
    hook_env: tuple[str, ...] = ()
    """Names (or PREFIX*) of the server's environment variables every hook gets."""
    allowed_origins: tuple[str, ...] = ()
    """Origins besides its own whose pages may change state (server.yaml)."""
    access: Access = AS_RESALLOC
    """What resalloc's XML-RPC callers may do (server.yaml xmlrpc, xmlrpc_secret_data)."""


def open_store(url: str, *, migrate: bool = True) -> tuple[Store, Transactions]:
    """The store of a database URL and its unit of work: SQLite or PostgreSQL (migrated to
    the current schema unless `migrate` is false), or memory:// ."""
    if url == MEMORY:
        memory = MemoryStore()
        return memory, memory.transactions
    sql = SqlStore.connect(url, migrate_schema=migrate)
    return sql, sql.transactions


@dataclass
class Parts:
    """A service over a store, and the executor that runs its use cases."""

    store: Store
    transactions: Transactions
    service: LessorService
    executor: Executor
    owner: str
    """This process, as its hook claims name it."""
    capacity: CapacityService | None = None
    """Providers, inventories, allocations (Placement's model), in the same database."""

    def close(self) -> None:
        self.transactions.commit_group()
        close = getattr(self.store, "close", None)
        if close is not None:
            close()


def build(
    url: str,
    pools: tuple[Pool, ...],
    *,
    migrate: bool = True,
    clock: Callable[[], float] | None = None,
    access: Access = AS_RESALLOC,
    owner: str | None = None,
) -> Parts:
    """Store, service and executor, wired: the store's commits tell the service."""
    store, transactions = open_store(url, migrate=migrate)
    owner = owner or uuid.uuid4().hex
    service = LessorService(store, pools, clock=clock or time.time, owner=owner, access=access)
    transactions.on_events = service.events_committed
    executor = Executor(transactions, service.signals)
    return Parts(store, transactions, service, executor, owner, capacity_of(store))


def capacity_of(store: Store) -> CapacityService:
    """The capacity service over the same database as `store`."""
    if isinstance(store, SqlStore):
        return CapacityService(SqlCapacityStore(store.transactions))
    return CapacityService(MemoryCapacityStore())


def api_app(parts: Parts, logdir: Path, admin_token: str | None = None) -> FastAPI:
    """The HTTP app over the parts, with no reconciler and no lifespan (tests, benchmarks)."""
    return create_app(
        parts.service,
        parts.executor,
        admin_token=admin_token,
        logdir=logdir,
        alive=lambda: False,
        capacity=parts.capacity,
    )


MARKER = ".lessor-database"
"""The file in a log directory naming the database whose hook logs it holds."""


class LogdirTaken(Exception):
    """The log directory holds another database's hook logs: the message says which and why."""


def check_logdir(logdir: Path, url: str, shown_url: str) -> None:
    """Refuse a log directory that holds another database's hook logs, before the database is
    touched: hook logs are named by resource id, so two databases' logs in one directory
    mix (a resource 1 of each in one file) and the UI would show one server another's
    output. A new database (no identity yet) cannot be the directory's either."""
    try:
        owner = (logdir / MARKER).read_text().strip()
    except FileNotFoundError:
        return
    if url == MEMORY:
        return
    peek = SqlStore.connect(url, migrate_schema=False)
    try:
        database_id: str | None = peek.database_id()
    except Exception:  # no identity yet: a new database, or one of before 0004
        database_id = None
    finally:
        peek.close()
    if database_id != owner:
        raise LogdirTaken(
            f"{logdir} holds the hook logs of another database ({logdir / MARKER} says "
            f"{owner}; {shown_url} is {database_id or 'a new database'}): give this server "
            "a log directory of its own (--data-dir, or logdir: in server.yaml)"
        )


class AlreadyServed(LogdirTaken):
    """Another server runs on this log directory or SQLite file: the message says which."""


def hold_locks(logdir: Path, url: str, shown_url: str) -> list[object]:
    """The locks a server holds while it runs (see runner/lockfile.py): its log directory,
    whose hook processes it alone may kill at start-up, and an SQLite database file, which
    one server only may use (several servers share PostgreSQL, never SQLite)."""
    held: list[object] = []
    logdir_lock = logdir / ".lessor-server.lock"
    f = lockfile.hold(logdir_lock)
    if f is None:
        raise AlreadyServed(
            f"another lessor server (pid {lockfile.holder(logdir_lock)}) uses the log "
            f"directory {logdir}: give each server a log directory of its own (--data-dir, "
            "or logdir: in server.yaml)"
        )
    held.append(f)
    db_file = sqlite_file(url) if url != MEMORY else None
    if db_file is not None:
        db_lock = db_file.with_name(db_file.name + ".lessor-lock")
        f = lockfile.hold(db_lock)
        if f is None:
            raise AlreadyServed(
                f"another lessor server (pid {lockfile.holder(db_lock)}) uses {shown_url}: "
                "one server per SQLite database file; to run several servers, use PostgreSQL"
            )
        held.append(f)
    return held


def mark_logdir(logdir: Path, database_id: str) -> None:
    """The log directory is this database's from now on."""
    marker = logdir / MARKER
    if not marker.exists():
        logdir.mkdir(parents=True, exist_ok=True)
        marker.write_text(f"{database_id}\n")


class Server:
    """A running server's parts: built before it listens, so a database that cannot be
    opened, or a log directory that is another's, is reported before anything is
    announced."""

    def __init__(self, settings: Settings, shown_url: str = "") -> None:
        self.settings = settings
        self.locks = hold_locks(settings.logdir, settings.db_url, shown_url or settings.db_url)
        check_logdir(settings.logdir, settings.db_url, shown_url)
        owner = lockfile.server_id(settings.logdir, uuid.uuid4().hex)
        self.parts = build(settings.db_url, settings.pools, access=settings.access, owner=owner)
        mark_logdir(settings.logdir, self.parts.store.database_id())
        self.parts.service.pools_loader = settings.pools_loader
        self.runner = HookRunner(settings.logdir, pass_env=settings.hook_env)
        self.reconciler = Reconciler(
            self.parts.service,
            self.parts.executor,
            self.runner,
            sleeptime=settings.sleeptime,
            pools_file=settings.pools_file,
        )
        self.app = create_app(
            self.parts.service,
            self.parts.executor,
            admin_token=settings.admin_token,
            agent_token=settings.agent_token,
            logdir=settings.logdir,
            alive=lambda: self.reconciler.alive,
            lifespan=self._lifespan,
            allowed_origins=settings.allowed_origins,
            capacity=self.parts.capacity,
        )

    @asynccontextmanager
    async def _lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        parts = self.parts
        parts.service.signals.bind(asyncio.get_running_loop())
        listener = parts.store.listen(parts.service.signals.committed_elsewhere)
        await parts.executor.run(parts.service.remember_pools)
        task = asyncio.create_task(self.reconciler.run(), name="reconciler")
        sizing = asyncio.create_task(keep_sized(parts.executor, parts.service), name="sizing")
        agents = asyncio.create_task(
            watch_agents(parts.capacity, self.settings.agent_silence), name="agents"
        )
        # What exists now lives as long as the server; frozen, it is no longer walked by
        # every collection of the oldest generation (about 4 % of the instructions of a ticket).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            task.cancel()
            sizing.cancel()
            agents.cancel()
            await asyncio.gather(task, sizing, agents, return_exceptions=True)
            if listener is not None:
                listener.close()
            parts.close()

    def stopping(self) -> None:
        """The process is asked to stop: its waiting clients are answered now."""
        self.parts.service.signals.stop()

    def reload_in_background(self) -> None:
        """For SIGHUP: reread pools.yaml off the signal handler, logging instead of raising."""
        import threading

        service, executor = self.parts.service, self.parts.executor
        threading.Thread(
            target=lambda: executor.call(service.reload_in_background), daemon=True
        ).start()


async def watch_agents(capacity: CapacityService | None, silence: float) -> None:
    """Mark down the agents silent for `silence` seconds, checking a few times per silence.
    Any server may do it: the store's update is guarded, so each is reported once."""
    while capacity is not None:
        await asyncio.sleep(min(max(silence / 4, 0.2), 10.0))
        try:
            down = await asyncio.to_thread(capacity.mark_silent_down, time.time(), silence)
        except Exception:  # a database away for a moment: the next round tries again
            log.exception("checking agents' heartbeats")
            continue
        for p in down:
            log.warning("provider %s is down: no heartbeat for %gs", p.name, silence)
