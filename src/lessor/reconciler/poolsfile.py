"""pools.yaml, reloaded when it changes: resalloc rereads it at every pass.

An operator of resalloc edits pools.yaml (`max: 0` to stop a pool, a new
tag) and the change applies within `sleeptime`, with no command. lessor's
reconciler does the same: at every pass it looks at the file's modification
time, size and inode (a stat, no read), and on a change reloads it through
the service's own reload, which keeps the pools in use when the new text has
an error. The version tried is remembered either way, so a broken edit is
logged once (with its file and line), not at every pass until it is fixed.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lessor.service.core import LessorService
from lessor.service.errors import Conflict, InvalidRequest
from lessor.service.executor import Executor

log = logging.getLogger(__name__)

Version = tuple[int, int, int] | None
"""(mtime in ns, size, inode); None when the file cannot be looked at."""


def version_of(path: Path) -> Version:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class PoolsFileWatch:
    """Reloads the pools when their file is no longer the version last read."""

    def __init__(self, path: Path, service: LessorService, executor: Executor) -> None:
        self.path = path
        self.service = service
        self.executor = executor
        self.seen = version_of(path)
        """The version the server's pools came from (read at start, just before this)."""

    async def reload_if_changed(self) -> bool:
        """Reload if the file changed since the last look; whether it did (even if the new
        text was refused: the pools in use stay then, and the error is logged)."""
        now = version_of(self.path)
        if now == self.seen:
            return False
        self.seen = now
        try:
            await self.executor.run(self.service.reload_pools)
        except (InvalidRequest, Conflict) as e:
            log.error("%s; the pools in use stay until the file is fixed", e)
        return True
