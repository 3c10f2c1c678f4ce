"""The `lessor` console script: `lessor hw` is dispatched before anything heavy is imported.

`lessor.cli` loads click, rich and every command group (~200 ms); `lessor hw`
runs a command on reserved cores, and its start-up is its overhead, so it
must not pay for them. Everything else goes to `lessor.cli` unchanged.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["hw"]:
        from lessor.hw.cli import main as hw_main

        sys.exit(hw_main(sys.argv[2:]))
    from lessor.cli import main as cli_main

    cli_main()
