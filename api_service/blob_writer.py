"""Writing one blob: body chunks -> stripes -> erasure pieces -> k + m concurrent shard streams.

DESIGN.md "Write path" steps 3-4. The body is cut into stripes (StripeCutter), each stripe is
encoded in a worker thread (never on the event loop), and piece i of every stripe goes, in stripe
order, to a bounded queue feeding one `write_shard` stream to the PG's node i. All k + m streams
run concurrently.

Invariants:
- Memory is bounded for any body size: at most `write_queue_stripes` stripes wait in each node's
  queue, plus the stripe being encoded and the one being cut. A full queue blocks the producer, so
  the slowest live node sets the pace (back-pressure); a node that accepts nothing for
  `write_stall_timeout_s` is dropped instead of holding the write forever.
- A node whose stream fails is dropped at once: its queue is drained so it never blocks the producer,
  and the others keep streaming.
- The write succeeds only when at least the write quorum (default k + 1) of shards are acknowledged
  durable with the expected length; otherwise every stream is cancelled (a broken stream stores
  nothing on the node) and `WriteQuorumError` is raised. As soon as the quorum can no longer be
  reached the write stops consuming the body.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from concurrent.futures import Executor

from cairn.api_service.blob_io import (
    DEFAULT_CONFIG,
    BlobIOConfig,
    DataNodePool,
    NodeStalled,
    WriteQuorumError,
    WrittenBlob,
    codec_for,
)
from cairn.blobs import BlobRef
from cairn.datanode.errors import DataNodeError
from cairn.datanode.shards import ShardInfo, ShardKey
from cairn.erasure import DEFAULT_LAYOUT, StripeCutter, StripeLayout

log = logging.getLogger(__name__)

_END = object()


class _ShardStream:
    """One `write_shard` stream to one node, fed through a bounded queue."""

    def __init__(self, index: int, addr: str, key: ShardKey, depth: int) -> None:
        self.index = index
        self.addr = addr
        self.key = key
        self.queue: asyncio.Queue[object] = asyncio.Queue(maxsize=depth)
        self.task: asyncio.Task[ShardInfo] | None = None
        self.error: BaseException | None = None

    def start(self, pool: DataNodePool, pg: int, timeout: float) -> None:
        try:
            client = pool.get(self.addr)
        except Exception as exc:  # noqa: BLE001 - a client that cannot be built is a failed node
            self.error = exc
            return
        self.task = asyncio.create_task(client.write_shard(self.key, pg, self._pieces(), timeout=timeout))
        self.task.add_done_callback(self._finished)

    async def _pieces(self) -> AsyncIterator[bytes]:
        while True:
            piece = await self.queue.get()
            if piece is _END:
                return
            yield piece  # type: ignore[misc]

    def _finished(self, task: asyncio.Task[ShardInfo]) -> None:
        if task.cancelled():
            self.error = self.error or asyncio.CancelledError()
        elif task.exception() is not None:
            self.error = task.exception()
        # Free a producer blocked on this queue: nobody will read it any more.
        while not self.queue.empty():
            self.queue.get_nowait()

    @property
    def failed(self) -> bool:
        return self.error is not None or self.task is None

    def drop(self, error: BaseException) -> None:
        """Give up on this node (stalled or unusable): cancel its stream, nothing is stored."""
        self.error = self.error or error
        if self.task is not None:
            self.task.cancel()
        while not self.queue.empty():
            self.queue.get_nowait()

    async def put(self, item: object, deadline: float) -> None:
        """Queue `item` unless the stream has failed; drop the node if it stalls past `deadline`."""
        if self.failed or (self.task is not None and self.task.done()):
            return
        try:
            self.queue.put_nowait(item)
            return
        except asyncio.QueueFull:
            pass
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout(max(0.0, remaining)):
                await self.queue.put(item)
        except TimeoutError:
            log.warning("shard %s on %s stalled; dropping it from the write", self.key, self.addr)
            self.drop(NodeStalled(f"{self.addr} accepted no piece in time"))


class BlobWriter:
    """Writes blobs to the nodes of their placement group. One instance serves every request."""

    def __init__(
        self,
        pool: DataNodePool,
        layout: StripeLayout = DEFAULT_LAYOUT,
        config: BlobIOConfig = DEFAULT_CONFIG,
        executor: Executor | None = None,
    ) -> None:
        self._pool = pool
        self._layout = layout
        self._config = config
        self._quorum = config.quorum(layout)
        self._codec = codec_for(layout)
        self._executor = executor

    @property
    def layout(self) -> StripeLayout:
        return self._layout

    @property
    def quorum(self) -> int:
        """Shards that must be durable for a write to succeed."""
        return self._quorum

    async def write(
        self, blob_id: bytes, pg: int, nodes: Sequence[str | None], body: AsyncIterable[bytes]
    ) -> WrittenBlob:
        """Stream `body` as blob `blob_id` to `nodes` (the PG's node addresses in slot order, None
        for an empty or down slot). Returns once at least the write quorum of shards is durable;
        raises WriteQuorumError otherwise. Exceptions from `body` propagate after every stream
        was cancelled."""
        layout, config = self._layout, self._config
        if len(nodes) != layout.n:
            raise ValueError(f"expected {layout.n} node slots, got {len(nodes)}")
        streams = [
            _ShardStream(i, addr, ShardKey(blob_id, i), config.write_queue_stripes)
            for i, addr in enumerate(nodes)
            if addr is not None
        ]
        errors: dict[int, BaseException] = {
            i: DataNodeError("no node in this slot") for i, addr in enumerate(nodes) if addr is None
        }
        try:
            for stream in streams:
                stream.start(self._pool, pg, config.write_timeout_s)
            self._check_reachable(blob_id, streams, errors)
            size = await self._send_body(blob_id, streams, errors, body)
            infos = await self._await_acks(blob_id, streams, errors)
        finally:
            await _cancel_all(streams)
        return self._result(blob_id, pg, size, streams, errors, infos)

    async def _send_body(
        self,
        blob_id: bytes,
        streams: list[_ShardStream],
        errors: dict[int, BaseException],
        body: AsyncIterable[bytes],
    ) -> int:
        loop = asyncio.get_running_loop()
        cutter = StripeCutter(self._layout.stripe_size)
        encoding: asyncio.Future[list[bytes]] | None = None
        # One stripe encodes in a worker thread while the next one is read from the body.
        async for chunk in body:
            for stripe in cutter.feed(chunk):
                next_encoding = loop.run_in_executor(self._executor, self._codec.encode_stripe, stripe)
                if encoding is not None:
                    await self._dispatch(blob_id, streams, errors, await encoding)
                encoding = next_encoding
        last = cutter.finish()
        if last is not None:
            next_encoding = loop.run_in_executor(self._executor, self._codec.encode_stripe, last)
            if encoding is not None:
                await self._dispatch(blob_id, streams, errors, await encoding)
            encoding = next_encoding
        if encoding is not None:
            await self._dispatch(blob_id, streams, errors, await encoding)
        deadline = loop.time() + self._config.write_stall_timeout_s
        for stream in streams:
            await stream.put(_END, deadline)
        return cutter.bytes_fed

    async def _dispatch(
        self,
        blob_id: bytes,
        streams: list[_ShardStream],
        errors: dict[int, BaseException],
        pieces: list[bytes],
    ) -> None:
        deadline = asyncio.get_running_loop().time() + self._config.write_stall_timeout_s
        for stream in streams:
            await stream.put(pieces[stream.index], deadline)
        self._check_reachable(blob_id, streams, errors)

    def _check_reachable(
        self, blob_id: bytes, streams: list[_ShardStream], errors: dict[int, BaseException]
    ) -> None:
        """Raise as soon as too many streams failed for the quorum to be reached."""
        alive = sum(1 for s in streams if not s.failed)
        if alive < self._quorum:
            failed = {s.index: s.error or DataNodeError("not started") for s in streams if s.failed}
            acked = [s.index for s in streams if s.task is not None and s.task.done() and not s.failed]
            raise WriteQuorumError(blob_id, acked, self._quorum, {**errors, **failed})

    async def _await_acks(
        self, blob_id: bytes, streams: list[_ShardStream], errors: dict[int, BaseException]
    ) -> dict[int, ShardInfo]:
        loop = asyncio.get_running_loop()
        pending = {s.task for s in streams if s.task is not None and not s.failed}
        by_task = {s.task: s for s in streams if s.task is not None}
        quorum_at: float | None = None
        while pending:
            done_ok = sum(1 for t, s in by_task.items() if t.done() and not s.failed)
            if done_ok >= self._quorum:
                quorum_at = quorum_at if quorum_at is not None else loop.time()
                timeout: float | None = max(
                    0.0, quorum_at + self._config.write_straggler_timeout_s - loop.time()
                )
            else:
                self._check_reachable(blob_id, streams, errors)
                timeout = None
            done, pending = await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if not done:
                for task in pending:
                    by_task[task].drop(NodeStalled("still writing after the quorum was durable"))
                break
        return {s.index: s.task.result() for s in streams if s.task is not None and not s.failed}

    def _result(
        self,
        blob_id: bytes,
        pg: int,
        size: int,
        streams: list[_ShardStream],
        errors: dict[int, BaseException],
        infos: dict[int, ShardInfo],
    ) -> WrittenBlob:
        layout = self._layout
        shard_length = layout.shard_len(size)
        durable: list[int] = []
        for stream in streams:
            info = infos.get(stream.index)
            if info is None:
                errors[stream.index] = stream.error or DataNodeError("no acknowledgement")
            elif info.length != shard_length or info.key != stream.key:
                errors[stream.index] = DataNodeError(
                    f"{stream.addr} acknowledged {info.key} with {info.length} bytes, expected {shard_length}"
                )
            else:
                durable.append(stream.index)
        for index, error in sorted(errors.items()):
            log.warning("blob %s shard %d not durable: %r", blob_id.hex(), index, error)
        if len(durable) < self._quorum:
            raise WriteQuorumError(blob_id, durable, self._quorum, errors)
        ref = BlobRef(
            blob_id=blob_id,
            pg=pg,
            size=size,
            stripe_size=layout.stripe_size,
            data_shards=layout.k,
            parity_shards=layout.m,
        )
        missing = tuple(i for i in range(layout.n) if i not in durable)
        return WrittenBlob(ref=ref, durable=tuple(durable), missing=missing, shard_length=shard_length)


async def _cancel_all(streams: list[_ShardStream]) -> None:
    tasks = [s.task for s in streams if s.task is not None and not s.task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
