"""What the Python side and the native launcher (native/lessor.c) share: names, numbers, formats.

This module is the one statement of them. `native/protocol.h` is generated
from it (`python -m lessor.hw.protocol > src/lessor/hw/native/protocol.h`;
a test fails when the two differ), so the C side never spells a file name,
an environment variable or an exit code of its own.

Every file in the state directory is written in one trivial line format,
`KIND key=value key=value…\\n`, where a value is a decimal number, a list of
them joined by commas, or bytes in lower-case hex (strings, which may be
anything a command line holds). Writing it needs no escaping rules, so the
two sides cannot disagree on one; reading it is Python's job alone.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

VERSION = 2
"""Of the state directory: its files and the plan the launcher reads. Bump on any change."""

PROTOCOL_FILE = "protocol"
PROTOCOL_LINE = f"lessor-hw {VERSION}"
"""The whole first line of PROTOCOL_FILE; both sides refuse a state directory without it."""

PLAN_MAGIC = f"lessor-hw-plan {VERSION}"
"""First line of the per-user plan file (`cache.py` writes it, the launcher reads it)."""

PLAN_FILE = "plan-{uid}"
DECISION_LOCK = "state.lock"
QUEUE_DIR = "queue"
"""Waiters' entries, named SEQ-PID (twelve digits, a dash, the waiter's pid)."""
USAGE_LOG = "usage.log"

STATE_ENV = "LESSOR_HW_STATE_DIR"
STATE_SHARED = "/run/lessor/hw"
"""Used when we are root or may write it: every user of the machine then shares it."""
STATE_RUNTIME = "{runtime}/lessor/hw"
"""Else under XDG_RUNTIME_DIR, else STATE_TMP."""
STATE_TMP = "/tmp/lessor-hw-{uid}"

CPUS_ENV = "LESSOR_CPUS"
"""The reserved CPUs, ascending, comma-separated: the command's affinity (always set)."""

PYTHON_CLI = "lessor-python"
"""The Python console script the launcher execs for everything it does not do."""

FAST_OPTIONS = ("cores", "gpus", "nics", "numa", "profile")
"""The options (`--NAME VALUE`) a request may have and still be read by the launcher."""
VALUE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
"""What such a value may be made of (not starting with '-'); anything else goes to Python."""

RESERVATION = "reservation"
"""The kind of a lock file's record: token, pid, since, user, profile, command, units, cpus."""
RESERVE, RELEASE = "reserve", "release"
"""The kinds of usage.log's lines: t, token, pid, user, profile, units; t, token."""
WAITER = "waiter"
"""The kind of a queue entry's record (Python's alone: the launcher never waits)."""

COMMAND_BYTES = 1024
"""A record keeps the command line (arguments joined by spaces) up to this many bytes."""

EXIT_USAGE = 2
EXIT_IMPOSSIBLE = 69  # EX_UNAVAILABLE: this machine could never satisfy the request
EXIT_OS_ERROR = 71  # EX_OSERR: the command could not be started (fork failed)
EXIT_BUSY = 75  # EX_TEMPFAIL: busy and --no-wait, or --wait-timeout passed
EXIT_SERVER = 76  # EX_PROTOCOL: --server was unreachable or refused a request
EXIT_TIME_LIMIT = 124  # as timeout(1)
EXIT_CANNOT_RUN = 127  # as a shell: no such command

INDEX = "#"
"""In an exported variable's name, or as its whole value: the unit's place among those
chosen that export that name (NIC0, NIC1, …)."""


def lock_name(kind: str, key: object) -> str:
    """The lock file of one unit of hardware: `core-2.lock`, `nic-eth0.lock`, `gpu-PCI.lock`."""
    return f"{kind}-{key}.lock"


def lock_kind(name: str) -> str:
    return name.partition("-")[0]


def line(kind: str, fields: Mapping[str, int | str | bytes | list[int] | list[bytes]]) -> bytes:
    """One record: ints as decimal, str and bytes as hex, lists joined by commas."""
    parts = [kind]
    for key, value in fields.items():
        if isinstance(value, int):
            text = str(value)
        elif isinstance(value, str | bytes):
            text = _hex(value)
        else:
            text = ",".join(str(v) if isinstance(v, int) else _hex(v) for v in value)
        parts.append(f"{key}={text}")
    return (" ".join(parts) + "\n").encode()


def parse(raw: bytes) -> tuple[str, dict[str, str]] | None:
    """(kind, raw fields) of one record; None for anything else (a line of an older lessor)."""
    words = raw.decode("ascii", "replace").split()
    if not words or not words[0].isidentifier():
        return None
    fields = dict(w.partition("=")[::2] for w in words[1:])
    return words[0], fields


def text(value: str) -> str:
    """A hex field as text, undecodable bytes shown as \\xNN (safe to print anywhere)."""
    return unhex(value).decode("utf-8", "backslashreplace")


def unhex(value: str) -> bytes:
    try:
        return bytes.fromhex(value)
    except ValueError:
        return b""


def _hex(value: str | bytes) -> str:
    return (value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value).hex()


def c_header() -> str:
    """native/protocol.h: the constants above, for the C side."""
    strings = {
        "PROTOCOL_FILE": PROTOCOL_FILE,
        "PROTOCOL_LINE": PROTOCOL_LINE,
        "PLAN_MAGIC": PLAN_MAGIC,
        "PLAN_FILE": PLAN_FILE.replace("{uid}", "%u"),
        "DECISION_LOCK": DECISION_LOCK,
        "QUEUE_DIR": QUEUE_DIR,
        "USAGE_LOG": USAGE_LOG,
        "STATE_ENV": STATE_ENV,
        "STATE_SHARED": STATE_SHARED,
        "STATE_RUNTIME": STATE_RUNTIME.replace("{runtime}", "%s"),
        "STATE_TMP": STATE_TMP.replace("{uid}", "%u"),
        "CPUS_ENV": CPUS_ENV,
        "PYTHON_CLI": PYTHON_CLI,
        "VALUE_CHARS": VALUE_CHARS,
        "INDEX": INDEX,
        "RESERVATION": RESERVATION,
        "RESERVE": RESERVE,
        "RELEASE": RELEASE,
    }
    numbers = {
        "VERSION": VERSION,
        "COMMAND_BYTES": COMMAND_BYTES,
        "EXIT_OS_ERROR": EXIT_OS_ERROR,
        "EXIT_CANNOT_RUN": EXIT_CANNOT_RUN,
    }
    out = [
        "/* Generated from protocol.py (python -m lessor.hw.protocol): do not edit. */",
        "#ifndef LESSOR_HW_PROTOCOL_H",
        "#define LESSOR_HW_PROTOCOL_H",
        *(f'#define LHW_{k} "{v}"' for k, v in strings.items()),
        *(f"#define LHW_{k} {v}" for k, v in numbers.items()),
        "#define LHW_FAST_OPTIONS {" + ", ".join(f'"{o}"' for o in FAST_OPTIONS) + "}",
        "#endif",
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(c_header())
