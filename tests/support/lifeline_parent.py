"""A stand-in supervisor for the lifeline tests.

`python -m tests.support.lifeline_parent MODE GRACE_S MODULE [ARGS...]` starts MODULE through
cairn.lifeline, prints the child's pid, and waits to be killed. MODE:
- "both": parent-death signal and pipe, as `cairn up` does;
- "pipe": the pipe watchdog alone (no prctl), as on systems without it;
- "pdeathsig": the parent-death signal alone: the child also holds the pipe's write end, so
  its read never reports end-of-file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from cairn.lifeline import Lifeline


def main(mode: str, grace_s: str, module: str, *args: str) -> None:
    lifeline = Lifeline(grace_s=float(grace_s), pdeathsig=mode != "pipe")
    fds = [lifeline.read_fd]
    if mode == "pdeathsig":
        read_fd, write_fd = os.pipe()
        fds = [read_fd, write_fd]
        argv = lifeline.command(module, args)
        argv[argv.index("--fd") + 1] = str(read_fd)
    else:
        argv = lifeline.command(module, args)
    child = subprocess.Popen(
        argv, pass_fds=fds, start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    )
    print(child.pid, flush=True)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    main(*sys.argv[1:])
