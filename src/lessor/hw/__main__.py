"""`python -m lessor.hw`: the same as `lessor hw`, without loading the rest of lessor."""

import sys

from lessor.hw.cli import main

sys.exit(main())
