"""Heartbeats: tell the placement service, every few seconds, that this node lives.

Each beat sends the node id (None until the placement service assigned one), the node's
address, failure-domain labels, and its capacity and usage measured for that beat (capacity.py). The id in the reply is persisted to
`<data_dir>/node_id` (durable replace) before it is used, so a restarted node keeps its
identity. While the placement service is unreachable the loop keeps going, retrying after an
exponentially growing delay with jitter (capped), and resumes the normal interval on the
first success. The placement client is injected (`HeartbeatSender`), so tests use a fake.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cairn.durable_file import write_atomic

log = logging.getLogger(__name__)


class HeartbeatReplyLike(Protocol):
    @property
    def node_id(self) -> str: ...

    @property
    def epoch(self) -> int: ...


class HeartbeatSender(Protocol):
    """What the data node needs of `cairn.placement.client.PlacementClient`."""

    async def heartbeat(
        self,
        node_id: str | None,
        addr: str,
        zone: str,
        rack: str,
        host: str,
        capacity_bytes: int,
        used_bytes: int,
        timeout: float = 5.0,
    ) -> HeartbeatReplyLike: ...

    async def close(self) -> None: ...


RunBlocking = Callable[..., Awaitable[Any]]


class NodeIdFile:
    """The node id assigned by the placement service, kept in one small file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> str | None:
        try:
            text = self.path.read_text().strip()
        except FileNotFoundError:
            return None
        return text or None

    def save(self, node_id: str) -> None:
        """Durable replace: write temp, fsync, rename, fsync the directory."""
        write_atomic(self.path, (node_id + "\n").encode())


@dataclass(frozen=True, slots=True)
class Identity:
    addr: str
    zone: str
    rack: str
    host: str


class Heartbeater:
    """The heartbeat loop of one node."""

    def __init__(
        self,
        sender: HeartbeatSender | None,
        ids: NodeIdFile,
        identity: Identity,
        usage: Callable[[], tuple[int, int]],
        interval_s: float,
        max_backoff_s: float,
        timeout_s: float,
        run_blocking: RunBlocking = asyncio.to_thread,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        node_id: str | None = None,
    ) -> None:
        self._sender = sender
        self._ids = ids
        self._identity = identity
        self._usage = usage  # (capacity, used) now; blocking, run off the loop
        self._interval = interval_s
        self._max_backoff = max_backoff_s
        self._timeout = timeout_s
        self._run_blocking = run_blocking
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.node_id = node_id
        self.epoch = 0
        self.failures = 0  # consecutive failed beats

    def backoff(self, failures: int) -> float:
        """Delay after `failures` consecutive failures: exponential, capped, jittered in [d/2, d]."""
        ceiling = min(self._max_backoff, self._interval * 2 ** min(failures, 30))
        return self._rng.uniform(ceiling / 2, ceiling)

    async def beat(self) -> None:
        """One heartbeat; persists a newly assigned id before adopting it. Raises on failure."""
        if self._sender is None:
            raise RuntimeError("no placement service configured")
        me = self._identity
        capacity, used = await self._run_blocking(self._usage)
        reply = await self._sender.heartbeat(
            self.node_id, me.addr, me.zone, me.rack, me.host, capacity, used, timeout=self._timeout
        )
        if reply.node_id and reply.node_id != self.node_id:
            if self.node_id is not None:
                log.warning("placement service renamed this node from %s to %s", self.node_id, reply.node_id)
            await self._run_blocking(self._ids.save, reply.node_id)
            log.info("node id is %s", reply.node_id)
            self.node_id = reply.node_id
        self.epoch = max(self.epoch, reply.epoch)

    async def run(self, beats: int | None = None) -> None:
        """Beat until cancelled (or `beats` times, for tests)."""
        done = 0
        while beats is None or done < beats:
            try:
                await self.beat()
            except Exception as exc:  # unreachable placement must never stop the node
                self.failures += 1
                delay = self.backoff(self.failures)
                log.warning(
                    "heartbeat failed (%d in a row): %s; retrying in %.1fs", self.failures, exc, delay
                )
            else:
                self.failures = 0
                delay = self._interval
            done += 1
            await self._sleep(delay)
