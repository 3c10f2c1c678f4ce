"""Hook logs as the UI shows them: read-only, the tail of big ones, secrets cut out."""

from __future__ import annotations

import re
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

_STDOUT = re.compile(rb"^--- stdout:\n.*?(?=^=== )", re.MULTILINE | re.DOTALL)
_EXIT = re.compile(rb"^=== exit .*\n", re.MULTILINE)


@dataclass(frozen=True)
class HookLog:
    suffix: str
    hook: str
    path: Path
    size: int
    modified: float


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


def read_log(path: Path, secret: bool) -> str:
    """The text of a log; with `secret`, what the hook printed on stdout (the data) is cut out."""
    with path.open("rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - MAX_BYTES))
        raw = f.read()
    head = b""
    if size > MAX_BYTES:
        raw = raw.split(b"\n", 1)[-1]
        head = f"[... first {size - len(raw)} bytes not shown ...]\n".encode()
    if secret:
        if size > MAX_BYTES:  # the cut may fall inside a stdout section: start after it
            end = _EXIT.search(raw)
            raw = raw[end.end() :] if end else b""
        raw = _STDOUT.sub(b"--- stdout: [secret data, not shown]\n", raw)
        # A cut right inside a stdout section leaves no header to find: drop the rest.
        if b"--- stdout:\n" in raw:
            raw = raw.split(b"--- stdout:\n", 1)[0] + b"--- stdout: [secret data, not shown]\n"
    return (head + raw).decode(errors="replace")
