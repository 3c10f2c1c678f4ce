"""Running administrators' hooks: a subprocess with an environment, a timeout and a log file.

The command line is the administrator's own string from pools.yaml and runs
under /bin/sh like resalloc's; everything that comes from users or resources
(names, data, sandboxes) reaches it only through environment variables, never
by being pasted into that string.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil

RUN_TOKEN_ENV = "LESSOR_HOOK_RUN"
"""Environment variable carrying a per-run token, to find hooks a crash left behind."""

TIMEOUT_EXIT = 124
"""Exit code reported for a hook killed at its timeout (as timeout(1) and resalloc)."""


@dataclass(frozen=True)
class HookResult:
    exit_code: int
    stdout: bytes
    duration: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def describe(self, hook: str) -> str:
        if self.exit_code == TIMEOUT_EXIT:
            return f"{hook} timed out after {self.duration:.0f}s"
        return f"{hook} exited with {self.exit_code}"


class HookRunner:
    """Runs hooks and appends their output to per-resource log files under `logdir`."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.running_dir = logdir / "hooks" / "running"

    def kill_leftovers(self) -> list[int]:
        """Kill hooks a crashed server left running; returns their pids.

        A hook cut off by `kill -9` of the server goes on in its own session
        (a cmd_new still making a VM nobody will track). Each run leaves a
        token in `running/` until it ends; any process still carrying a
        token from there in its environment is such a leftover. Matching on
        the token, not a pid, means a reused pid never kills a stranger.
        """
        tokens = (
            {f.name for f in self.running_dir.glob("*")} if self.running_dir.exists() else set()
        )
        killed: list[int] = []
        if tokens:
            for proc in psutil.process_iter():
                with contextlib.suppress(psutil.Error):
                    if proc.environ().get(RUN_TOKEN_ENV) in tokens:
                        proc.kill()
                        killed.append(proc.pid)
        for token in tokens:
            (self.running_dir / token).unlink(missing_ok=True)
        return killed

    def log_path(self, resource_id: int, suffix: str) -> Path:
        return self.logdir / "hooks" / f"{resource_id:06d}_{suffix}"

    async def run(
        self,
        command: str,
        env: Mapping[str, str],
        *,
        timeout: float,
        log: Path,
    ) -> HookResult:
        log.parent.mkdir(parents=True, exist_ok=True)
        self.running_dir.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex
        marker = self.running_dir / token
        marker.write_text(f"{log.name}\n")
        try:
            return await self._run(command, {**env, RUN_TOKEN_ENV: token}, timeout, log)
        finally:
            marker.unlink(missing_ok=True)

    async def _run(
        self, command: str, env: Mapping[str, str], timeout: float, log: Path
    ) -> HookResult:
        started = time.monotonic()
        # stdout goes to a file, not a pipe: a hook that leaves a background
        # child holding its stdout (a common slip in admin scripts) must not
        # hang us until the timeout; the hook is done when its shell exits.
        with log.open("ab") as logf, tempfile.TemporaryFile() as out:
            logf.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} $ {command}\n".encode())
            logf.flush()
            try:
                proc = await asyncio.create_subprocess_exec(
                    "/bin/sh",
                    "-c",
                    command,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=out,
                    stderr=logf,
                    env={**os.environ, **env},
                    start_new_session=True,  # so a timeout kills the hook's children too
                )
            except OSError as e:
                logf.write(f"=== cannot start: {e}\n".encode())
                return HookResult(127, b"", time.monotonic() - started)
            try:
                code = await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                _kill_group(proc.pid)
                await proc.wait()
                code = TIMEOUT_EXIT
            except asyncio.CancelledError:
                _kill_group(proc.pid)
                raise
            duration = time.monotonic() - started
            out.seek(0)
            stdout = out.read() if code != TIMEOUT_EXIT else b""
            if stdout:
                logf.write(b"--- stdout:\n" + stdout + (b"" if stdout.endswith(b"\n") else b"\n"))
            logf.write(f"=== exit {code} after {duration:.2f}s\n".encode())
        return HookResult(code, stdout, duration)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
