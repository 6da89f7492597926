"""Outgoing Raft traffic: one ordered queue and one sender task per peer.

Messages to a peer leave in the order the core produced them, batched, on one long-lived stream
(client.py): while one batch is being written, new messages queue up and go together in the
next. A failed write drops its batch and the stream (Raft re-sends what matters: heartbeats,
probes, retried snapshots), tells the core the peer is unreachable (so it stops pipelining to
it), and backs off one tick; the next batch opens a new stream. A queue over its bound drops
its oldest messages. Snapshots go in a separate task per peer, at most one at a time, so a long
transfer never delays heartbeats; their files are read from disk chunk by chunk as the stream
goes (client.py). `reachable()` reports a peer as up when a ping to it was answered,
or a message from it arrived, within the last `up_window_s` (a written batch proves nothing: a
stopped peer's socket takes writes until its buffers fill); a peer nothing was sent to for a
quarter of that window, and not pinged for as long, gets a ping, an empty unary `Send`
(followers do not talk to each other).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from cairn.raft.client import PeerClient
from cairn.raft.config import RaftConfig
from cairn.raft.errors import PeerUnavailable
from cairn.raft.messages import Message, MessageType, Snapshot

log = logging.getLogger(__name__)


#: Bounds of one Send call: well under cairn.rpc.MAX_MESSAGE_BYTES, so a batch always fits.
BATCH_MESSAGES = 1024
BATCH_BYTES = 8 << 20


def _take_batch(queue: deque[Message]) -> list[Message]:
    """Pop the next batch: at least one message, then up to BATCH_MESSAGES / BATCH_BYTES."""
    batch = [queue.popleft()]
    size = _size(batch[0])
    while queue and len(batch) < BATCH_MESSAGES and size + _size(queue[0]) <= BATCH_BYTES:
        size += _size(queue[0])
        batch.append(queue.popleft())
    return batch


def _size(m: Message) -> int:
    return 64 + len(m.context) + sum(len(e.data) + 24 for e in m.entries)


class _Peer:
    def __init__(self, peer_id: str, addr: str) -> None:
        self.id = peer_id
        self.client = PeerClient(addr)
        self.queue: deque[Message] = deque()
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.snapshot_task: asyncio.Task[None] | None = None
        self.last_ok = float("-inf")
        self.failing = False


class Transport:
    def __init__(
        self,
        node_id: str,
        peers: Mapping[str, str],
        config: RaftConfig,
        report_unreachable: Callable[[str], None],
        snapshot_dir: Callable[[Snapshot], Path],
    ) -> None:
        self._config = config
        self._snapshot_dir = snapshot_dir
        self._report_unreachable = report_unreachable
        self._peers = {p: _Peer(p, addr) for p, addr in sorted(peers.items()) if p != node_id}
        self._last_heard: dict[str, float] = {}
        self.up_window_s = 2 * config.election_ticks * config.tick_s

    def start(self) -> None:
        for peer in self._peers.values():
            peer.task = asyncio.create_task(self._sender(peer), name=f"raft-send-{peer.id}")

    async def stop(self) -> None:
        tasks = [t for p in self._peers.values() for t in (p.task, p.snapshot_task) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for peer in self._peers.values():
            await peer.client.close()

    def send(self, messages: Iterable[Message]) -> None:
        for m in messages:
            peer = self._peers.get(m.to)
            if peer is None:
                continue
            if m.type is MessageType.SNAPSHOT:
                if peer.snapshot_task is None or peer.snapshot_task.done():
                    peer.snapshot_task = asyncio.create_task(self._send_snapshot(peer, m))
                continue
            peer.queue.append(m)
            while len(peer.queue) > self._config.max_queued_messages:
                peer.queue.popleft()
            peer.wake.set()

    def heard_from(self, peer_id: str) -> None:
        self._last_heard[peer_id] = time.monotonic()

    def reachable(self, peer_id: str) -> bool:
        peer = self._peers.get(peer_id)
        if peer is None:
            return True  # ourselves
        latest = max(peer.last_ok, self._last_heard.get(peer_id, float("-inf")))
        return time.monotonic() - latest < self.up_window_s

    async def _sender(self, peer: _Peer) -> None:
        while True:
            try:
                async with asyncio.timeout(self.up_window_s / 4):
                    await peer.wake.wait()
            except TimeoutError:
                if time.monotonic() - peer.last_ok > self.up_window_s / 4:
                    await self._ping(peer)
                continue
            peer.wake.clear()
            while peer.queue:
                await self._send(peer, _take_batch(peer.queue))

    async def _send(self, peer: _Peer, batch: list[Message]) -> None:
        try:
            await peer.client.send(batch, self._config.rpc_timeout_s)
        except PeerUnavailable as exc:
            self._failed(peer, exc)
            await asyncio.sleep(self._config.tick_s)

    async def _ping(self, peer: _Peer) -> None:
        """A written batch only says gRPC took it; an answered ping says the peer is alive."""
        try:
            await peer.client.ping(self._config.rpc_timeout_s)
        except PeerUnavailable as exc:
            self._failed(peer, exc)
            await asyncio.sleep(self._config.tick_s)
        else:
            peer.last_ok = time.monotonic()
            if peer.failing:
                log.info("raft peer %s reachable again", peer.id)
            peer.failing = False

    def _failed(self, peer: _Peer, exc: Exception) -> None:
        if not peer.failing:
            log.warning("raft peer %s unreachable: %s", peer.id, exc)
        peer.failing = True
        self._report_unreachable(peer.id)

    async def _send_snapshot(self, peer: _Peer, message: Message) -> None:
        cfg = self._config
        if message.snapshot is None:
            return
        directory = self._snapshot_dir(message.snapshot)
        try:
            await peer.client.install_snapshot(
                message, directory, cfg.snapshot_timeout_s, cfg.snapshot_chunk_bytes
            )
        except PeerUnavailable as exc:
            self._failed(peer, exc)
        else:
            peer.last_ok = time.monotonic()
