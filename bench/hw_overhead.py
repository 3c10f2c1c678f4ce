"""Overhead of `lessor hw --cores 1 -- true` against `flock /tmp/x taskset -c 0 true`.

Both reserve one CPU exclusively and run `true` pinned to it; the figure is
the ratio of medians within one run (target <= 3x). The variants run
interleaved, round after round, so a burst of load on the machine hits them
all alike. `lessor` is the native launcher where scripts/setup could
build it (src/lessor/hw/native/lessor.c): it runs the plan Python wrote on
the first run of the request (the warm-up rounds). `lessor-python` is the
Python-only path: the console script the launcher hands everything else to,
and all there is without a C compiler. The interpreter's own start-up is
measured too: it is the floor of any Python `lessor hw`. Prints, asserts
nothing.

    .venv/bin/python bench/hw_overhead.py [--runs 40]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def is_native(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40)
    args = ap.parse_args()
    if not (shutil.which("flock") and shutil.which("taskset")):
        sys.exit("needs flock and taskset (util-linux)")
    cpu = max(os.sched_getaffinity(0))
    py = sys.executable
    lessor = str(Path(py).parent / "lessor")
    lessor_python = str(Path(py).parent / "lessor-python")
    kind = "native launcher" if is_native(lessor) else "Python script: no native launcher"
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "hw.yaml"
        cfg.write_text(f"cores: {cpu}\n")
        env = {**os.environ, "LESSOR_HW_CONFIG": str(cfg), "LESSOR_HW_STATE_DIR": tmp}
        # as installed: with bytecode caches (some shells export PYTHONDONTWRITEBYTECODE)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.pop("LESSOR_SYSFS_ROOT", None)
        hw = ["--cores", "1", "--", "true"]
        variants = {
            f"flock … taskset -c {cpu} true (baseline)": [
                "flock",
                str(Path(tmp) / "x"),
                "taskset",
                "-c",
                str(cpu),
                "true",
            ],
            "python -I -S -c pass (bare interpreter)": [py, "-I", "-S", "-c", "pass"],
            "python -c pass (interpreter + site)": [py, "-c", "pass"],
            f"lessor hw --cores 1 -- true ({kind})": [lessor, "hw", *hw],
            "lessor-python hw --cores 1 -- true (the Python-only path)": [lessor_python, "hw", *hw],
            "python -m lessor.hw --cores 1 -- true": [py, "-m", "lessor.hw", *hw],
            "lessor --help (the rest of the CLI, for scale)": [lessor, "--help"],
        }
        for cmd in variants.values():  # warm the page cache, bytecode and hw caches
            for _ in range(3):
                timed(cmd, env)
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.runs):
            for name, cmd in variants.items():
                times[name].append(timed(cmd, env))
    medians = {name: statistics.median(t) for name, t in times.items()}
    base = next(iter(medians.values()))
    print(
        f"lessor hw overhead - {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"{args.runs} interleaved runs each, medians"
    )
    for name, m in medians.items():
        print(f"  {name:<56} {m * 1000:7.1f} ms   {m / base:5.1f}x")


if __name__ == "__main__":
    main()
