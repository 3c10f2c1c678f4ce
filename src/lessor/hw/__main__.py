"""`python -m lessor.hw`: the same as `lessor hw`, without loading the rest of lessor."""

from lessor.hw.cli import main

main()
