"""Hook logs as the UI shows them: read-only, the end of big ones, as plain text.

The files are resalloc's, one per resource and hook, holding what each run
wrote. The UI neither parses nor redacts them. It shows none at all of a pool
that keeps its data secret: every hook of such a pool gets the data in its
environment and may print it (a `set -x` in the script is enough), so the only
redaction that cannot miss is not to read the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HOOKS = {
    "alloc": "cmd_new",
    "watch": "cmd_livecheck",
    "release": "cmd_release",
    "terminate": "cmd_delete",
}
"""Log file suffix (resalloc's names) -> the hook that writes it."""

MAX_BYTES = 256 * 1024
"""Only the end of a longer log is shown: livecheck logs grow for as long as a resource lives."""

HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
"""A log is text whatever it holds: no browser may guess it is a page, no proxy keep it."""

_KEPT = "\t\n\r"
_VISIBLE = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0)) if chr(c) not in _KEPT}
"""Control characters (terminal escapes, NUL…) are shown as \\xNN, not acted upon."""


@dataclass(frozen=True)
class HookLog:
    suffix: str
    hook: str
    path: Path
    size: int
    modified: float

    @property
    def name(self) -> str:
        """Where it is in the data directory, for whoever reads it on the server."""
        return f"{self.path.parent.name}/{self.path.name}"


def hook_logs(logdir: Path, resource_id: int) -> list[HookLog]:
    """The logs that exist for a resource, in the order its hooks run."""
    found = []
    for suffix, hook in HOOKS.items():
        path = log_path(logdir, resource_id, suffix)
        try:
            st = path.stat()
        except OSError:
            continue
        found.append(HookLog(suffix, hook, path, st.st_size, st.st_mtime))
    return found


def log_path(logdir: Path, resource_id: int, suffix: str) -> Path:
    """As the runner names them (and resalloc before it): hooks/000042_alloc."""
    return logdir / "hooks" / f"{resource_id:06d}_{suffix}"


def read_tail(path: Path) -> str:
    """The end of a log, at most MAX_BYTES from the start of a line, with what was left out said."""
    with path.open("rb") as f:
        start = max(0, f.seek(0, 2) - MAX_BYTES)
        f.seek(start)
        raw = f.read(MAX_BYTES)
    head = ""
    if start:
        line_start = raw.find(b"\n") + 1  # 0 when there is no line end: keep it all
        start += line_start
        raw = raw[line_start:]
        head = f"[... first {start} bytes not shown ...]\n"
    return head + raw.decode("utf-8", errors="backslashreplace").translate(_VISIBLE)


def secret_notice(pool: str, because: str) -> str:
    """Why a pool's hook logs are not shown, and where they are."""
    return (
        f"pool {pool} {because}: the UI shows none of its resources' data and hook logs; "
        "read the logs on the server, in its data directory"
    )
