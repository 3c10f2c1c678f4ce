"""The run path's arguments, read without argparse (whose imports cost ~15 ms here).

Only a well-formed run (`lessor hw [OPTION VALUE | FLAG]... -- COMMAND...`)
is read here; anything else — help, a subcommand, an unknown option, a bad
number, `--opt=value` — returns None and goes to argparse, so every error
message is argparse's own, and both read the same options the same way.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing costs ~10 ms of start-up
if TYPE_CHECKING:
    from collections.abc import Sequence
    from dataclasses import dataclass as record
else:  # dataclasses costs more start-up than all of `lessor hw` (see record.py)
    from lessor.hw.record import record

DEFAULT_LEASE = 30.0
"""Seconds: a `--server` ticket's lease, renewed while the command runs."""


@record(frozen=True)
class RunArgs:
    command: tuple[str, ...]
    cores: int | None = None
    nics: int | None = None
    profile: str | None = None
    numa: str | None = None
    smt: bool = False
    no_wait: bool = False
    wait_timeout: float | None = None
    time_limit: float | None = None
    grace: float = 5.0
    config: str | None = None
    sysfs_root: str | None = None
    server: str | None = None
    host: str | None = None
    lease: float = DEFAULT_LEASE


INTS = ("cores", "nics")
FLOATS = ("wait_timeout", "time_limit", "grace", "lease")
STRINGS = ("profile", "config", "sysfs_root", "server", "host")
FLAGS = ("smt", "no_wait")


def parse_run(args: Sequence[str]) -> RunArgs | None:
    """The run's options, or None: let argparse read it (and explain what is wrong)."""
    if "--" not in args:
        return None
    split = list(args).index("--")
    command, options = tuple(args[split + 1 :]), args[:split]
    if not command:
        return None
    values: dict[str, object] = {}
    i = 0
    while i < len(options):
        name = options[i].removeprefix("--").replace("-", "_")
        if not options[i].startswith("--") or name in values:
            return None
        if name in FLAGS:
            values[name] = True
            i += 1
            continue
        if i + 1 >= len(options) or options[i + 1].startswith("-"):
            return None
        raw = options[i + 1]
        try:
            if name in INTS:
                values[name] = int(raw)
            elif name in FLOATS:
                values[name] = float(raw)
            elif name in STRINGS or (name == "numa" and raw in ("same", "any")):
                values[name] = raw
            else:
                return None
        except ValueError:
            return None
        i += 2
    return RunArgs(command, **values)  # type: ignore[arg-type]
