"""Building the native launcher (native/lessor.c) for the tests, as scripts/setup does."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SOURCE = Path(__file__).parents[2] / "src/lessor/hw/native/lessor.c"


def build(out: Path, extra: list[str] | None = None) -> Path:
    """Compiles the launcher to `out` with warnings as errors; skips (fails in CI) without cc."""
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no C compiler: CI must build and test the native launcher")
        pytest.skip("no C compiler: the native launcher cannot be built here")
    subprocess.run(
        [cc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror",
         *os.environ.get("LESSOR_NATIVE_CFLAGS", "").split(), *(extra or []),
         "-o", str(out), str(SOURCE)],
        check=True,
    )  # fmt: skip
    return out


WARM = """
import sys
from lessor.hw import cache
from lessor.hw.rules import plan, resolve
from lessor.hw.state import State, state_dir

state = State(state_dir())
topo, cfg = cache.load(state, None, None)
for shape in sys.argv[1:]:
    options = shape.split()
    o = dict(zip((x[2:] for x in options[::2]), options[1::2]))
    count = lambda k: int(o[k]) if k in o else None
    req = resolve(count("cores"), count("nics"), count("gpus"), o.get("numa"), False,
                  o.get("profile"), cfg.profiles)
    cache.add_request(state, cache.request_key(options), plan(topo, cfg.reservable(topo), req))
"""


def warm(python: str, env: dict[str, str], shapes: list[list[str]]) -> None:
    """Plans for these requests, as a first Python run of each writes them, in one process."""
    subprocess.run([python, "-c", WARM, *(" ".join(s) for s in shapes)], env=env, check=True)
