"""The kinds of hook a pool has, named once: their pools.yaml keys and their log files' suffixes.

The reconciler runs them, the runner builds their environment and logs, the
web UI and `lessor maint` read those logs; all of them name a kind through
this enum rather than through its strings. Its value is the pools.yaml key,
which is also how the database (a hook claimed on a resource) and the event
log (hook.started's `hook`) name it.
"""

from __future__ import annotations

from enum import StrEnum


class Hook(StrEnum):
    """A hook kind: its value is its pools.yaml key, `.log_suffix` resalloc's name for its log
    (logdir/hooks/{resource id:06d}_{suffix})."""

    NEW = "cmd_new"
    """Creates a resource; what it prints on stdout becomes the resource's data."""
    LIVECHECK = "cmd_livecheck"
    """Checks that a ready resource still works; a failure counts towards its deletion."""
    RELEASE = "cmd_release"
    """Cleans a resource its ticket gave back, so that it can be reused."""
    DELETE = "cmd_delete"
    """Deletes a resource (or an instance cmd_list found that nobody tracks)."""
    LIST = "cmd_list"
    """Prints the names of the instances that really exist, to find untracked ones."""
    EXTEND = "cmd_extend"
    """Tells a credential its ticket's lease was renewed (LESSOR_EXPIRES_AT, the new end)."""

    @property
    def key(self) -> str:
        """The pools.yaml key."""
        return self.value

    @property
    def log_suffix(self) -> str:
        return _SUFFIXES[self]

    @classmethod
    def from_log_suffix(cls, suffix: str) -> Hook:
        """The kind whose log file ends in `_suffix` (KeyError for no kind)."""
        return _BY_SUFFIX[suffix]


_SUFFIXES = {
    Hook.NEW: "alloc",
    Hook.LIVECHECK: "watch",
    Hook.RELEASE: "release",
    Hook.DELETE: "terminate",
    Hook.LIST: "list",
    Hook.EXTEND: "extend",
}
_BY_SUFFIX = {suffix: hook for hook, suffix in _SUFFIXES.items()}
