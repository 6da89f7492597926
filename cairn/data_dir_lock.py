"""One `cairn up` per data directory: an exclusive flock on `<data-dir>/cairn-up.lock`.

The lock is taken before anything in the directory is read or written and held for the life of
the supervisor. Its open file description is inherited by every service `cairn up` starts, so
the directory stays locked until the supervisor *and* all its children have exited: a second
`cairn up` cannot start services on files that a dying cluster's processes still write. The
kernel drops the lock when the last holder exits, however it exits (nothing to clean up after a
SIGKILL). The file holds the supervisor's pid, for the refusal message only.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

LOCK_NAME = "cairn-up.lock"


class DataDirInUse(Exception):
    """Another `cairn up` (or the services of one that just ended) holds the directory."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DataDirLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self.fd = -1

    def acquire(self) -> None:
        """Take the lock or raise DataDirInUse naming the holder."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._holder(fd)
            os.close(fd)
            raise DataDirInUse(self._refusal(holder)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd

    def _holder(self, fd: int) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int(os.pread(fd, 32, 0).decode().strip())
        return None

    def _refusal(self, holder: int | None) -> str:
        directory = self.path.parent
        if holder is not None and _alive(holder):
            return (
                f"data directory {directory} is in use by another cairn up (pid {holder}); "
                "stop it first, or pass another --data-dir"
            )
        return (
            f"data directory {directory} is still in use: the services of a cairn up that ended "
            f"(pid {holder or 'unknown'}) are stopping; try again in a few seconds"
        )

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # children that inherited it keep the lock until they exit
            self.fd = -1
