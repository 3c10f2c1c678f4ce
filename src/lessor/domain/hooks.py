"""The kinds of hook a pool has, named once: their pools.yaml keys and their log files' suffixes.

The reconciler runs them, the runner builds their environment and logs, the
web UI and `lessor maint` read those logs; all of them name a kind through
this enum rather than through its strings.
"""

from __future__ import annotations

from enum import Enum


class Hook(Enum):
    """A hook kind: `.key` is its pools.yaml key, `.log_suffix` resalloc's name for its log."""

    NEW = ("cmd_new", "alloc")
    """Creates a resource; what it prints on stdout becomes the resource's data."""
    LIVECHECK = ("cmd_livecheck", "watch")
    """Checks that a ready resource still works; a failure counts towards its deletion."""
    RELEASE = ("cmd_release", "release")
    """Cleans a resource its ticket gave back, so that it can be reused."""
    DELETE = ("cmd_delete", "terminate")
    """Deletes a resource (or an instance cmd_list found that nobody tracks)."""
    LIST = ("cmd_list", "list")
    """Prints the names of the instances that really exist, to find untracked ones."""

    def __init__(self, key: str, log_suffix: str) -> None:
        self.key = key
        self.log_suffix = log_suffix

    @classmethod
    def from_log_suffix(cls, suffix: str) -> Hook:
        """The kind whose log file ends in `_suffix` (KeyError for no kind)."""
        return _BY_SUFFIX[suffix]


_BY_SUFFIX = {hook.log_suffix: hook for hook in Hook}
