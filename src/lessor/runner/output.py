"""What cmd_new printed: kept in a file as it is written, and the data resalloc makes of it.

cmd_new's stdout goes straight into `hook-runs/output/{id:06d}_alloc` (the
hook's own file descriptor, no pipe in between), so whatever it printed is
on disk the moment it printed it: after a timeout, a failure or a kill -9 of
the server, cmd_delete still gets the instance id a cloud's cmd_new printed
first. The file is deleted once the outcome is stored. It is no hook log: the
UI never reads it, which is what keeps a secret pool's data out of the UI.
"""

from __future__ import annotations

DATA_LIMIT = 512
"""Bytes of cmd_new's stdout that become the resource's data, as resalloc keeps them."""

TRIMMED = b"<< trimmed >>\n"


def resource_data(stdout: bytes) -> bytes:
    """The resource's data for what cmd_new printed, trimmed as resalloc trims it.

    Whole lines are kept while they fit in DATA_LIMIT bytes; at the first line
    that does not fit, the rest is dropped and TRIMMED appended. A first line
    longer than the limit keeps its first DATA_LIMIT bytes. (The hook log
    keeps everything.)
    """
    if len(stdout) <= DATA_LIMIT:
        return stdout
    kept = 0
    start = 0
    while start < len(stdout):
        end = stdout.find(b"\n", start)
        end = len(stdout) if end < 0 else end + 1
        if end - start + kept > DATA_LIMIT:
            if kept == 0:
                return stdout[:DATA_LIMIT] + TRIMMED
            return stdout[:kept] + TRIMMED
        kept += end - start
        start = end
    return stdout
