"""Reading a byte range of one blob: data pieces first, parity and decoding when a piece is bad.

DESIGN.md "Read path". Only the stripes covering the range are read, in windows of
`read_window_stripes` stripes: per window, one `read_shard` stream per node covers all its stripes
(never one RPC per stripe). Each stream is re-framed into whole pieces by the layout arithmetic and
prefetched a few pieces ahead. A stream's deadline grows with its span
(`BlobIOConfig.read_deadline`) because a slow S3 client pauses it through back-pressure; a node
that is alive but silent is caught by the per-piece stall timeout instead.

For every stripe the reader gathers k valid pieces, starting from the k data slots. A piece that
cannot be had - no node in the slot, ShardNotFound, ShardCorrupt, a deadline or a stall
(`read_piece_timeout_s`), a short stream, or a header that does not match its slot (PieceMismatch) -
marks that slot bad for the rest of the read, and the next unused slot (parity) is opened from the
current stripe on. With all k data pieces the stripe is their concatenation; otherwise it is
decoded in a worker thread.

Invariants:
- Never wrong or short bytes: every piece's CRC32C is checked by the client, every header by the
  codec; a stripe with fewer than k valid pieces raises `ReadQuorumError` before any of its bytes
  are yielded.
- Memory is bounded by (k + m) * (read_prefetch_pieces + 1) pieces whatever the range.
- Corrupt and missing shards are reported once per read through `on_fault` (for repair).
- Every stream the reader opened is cancelled when the read ends, fails or is abandoned.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import Executor

from cairn.api_service.blob_io import (
    DEFAULT_CONFIG,
    BlobIOConfig,
    BlobRef,
    DataNodePool,
    NodeStalled,
    ReadQuorumError,
    ShardFault,
    codec_for,
)
from cairn.datanode.errors import DataNodeError, ShardCorrupt, ShardNotFound
from cairn.datanode.shards import ShardKey
from cairn.erasure import HEADER_LEN, ErasureCodec, PieceMismatch, StripeLayout

log = logging.getLogger(__name__)

FaultCallback = Callable[[ShardFault], None]


class _ShortShard(ShardCorrupt):
    """A shard stream ended before the pieces the layout says it holds."""


class _PieceStream:
    """One read_shard stream over stripes [first, stop) of one shard, cut into whole pieces."""

    def __init__(self, index: int, addr: str, key: ShardKey, layout: StripeLayout, size: int,
                 stripes: range, depth: int) -> None:
        self.index = index
        self.addr = addr
        self.key = key
        self._lengths = [layout.piece_span(size, s)[1] for s in stripes]
        self._span = layout.shard_span(size, stripes)
        self.queue: asyncio.Queue[bytes | BaseException] = asyncio.Queue(maxsize=depth)
        self.task: asyncio.Task[None] | None = None

    def start(self, pool: DataNodePool, config: BlobIOConfig) -> None:
        self.task = asyncio.create_task(self._run(pool, config.read_deadline(self._span[1])))

    async def _run(self, pool: DataNodePool, timeout: float) -> None:
        try:
            client = pool.get(self.addr)
            offset, length = self._span
            lengths = iter(self._lengths)
            want = next(lengths)
            parts: list[bytes] = []
            have = 0
            async for chunk in client.read_shard(self.key, offset, length, timeout=timeout):
                view = memoryview(chunk)
                if want < 0 and len(view):
                    raise ShardCorrupt(f"{self.key} on {self.addr}: more bytes than requested")
                while len(view) and want >= 0:
                    take = min(len(view), want - have)
                    parts.append(bytes(view[:take]))
                    have += take
                    view = view[take:]
                    if have == want:
                        await self.queue.put(parts[0] if len(parts) == 1 else b"".join(parts))
                        parts, have = [], 0
                        want = next(lengths, -1)
                if want < 0 and len(view):
                    raise ShardCorrupt(f"{self.key} on {self.addr}: more bytes than requested")
            if want >= 0:
                raise _ShortShard(f"{self.key} on {self.addr}: stream ended early")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of one node is that slot's failure
            if not isinstance(exc, DataNodeError):
                log.warning("unexpected error reading %s from %s", self.key, self.addr, exc_info=True)
            await self.queue.put(exc)

    async def next_piece(self) -> bytes:
        item = await self.queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()


class BlobReader:
    """Reads byte ranges of blobs from the nodes of their placement group."""

    def __init__(
        self,
        pool: DataNodePool,
        config: BlobIOConfig = DEFAULT_CONFIG,
        executor: Executor | None = None,
        on_fault: FaultCallback | None = None,
    ) -> None:
        self._pool = pool
        self._config = config
        self._executor = executor
        self._on_fault = on_fault

    async def read(
        self, blob: BlobRef, nodes: Sequence[str | None], start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """Yield blob bytes [start, end] (inclusive; `end` None means the last byte), one stripe's
        worth at a time. `nodes` are the PG's node addresses in slot order (None: empty/down slot).
        Raises ReadQuorumError when a stripe has fewer than k valid pieces."""
        layout = blob.layout
        if len(nodes) != layout.n:
            raise ValueError(f"expected {layout.n} node slots, got {len(nodes)}")
        end = blob.size - 1 if end is None else end
        if blob.size == 0 or end < start:
            return
        stripes = layout.stripes_for_range(blob.size, start, end)
        state = _ReadState(blob, layout, nodes)
        window = self._config.read_window_stripes
        for first in range(stripes.start, stripes.stop, window):
            run = range(first, min(first + window, stripes.stop))
            streams: dict[int, _PieceStream] = {}
            try:
                for s in run:
                    data = await self._stripe(state, streams, s, run)
                    lo = max(start - layout.stripe_start(s), 0)
                    hi = min(end + 1 - layout.stripe_start(s), len(data))
                    yield data[lo:hi] if (lo, hi) != (0, len(data)) else data
            finally:
                await _cancel_all(streams.values())

    async def _stripe(self, state: _ReadState, streams: dict[int, _PieceStream], s: int,
                      run: range) -> bytes:
        layout, codec = state.layout, codec_for(state.layout)
        stripe_len = layout.stripe_len(state.blob.size, s)
        pieces: dict[int, bytes] = {}
        while len(pieces) < layout.k:
            self._open(state, streams, s, run, layout.k - len(pieces) - sum(
                1 for i in streams if i not in pieces and i not in state.bad))
            waiting = [st for i, st in streams.items() if i not in pieces and i not in state.bad]
            if not waiting:
                raise ReadQuorumError(state.blob.blob_id, s, len(pieces), layout.k, dict(state.bad))
            await self._gather(state, streams, waiting, pieces, codec, stripe_len)
        if all(i in pieces for i in range(layout.k)):
            return b"".join(memoryview(pieces[i])[HEADER_LEN:] for i in range(layout.k))[:stripe_len]
        loop = asyncio.get_running_loop()
        chosen = dict(sorted(pieces.items())[: layout.k])
        return await loop.run_in_executor(self._executor, codec.decode_stripe, chosen, stripe_len)

    def _open(self, state: _ReadState, streams: dict[int, _PieceStream], s: int, run: range,
              wanted: int) -> None:
        """Open streams on the next `wanted` unused, usable slots, from stripe `s` to the window end."""
        for index in range(state.layout.n):
            if wanted <= 0:
                return
            if index in streams or index in state.bad:
                continue
            addr = state.nodes[index]
            if addr is None:
                state.bad[index] = DataNodeError("no node in this slot")
                continue
            stream = _PieceStream(index, addr, ShardKey(state.blob.blob_id, index), state.layout,
                                  state.blob.size, range(s, run.stop), self._config.read_prefetch_pieces)
            stream.start(self._pool, self._config)
            streams[index] = stream
            wanted -= 1

    async def _gather(self, state: _ReadState, streams: dict[int, _PieceStream],
                      waiting: list[_PieceStream], pieces: dict[int, bytes], codec: ErasureCodec,
                      stripe_len: int) -> None:
        """Take the current stripe's piece from every stream in `waiting`, concurrently, within the
        stall timeout; any failure marks the slot bad and cancels its stream."""
        gets = {asyncio.ensure_future(st.next_piece()): st for st in waiting}
        done, pending = await asyncio.wait(gets, timeout=self._config.read_piece_timeout_s)
        for fut in pending:
            fut.cancel()
        for fut, stream in gets.items():
            error: BaseException | None
            if fut in pending:
                error = NodeStalled(f"{stream.addr} delivered no piece in time")
            else:
                error = fut.exception()
            if error is None:
                try:
                    codec.check_piece(stream.index, fut.result(), stripe_len)
                    pieces[stream.index] = fut.result()
                    continue
                except PieceMismatch as exc:
                    error = exc
            self._mark_bad(state, stream, error)
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    def _mark_bad(self, state: _ReadState, stream: _PieceStream, error: BaseException) -> None:
        state.bad[stream.index] = error
        stream.cancel()
        log.warning("blob %s: shard %d on %s unusable: %r", state.blob.blob_id.hex(), stream.index,
                    stream.addr, error)
        kind = ("corrupt" if isinstance(error, ShardCorrupt | PieceMismatch) else
                "missing" if isinstance(error, ShardNotFound) else None)
        if kind is not None and self._on_fault is not None:
            try:
                self._on_fault(ShardFault(key=stream.key, addr=stream.addr, kind=kind))
            except Exception:  # noqa: BLE001 - reporting must never fail a read
                log.exception("shard fault callback failed")


class _ReadState:
    """What one read knows across windows: the blob, its layout and the slots found bad."""

    def __init__(self, blob: BlobRef, layout: StripeLayout, nodes: Sequence[str | None]) -> None:
        self.blob = blob
        self.layout = layout
        self.nodes = nodes
        self.bad: dict[int, BaseException] = {}


async def _cancel_all(streams: Iterable[_PieceStream]) -> None:
    tasks = [st.task for st in streams if st.task is not None]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
