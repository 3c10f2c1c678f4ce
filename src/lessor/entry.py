"""The `lessor` console script: `lessor hw` is dispatched before the other command groups load.

`lessor.cli` loads rich and every command group; `lessor hw` needs none of
them. (Its start-up overhead is the native launcher's business: a plain run
never reaches Python.) Everything else goes to `lessor.cli` unchanged.

Where the native launcher is installed (`hw/native/lessor.c`, see
docs/hw.md), `lessor` is that program and this is `lessor-python`, which
it execs for everything it does not do itself; it then names itself
`lessor`, so help and error messages read exactly as they always did.
"""

from __future__ import annotations

import sys

PYTHON_NAME = "lessor-python"
"""This entry point's name next to the native `lessor` launcher."""


def main() -> None:
    head, _, name = sys.argv[0].rpartition("/")
    if name == PYTHON_NAME:  # click's usage lines take the program's name from argv[0]
        sys.argv[0] = f"{head}/lessor" if head else "lessor"
    if sys.argv[1:2] == ["hw"]:
        from lessor.hw.cli import main as hw_main

        hw_main(sys.argv[2:])
    from lessor.cli import main as cli_main

    cli_main()
