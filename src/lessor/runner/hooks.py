"""Running administrators' hooks: a contained subprocess with an environment, a timeout and a log.

The command line is the administrator's own string from pools.yaml and runs
under /bin/sh like resalloc's; everything that comes from users or resources
(names, data, sandboxes) reaches it only through environment variables, never
by being pasted into that string.

Logs are resalloc's: `hooks/{id:06d}_{suffix}` holds exactly what the hook
wrote, stdout and stderr, appended run after run, and nothing of lessor's but
resalloc's `<timeouted after Ns>` marker. What lessor knows of each run
(command, start, exit status, duration) goes to the event log instead. A
secret pool's cmd_new stdout (its data) is never written to the log.

lessor's own files of each run (its record, cmd_new's durable stdout) live
beside the logs, in `hook-runs/`, never in `hooks/`: resalloc's packages
run an hourly cron (merge-hook-logs) that appends every file of `hooks/`
older than an hour to `hooks.log` and deletes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil

from lessor.domain.hooks import Hook
from lessor.runner.env import base_env
from lessor.runner.output import resource_data
from lessor.runner.units import (
    Containment,
    Unit,
    kill_recorded,
    prune_cgroups,
    read_record,
    write_record,
)

log = logging.getLogger(__name__)

RUN_TOKEN_ENV = "LESSOR_HOOK_RUN"
"""Environment variable carrying a per-run token: a last net for hooks a crash left behind."""

TAIL = 2048
"""Bytes of a failed hook's log said along with its failure (a pool's last_failure)."""

TIMEOUT_EXIT = 124
"""Exit code reported for a hook killed at its timeout (as timeout(1) and resalloc)."""

CANNOT_START = 127
"""Exit code reported for a hook that could not be started at all (as a shell's)."""

MIRROR_INTERVAL = 0.02
"""Seconds between copies of cmd_new's stdout from its output file into its log."""

STDERR_GRACE = 0.1
"""Seconds to wait, once cmd_new's shell has exited, for the end of its stderr."""

RUNS_DIR = "hook-runs"
"""The directory of `logdir` that holds lessor's files of the runs in progress."""


@dataclass(frozen=True)
class HookResult:
    exit_code: int
    stdout: bytes
    """What the hook printed on stdout (cmd_new, cmd_list; empty for the others), also on a
    timeout or a failure."""
    duration: float
    error: str = ""
    """Why the hook could not be started, if it could not."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def data(self) -> bytes:
        """The resource's data for this cmd_new's stdout (trimmed as resalloc does)."""
        return resource_data(self.stdout)

    def describe(self, hook: str) -> str:
        if self.error:
            return f"{hook} could not start: {self.error}"
        if self.exit_code == TIMEOUT_EXIT:
            return f"{hook} timed out after {self.duration:.0f}s"
        return f"{hook} exited with {self.exit_code}"


class HookRunner:
    """Runs hooks, each contained as one unit, and appends their output to resalloc's logs.

    `pass_env`: names (or `PREFIX*`) of the server's variables every hook gets
    besides the allow-list of runner/env.py. `containment`: the mechanism to
    use ("cgroup", "subreaper", "session"); detected when not given.
    """

    def __init__(
        self,
        logdir: Path,
        *,
        pass_env: Iterable[str] = (),
        containment: str | None = None,
    ) -> None:
        self.logdir = logdir
        self.hooks_dir = logdir / "hooks"
        self.running_dir = logdir / RUNS_DIR / "running"
        self.output_dir = logdir / RUNS_DIR / "output"
        self.pass_env = tuple(pass_env)
        self.containment = Containment(containment)
        log.info("hook runs are contained by %s", self.containment.describe())
        self._released: list[Path] = []
        self._lingering: set[asyncio.Task[None]] = set()

    @property
    def mechanism(self) -> str:
        """How hook runs are contained here: "cgroup", "subreaper" or "session"."""
        return self.containment.mechanism

    def log_path(self, resource_id: int, hook: Hook) -> Path:
        return self.hooks_dir / f"{resource_id:06d}_{hook.log_suffix}"

    def log_tail(self, resource_id: int, hook: Hook, limit: int = TAIL) -> str:
        """The last `limit` bytes of a resource's log of `hook`, as text (from the start of a
        line, control characters but newlines shown as ?): what to say of a failure."""
        try:
            with self.log_path(resource_id, hook).open("rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - limit))
                tail = f.read()
        except OSError:
            return ""
        if size > limit and b"\n" in tail:
            tail = tail.split(b"\n", 1)[1]
        text = tail.decode(errors="replace").strip()
        return "".join(c if c.isprintable() or c == "\n" else "?" for c in text)

    def output_path(self, resource_id: int) -> Path:
        """Where cmd_new's stdout for a resource is kept until its outcome is stored."""
        return self.output_dir / f"{resource_id:06d}_{Hook.NEW.log_suffix}"

    def recover_output(self, resource_id: int) -> bytes | None:
        """The data a cmd_new cut off by a crash left for a resource (None: it left nothing).

        Call after kill_leftovers (so nothing writes to it any more), store it
        as the resource's data before cmd_delete runs, then discard_output.
        """
        try:
            return resource_data(self.output_path(resource_id).read_bytes())
        except FileNotFoundError:
            return None

    def discard_output(self, resource_id: int) -> None:
        """cmd_new's outcome is stored: its output file is no longer needed."""
        self.output_path(resource_id).unlink(missing_ok=True)

    def kill_leftovers(self) -> list[int]:
        """Kill every process of the hook runs a dead server left running; returns their pids.

        A hook cut off by `kill -9` of the server goes on (a cmd_new still
        making a VM nobody will track). Each run's record in `running/` names
        its unit: the cgroup and the anchor process (pid and start time) are
        killed whole; as a last net, so is any process whose environment still
        carries a recorded run token. Call before anything else runs hooks.
        """
        self._adopt_old_layout()
        records = {p: read_record(p) for p in self._records()}
        killed: set[int] = set()
        for record in records.values():
            killed.update(kill_recorded(record))
        tokens = {str(r["token"]) for r in records.values()}
        if tokens:
            me = os.getpid()
            for proc in psutil.process_iter():
                with contextlib.suppress(psutil.Error):
                    if proc.pid != me and proc.environ().get(RUN_TOKEN_ENV) in tokens:
                        proc.kill()
                        killed.add(proc.pid)
        for path in records:
            path.unlink(missing_ok=True)
        return sorted(killed)

    def _adopt_old_layout(self) -> None:
        """Move the run records and cmd_new outputs an older lessor kept in `hooks/running/`
        and `hooks/output/` to where they are kept now, once, at the first start after an
        upgrade (their writers, if any are left, keep writing: a move keeps the inode)."""
        for name, new in (("running", self.running_dir), ("output", self.output_dir)):
            old = self.hooks_dir / name
            if not old.is_dir():
                continue
            new.mkdir(parents=True, exist_ok=True)
            for path in old.iterdir():
                with contextlib.suppress(OSError):
                    path.rename(new / path.name)
            with contextlib.suppress(OSError):
                old.rmdir()

    async def run(
        self,
        command: str,
        env: Mapping[str, str],
        *,
        hook: Hook,
        resource_id: int,
        timeout: float,
        cwd: str | Path | None = None,
        secret: bool = False,
        pass_env: Iterable[str] = (),
    ) -> HookResult:
        """Run `command` under /bin/sh -c with the hook variables `env`, in `cwd` (the
        pools file's directory; empty or None: the server's working directory).

        Logged to `hooks/{resource_id:06d}_{hook.log_suffix}`. cmd_new's and
        cmd_list's stdout are captured (cmd_new's durably, see output.py) and
        logged too, unless `secret` (a secret pool's data: kept out of the
        log). `pass_env` adds the pool's names to the server-wide ones.
        """
        self.hooks_dir.mkdir(parents=True, exist_ok=True)
        self.running_dir.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex
        full_env = {**base_env((*self.pass_env, *pass_env)), **env, RUN_TOKEN_ENV: token}
        output = None
        if hook is Hook.NEW:
            output = self.output_path(resource_id)
        elif hook is Hook.LIST:
            output = self.output_dir / f"{resource_id:06d}_{hook.log_suffix}.{token}"
        if output is not None:
            self.output_dir.mkdir(parents=True, exist_ok=True)
        job = _Job(
            command=command,
            env=full_env,
            unit=self.containment.unit(token),
            record=self.running_dir / token,
            log=self.log_path(resource_id, hook),
            output=output,
            mirror=output is not None and not secret,
            timeout=timeout,
            cwd=Path(cwd) if cwd else None,
        )
        try:
            job.save_record()
            return await self._run(job)
        finally:
            job.record.unlink(missing_ok=True)
            busy = job.unit.release()
            if busy is not None:
                self._released.append(busy)
            if hook is Hook.LIST and output is not None:
                output.unlink(missing_ok=True)
            self._released = prune_cgroups(self._released)

    async def _run(self, job: _Job) -> HookResult:
        started = time.monotonic()
        unit, output = job.unit, job.output
        # stdout goes to a file, not a pipe: a hook that leaves a background
        # child holding it (a common slip in admin scripts) must not hang us
        # until the timeout, and what cmd_new printed is on disk at once.
        log_fd = os.open(job.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        out_fd = -1
        mirror = None
        try:
            if output is not None:
                out_fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
                if job.mirror:
                    mirror = _Mirror(output, log_fd)
            try:
                proc = await asyncio.create_subprocess_exec(
                    *unit.argv(job.command),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=out_fd if out_fd >= 0 else log_fd,
                    stderr=asyncio.subprocess.PIPE if mirror else log_fd,
                    env=job.env,
                    cwd=job.cwd,
                    start_new_session=True,
                )
            except OSError as e:
                if mirror:
                    mirror.close()
                return HookResult(CANNOT_START, b"", time.monotonic() - started, error=str(e))
            unit.attach(proc.pid)
            job.save_record()
            if mirror:
                assert proc.stderr is not None
                mirror.start(proc.stderr)
            timed_out = False
            try:
                code = await asyncio.wait_for(proc.wait(), job.timeout)
            except TimeoutError:
                timed_out = True
                unit.kill()
                await proc.wait()
                code = TIMEOUT_EXIT
            except asyncio.CancelledError:
                unit.kill()
                raise
            finally:
                if mirror and (lingering := await mirror.finish()):
                    self._lingering.add(lingering)
                    lingering.add_done_callback(self._lingering.discard)
            if timed_out:
                os.write(log_fd, f"<timeouted after {job.timeout:g}s>\n".encode())
            duration = time.monotonic() - started
        finally:
            os.close(log_fd)
            if out_fd >= 0:
                os.close(out_fd)
        stdout = output.read_bytes() if output is not None else b""
        return HookResult(code, stdout, duration)

    def _records(self) -> list[Path]:
        if not self.running_dir.is_dir():
            return []
        return [p for p in self.running_dir.iterdir() if not p.name.startswith(".")]


@dataclass(frozen=True)
class _Job:
    """One hook run, as HookRunner.run prepared it."""

    command: str
    env: Mapping[str, str]
    unit: Unit
    record: Path
    log: Path
    output: Path | None
    mirror: bool
    """Copy the captured stdout into the log too (not for a secret pool's data)."""
    timeout: float
    cwd: Path | None

    def save_record(self) -> None:
        write_record(self.record, {**self.unit.record(), "log": self.log.name})


class _Mirror:
    """Writes cmd_new's (or cmd_list's) stdout and stderr into its log in the order they came.

    stdout goes to its output file (durable), stderr through a pipe; before
    each piece of stderr is logged, the stdout written so far is copied in,
    so stdout printed before stderr always comes first in the log. (stderr
    followed within microseconds by stdout may come out after it: the order
    of two streams cannot be known exactly, in resalloc neither.) Between
    pieces of stderr, stdout is copied every MIRROR_INTERVAL.
    """

    def __init__(self, output: Path, log_fd: int) -> None:
        self.out = os.open(output, os.O_RDONLY)
        self.log = os.dup(log_fd)  # the pump may outlive the run (see finish)
        self.pos = 0
        self.stdout_done = False
        self.pump: asyncio.Task[None] | None = None
        self.follow: asyncio.Task[None] | None = None

    def start(self, stderr: asyncio.StreamReader) -> None:
        self.pump = asyncio.create_task(self._pump(stderr))
        self.follow = asyncio.create_task(self._follow())

    async def finish(self) -> asyncio.Task[None] | None:
        """The hook's shell has exited: log the rest; returns the stderr pump if it goes on.

        It goes on while something the hook left running holds its stderr: what
        that writes is still logged (as resalloc's log file would get it) instead
        of the writer being killed by SIGPIPE.
        """
        assert self.pump is not None and self.follow is not None
        self.follow.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.follow
        await asyncio.wait({self.pump}, timeout=STDERR_GRACE)
        self._copy_stdout()
        self.stdout_done = True
        if self.pump.done():
            self.close()
            return None
        self.pump.add_done_callback(lambda _: self.close())
        return self.pump

    def close(self) -> None:
        for fd in (self.out, self.log):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _copy_stdout(self) -> None:
        if self.stdout_done:
            return
        while chunk := os.pread(self.out, 1 << 16, self.pos):
            os.write(self.log, chunk)
            self.pos += len(chunk)

    async def _pump(self, stderr: asyncio.StreamReader) -> None:
        with contextlib.suppress(OSError):
            while chunk := await stderr.read(1 << 16):
                self._copy_stdout()  # what stdout got before this comes first
                os.write(self.log, chunk)

    async def _follow(self) -> None:
        while True:
            self._copy_stdout()
            await asyncio.sleep(MIRROR_INTERVAL)
