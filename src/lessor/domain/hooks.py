"""The hooks an administrator gives a pool, by the names pools.yaml and the logs know them."""

from __future__ import annotations

from enum import StrEnum


class Hook(StrEnum):
    """A hook by its pools.yaml key; `log_suffix` names its log file as resalloc does
    (logdir/hooks/{resource id:06d}_{suffix})."""

    NEW = "cmd_new"
    LIVECHECK = "cmd_livecheck"
    RELEASE = "cmd_release"
    DELETE = "cmd_delete"
    LIST = "cmd_list"

    @property
    def log_suffix(self) -> str:
        return _SUFFIXES[self]


_SUFFIXES = {
    Hook.NEW: "alloc",
    Hook.LIVECHECK: "watch",
    Hook.RELEASE: "release",
    Hook.DELETE: "terminate",
    Hook.LIST: "list",
}
