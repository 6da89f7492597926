"""Child-process supervision for `cairn up`: start, watch, restart with backoff, stop in order.

Each child runs `python -m <module> ...` in its own session (so a terminal's Ctrl-C reaches only
the supervisor, which then stops children in a deliberate order) with its output appended to a
log file. A child that exits while the supervisor is not stopping is reported and, unless
restarts are disabled, started again after an exponential backoff (reset after a minute of
healthy running).

Children never outlive the supervisor: each is started through `cairn.lifeline` (a parent-death
signal plus a pipe watchdog), so a supervisor that is SIGKILLed, OOM-killed or loses its terminal
takes its children with it. Stopping SIGKILLs a child's whole process group (its workers too)
when it outlives the stop timeout. File descriptors in `inherit_fds` (the data directory lock)
are passed to every child, and `MALLOC_ENV` is its environment's default.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cairn.lifeline import Lifeline

log = logging.getLogger("cairn.up")

#: glibc malloc settings each child starts with unless the environment already sets them.
#: Python allocates a large GET's or PUT's 1 MiB gRPC messages, shard pieces and stripes with
#: malloc; by default glibc serves a buffer above its mmap threshold (128 KiB, raised by frees)
#: with a fresh mapping and gives freed heap above twice that back to the kernel, so these
#: buffers keep paying for page faults and zeroing. Buffers up to 8 MiB from the heap and up to
#: 64 MiB of freed heap kept per process cut the API's and the data nodes' CPU per MiB by about
#: a quarter (benchmarks/README.md, "Issue 14: large objects"). Other C libraries ignore them.
MALLOC_ENV: dict[str, str] = {"MALLOC_MMAP_THRESHOLD_": str(8 << 20), "MALLOC_TRIM_THRESHOLD_": str(64 << 20)}

_BACKOFF_START_S = 0.5
_BACKOFF_MAX_S = 30.0
_HEALTHY_AFTER_S = 60.0


@dataclass(frozen=True, slots=True)
class ChildSpec:
    role: str  # "placement" | "metadata" | "datanode" | "api" | "gc"
    name: str  # stable local name, e.g. "p1", "dn-03"
    module: str
    args: tuple[str, ...]
    addr: str
    data_dir: Path | None
    log_path: Path
    #: Extra environment for the child: secrets go here, never into argv (which `ps` shows).
    env: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class Child:
    spec: ChildSpec
    proc: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff_s: float = _BACKOFF_START_S
    watcher: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.returncode is None else None


class Supervisor:
    def __init__(
        self, restart: bool, on_change: Callable[[], None], inherit_fds: tuple[int, ...] = ()
    ) -> None:
        self._restart = restart
        self._on_change = on_change
        self._inherit_fds = inherit_fds
        self._lifeline = Lifeline()
        self._stopping = False
        self.children: list[Child] = []

    async def start(self, spec: ChildSpec) -> Child:
        child = Child(spec)
        self.children.append(child)
        await self._spawn(child)
        child.watcher = asyncio.create_task(self._watch(child), name=f"watch-{spec.name}")
        return child

    async def _spawn(self, child: Child) -> None:
        spec = child.spec
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(spec.log_path, "ab") as out:  # noqa: ASYNC230 - an instant local open for the child
            # Forked from the event loop's (main) thread: the parent-death signal is tied to the
            # thread that forks, and this one lives as long as the supervisor.
            child.proc = await asyncio.create_subprocess_exec(
                *self._lifeline.command(spec.module, spec.args),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                pass_fds=(self._lifeline.read_fd, *self._inherit_fds),
                env={**MALLOC_ENV, **os.environ, **dict(spec.env)},
            )
        child.started_at = time.monotonic()
        self._on_change()

    async def _watch(self, child: Child) -> None:
        while True:
            proc = child.proc
            if proc is None:
                return
            code = await proc.wait()
            if self._stopping:
                return
            spec = child.spec
            log.warning(
                "%s %s (pid %d) exited unexpectedly with code %s; see %s",
                spec.role,
                spec.name,
                proc.pid,
                code,
                spec.log_path,
            )
            self._on_change()
            if not self._restart:
                return
            if time.monotonic() - child.started_at > _HEALTHY_AFTER_S:
                child.backoff_s = _BACKOFF_START_S
            log.warning("restarting %s in %.1fs", spec.name, child.backoff_s)
            await asyncio.sleep(child.backoff_s)
            child.backoff_s = min(child.backoff_s * 2, _BACKOFF_MAX_S)
            if self._stopping:
                return
            child.restarts += 1
            await self._spawn(child)

    def exited(self) -> list[Child]:
        return [c for c in self.children if c.proc is not None and c.proc.returncode is not None]

    async def stop_all(self, order: tuple[str, ...], timeout_s: float = 15.0) -> None:
        """SIGTERM children role by role in `order` (others last), SIGKILL after `timeout_s`."""
        self._stopping = True
        roles = list(order) + sorted({c.spec.role for c in self.children} - set(order))
        for role in roles:
            group = [c for c in self.children if c.spec.role == role]
            await asyncio.gather(*(self._stop_one(c, timeout_s) for c in group))
        for child in self.children:
            if child.watcher is not None:
                child.watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await child.watcher
        self._lifeline.close()

    async def _stop_one(self, child: Child, timeout_s: float) -> None:
        proc = child.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout_s)
        except TimeoutError:
            log.warning("%s did not stop in %.0fs; killing it", child.spec.name, timeout_s)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: the service and its workers
            await proc.wait()
