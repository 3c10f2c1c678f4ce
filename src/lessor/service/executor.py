"""The executor: where a use case runs, as what transaction, and when its signals go out.

The use cases (service/core.py, policy.py) are plain functions over the
store: they neither open transactions nor know where they run. A use case
that changes state says so (`@writes`); the executor runs it as one
transaction, all of it or none, and sends the wake-ups it signalled once
that transaction has committed. The server's composition (lessor/server.py)
builds one executor over the store's unit of work and hands it to the API
and the reconciler.

On a store whose calls are short and local (SQLite, memory), use cases run
on the event loop itself: a hop to a worker thread costs more than the call
and halves the requests a server answers. Elsewhere (PostgreSQL, a network
away) they run in worker threads, so the loop never waits on a socket.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import ParamSpec, TypeVar

from lessor.service.signals import Signals
from lessor.store.interface import Transactions

P = ParamSpec("P")
V = TypeVar("V")
F = TypeVar("F", bound=Callable[..., object])

_WRITES = "lessor_writes"


def writes(use_case: F) -> F:
    """Mark a use case that changes state: the executor runs it as one transaction."""
    setattr(use_case, _WRITES, True)
    return use_case


def is_writing(use_case: Callable[..., object]) -> bool:
    return bool(getattr(use_case, _WRITES, False))


class Executor:
    def __init__(self, transactions: Transactions, signals: Signals) -> None:
        self.transactions = transactions
        self.signals = signals

    def call(self, use_case: Callable[P, V], *args: P.args, **kwargs: P.kwargs) -> V:
        """Run the use case here, on this thread: one transaction if it writes."""
        if not is_writing(use_case):
            return use_case(*args, **kwargs)
        nested = self.signals.deferring  # inside another's transaction: it sends them
        with self.signals.deferred() as pending, self.transactions.atomic():
            result = use_case(*args, **kwargs)
        if not nested:
            self.signals.send(pending)
        return result

    async def run(self, use_case: Callable[P, V], *args: P.args, **kwargs: P.kwargs) -> V:
        """Run the use case from the event loop, on it or in a worker thread (see above)."""
        if self.transactions.inline:
            return self.call(use_case, *args, **kwargs)
        return await asyncio.to_thread(partial(self.call, use_case, *args, **kwargs))

    async def run_in_worker(self, use_case: Callable[P, V], *args: P.args, **kwargs: P.kwargs) -> V:
        """`run`, always in a worker thread: for reads whose size nobody bounds (a page of
        the event log, a history), which would hold up the loop even on SQLite."""
        return await asyncio.to_thread(partial(self.call, use_case, *args, **kwargs))

    async def run_grouped(self, use_case: Callable[P, V], *args: P.args, **kwargs: P.kwargs) -> V:
        """Run a use case that answers a request and writes (open, close a ticket).

        On SQLite the use cases of the requests answered in one turn of the
        event loop share one transaction (see Transactions.part): a commit
        costs as much as a use case, and a busy server commits once for
        several. The call returns once that transaction has committed, so no
        answer tells of a change that could still be lost; its signals
        (waiters, the reconciler) go out then too. Elsewhere it is `run`.
        """
        if not self.transactions.inline:
            return await self.run(use_case, *args, **kwargs)
        loop = asyncio.get_running_loop()
        with self.transactions.part() as part:
            if part.first:  # whatever this part's fate, the group is committed next turn
                loop.call_soon(self.transactions.commit_group)
            with self.signals.deferred() as pending:
                result = use_case(*args, **kwargs)
        committed = loop.create_future()

        def told(error: BaseException | None) -> None:
            if error is None:
                self.signals.send(pending)
            if committed.done():  # the request went away meanwhile
                return
            if error is None:
                committed.set_result(None)
            else:
                committed.set_exception(error)

        part.on_commit.append(told)
        await committed
        return result
