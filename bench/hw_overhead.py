"""Overhead of `lessor hw --cores 1 -- true` against `flock /tmp/x taskset -c 0 true`.

Both reserve one CPU exclusively and run `true` pinned to it; the ratio of
medians over the same run is the figure (target <= 3x). Prints, asserts nothing.

    .venv/bin/python bench/hw_overhead.py [--runs 30]
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


def median_seconds(cmd: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    if not (shutil.which("flock") and shutil.which("taskset")):
        sys.exit("needs flock and taskset (util-linux)")
    cpu = max(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "hw.yaml"
        cfg.write_text(f"cores: {cpu}\n")
        env = {**os.environ, "LESSOR_HW_CONFIG": str(cfg), "LESSOR_HW_STATE_DIR": tmp}
        # as installed: with bytecode caches (some shells export PYTHONDONTWRITEBYTECODE)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        lock = str(Path(tmp) / "x")
        hw = [sys.executable, "-m", "lessor.hw", "--cores", "1", "--", "true"]
        entry = [str(Path(sys.executable).parent / "lessor"), "hw", "--cores", "1", "--", "true"]
        base = ["flock", lock, "taskset", "-c", str(cpu), "true"]
        py = [sys.executable, "-c", "pass"]
        for cmd in (hw, base):  # warm the page cache
            median_seconds(cmd, env, 3)
        b = median_seconds(base, env, args.runs)
        h = median_seconds(hw, env, args.runs)
        e = median_seconds(entry, env, args.runs)
        p = median_seconds(py, env, args.runs)
    print(f"lessor hw overhead — {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
          f"{args.runs} runs each, medians")
    print(f"  flock + taskset true:            {b * 1000:7.1f} ms")
    print(f"  python -m lessor.hw -- true:     {h * 1000:7.1f} ms   ratio {h / b:5.1f}x")
    print(f"  lessor hw -- true (entry point): {e * 1000:7.1f} ms   ratio {e / b:5.1f}x")
    print(f"  python -c pass (interpreter):    {p * 1000:7.1f} ms   ratio {p / b:5.1f}x")


if __name__ == "__main__":
    main()
