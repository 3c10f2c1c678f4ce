"""The programs hooks run, checked when pools.yaml is read rather than when a VM is due.

A hook whose program is missing fails with exit 127 on every run; behind
cmd_delete that is a resource nobody can delete. Only a program given as a
path (a first word with a `/`) can be checked: a bare name is looked up in
PATH, or is a shell builtin, when the hook runs.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
from pathlib import Path

_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
"""`VAR=value cmd …`: the shell sets VAR for cmd; the program is the word after."""


def program_path(command: str, hook_dir: Path) -> Path | None:
    """The program `command` runs, as the shell in `hook_dir` would find it; None when it
    is no path (a name looked up in PATH, a builtin) or depends on a variable.

    Raises ValueError when the command cannot be split into words (an open quote).
    """
    words = shlex.split(command, comments=True)
    while words and _ASSIGNMENT.match(words[0]):
        words.pop(0)
    if not words or "/" not in words[0] or "$" in words[0] or "`" in words[0]:
        return None
    return hook_dir / Path(words[0]).expanduser()


def program_problem(command: str, hook_dir: Path) -> str | None:
    """What is wrong with the program of `command`, naming the path it resolved to; None if
    it can run (or cannot be checked)."""
    try:
        path = program_path(command, hook_dir)
    except ValueError as e:
        return f"cannot be split into words as the shell would: {e}"
    if path is None:
        return None
    shown = str(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return f"{shown} does not exist"
    except OSError as e:
        return f"{shown}: {e.strerror}"
    if stat.S_ISDIR(mode):
        return f"{shown} is a directory, not a program"
    if not os.access(path, os.X_OK):
        return f"{shown} is not executable (mode {stat.S_IMODE(mode):04o}: chmod +x it)"
    return None
