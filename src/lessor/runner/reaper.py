"""Runs one hook as a child subreaper, so that nothing it starts can leave this process's tree.

HookRunner starts it as `python -S -I reaper.py COMMAND` where the machine
gives lessor no cgroup of its own. With PR_SET_CHILD_SUBREAPER set, an orphan
of the hook (a double fork's grandchild, a child whose parent exited) is
re-parented to this process instead of to init, so the hook's unit is exactly
this process and its descendants, whatever they did with their session or
environment; killing that tree kills the unit. It exits as the hook's shell
does; what the hook leaves running then is released to init.

Standard library only, and no lessor imports: it must start in milliseconds.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_CHILD_SUBREAPER = 36


def main() -> None:
    command = sys.argv[1]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit(f"lessor reaper: prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")
    shell = os.fork()
    if shell == 0:
        os.execv("/bin/sh", ["/bin/sh", "-c", command])
    while True:  # reap adopted orphans as they die, until the hook's shell is done
        pid, status = os.waitpid(-1, 0)
        if pid == shell:
            break
    code = os.waitstatus_to_exitcode(status)
    if code < 0:  # killed by a signal: end the same way, so the server sees what the shell did
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code)


if __name__ == "__main__":
    main()
