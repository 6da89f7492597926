"""A service that ignores SIGTERM and has a worker process of its own (for the lifeline tests).

`python -m tests.support.stubborn PID_FILE`: ignores SIGTERM, starts a `sleep` worker in its own
process group, writes "<own pid> <worker pid>" to PID_FILE, and sleeps until killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def main(pid_file: str) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    worker = subprocess.Popen(["sleep", "600"])
    tmp = Path(pid_file + ".tmp")
    tmp.write_text(f"{os.getpid()} {worker.pid}")
    tmp.rename(pid_file)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    main(sys.argv[1])
