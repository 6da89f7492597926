"""Children that die with their supervisor, however the supervisor dies.

`cairn up` starts every service as

    python -m cairn.lifeline --parent-pid P --fd N [--grace-s S] MODULE ARGS...

which, in the child, before running the service:

1. on Linux, asks the kernel for SIGTERM when the parent dies (`prctl(PR_SET_PDEATHSIG)`), then
   checks that its parent is still P: the parent may have died before the prctl. The kernel
   sends the signal when the *thread* that forked the child exits, so the supervisor forks from
   its main thread (asyncio starts subprocesses from the event loop's thread);
2. starts a daemon thread blocked reading fd N, the read end of a pipe whose only write end the
   supervisor holds (`Lifeline`): the read returns end-of-file once the supervisor is gone,
   whatever killed it. This works where prctl does not (macOS, BSD);
3. runs MODULE as `__main__` in this same process (runpy) with `sys.argv = [MODULE, *ARGS]`, so
   the pid the supervisor records is the service's.

When the supervisor is gone the service gets SIGTERM (its own graceful shutdown); if it still runs
`grace_s` seconds after the pipe closed, the watchdog kills its process group (the service and
any worker processes it forked; the supervisor starts each child in a session of its own) with
SIGKILL. A child never outlives its supervisor by more than the grace period.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import runpy
import signal
import sys
import threading
import time
from collections.abc import Sequence

log = logging.getLogger("cairn.lifeline")

PR_SET_PDEATHSIG = 1
DEFAULT_GRACE_S = 10.0


class Lifeline:
    """The supervisor's end: one pipe shared by every child. Only this process holds the write
    end (os.pipe() descriptors are not inherited), so the children's reads end when it exits."""

    def __init__(self, grace_s: float = DEFAULT_GRACE_S, pdeathsig: bool = True) -> None:
        self.grace_s = grace_s
        self.pdeathsig = pdeathsig  # off only in tests that prove the pipe alone suffices
        self.read_fd, self._write_fd = os.pipe()

    def command(self, module: str, args: Sequence[str]) -> list[str]:
        """The argv that runs `python -m module args...` tied to this process."""
        return [
            sys.executable,
            "-m",
            "cairn.lifeline",
            "--parent-pid",
            str(os.getpid()),
            "--fd",
            str(self.read_fd),
            "--grace-s",
            str(self.grace_s),
            *([] if self.pdeathsig else ["--no-pdeathsig"]),
            module,
            *args,
        ]

    def close(self) -> None:
        for fd in (self.read_fd, self._write_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def set_parent_death_signal(sig: int) -> bool:
    """Ask Linux to send `sig` to this process when its parent dies; False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    return int(libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)) == 0


def _kill_own_group() -> None:
    if os.getpgrp() == os.getpid():  # our own session: the group is this service and its workers
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def watch(fd: int, grace_s: float) -> None:
    """Block until the pipe at `fd` reports end-of-file, then stop this process (see module doc)."""
    while True:
        try:
            if not os.read(fd, 64):
                break
        except OSError:
            break
    log.warning("supervisor is gone: stopping (SIGKILL in %.0fs if still running)", grace_s)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(grace_s)
    _kill_own_group()


def parse(argv: Sequence[str]) -> tuple[int, int, float, bool, str, list[str]]:
    """(parent pid, fd, grace, use prctl, module, module args) from this wrapper's argv."""
    parent, fd, grace, pdeathsig = -1, -1, DEFAULT_GRACE_S, True
    rest = list(argv)
    while rest and rest[0].startswith("--"):
        flag = rest.pop(0)
        if flag == "--no-pdeathsig":  # only the pipe: tests prove that path on its own
            pdeathsig = False
        elif flag in ("--parent-pid", "--fd", "--grace-s") and rest:
            value = rest.pop(0)
            if flag == "--parent-pid":
                parent = int(value)
            elif flag == "--fd":
                fd = int(value)
            else:
                grace = float(value)
        else:
            raise SystemExit(f"cairn.lifeline: unknown or incomplete option {flag}")
    if parent < 0 or fd < 0 or not rest:
        raise SystemExit(
            "usage: python -m cairn.lifeline --parent-pid P --fd N [--grace-s S] MODULE [ARGS...]"
        )
    return parent, fd, grace, pdeathsig, rest[0], rest[1:]


def main(argv: Sequence[str]) -> None:
    parent, fd, grace, pdeathsig, module, args = parse(argv)
    if pdeathsig:
        set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != parent:
        raise SystemExit(f"cairn.lifeline: supervisor {parent} exited before {module} started")
    threading.Thread(target=watch, args=(fd, grace), name="lifeline", daemon=True).start()
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
