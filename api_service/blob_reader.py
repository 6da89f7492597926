"""Reading a byte range of one blob: data pieces first, parity and decoding when a piece is bad.

DESIGN.md "Read path". Only the stripes covering the range are read, in windows of
`read_window_stripes` stripes: per window, one `read_shard` stream per node covers all its stripes
(never one RPC per stripe). Each stream is re-framed into whole pieces by the layout arithmetic and
prefetched a few pieces ahead. A stream's deadline grows with its span
(`BlobIOConfig.read_deadline`) because a slow S3 client pauses it through back-pressure; a node
that is alive but silent is caught by the per-piece stall timeout instead.

A stripe the range covers only in part (its first or last) is read first from just the data
pieces that hold the range's bytes; if any of them cannot be had, that stripe is read whole as
below, which finds, reports and works around the fault. When the range lies in two stripes, both
in part, the two are read together, one call per data slot: a random 1 MiB range of 1 MiB
stripes costs 8 calls (9 pieces) instead of 16 pieces, and both stripes arrive at once.

For every stripe the reader gathers k valid pieces, starting from the k data slots. A piece that
cannot be had - no node in the slot, ShardNotFound, ShardCorrupt, a deadline or a stall
(`read_piece_timeout_s`), a short stream, or a header that does not match its slot (PieceMismatch) -
moves the slot to its next fallback node when it has one (a slot mid-migration: its old holder
first, then its new target), else marks that slot bad for the rest of the read, and the next
unused slot (parity) is opened from the current stripe on. With all k data pieces the stripe is their concatenation; otherwise it is
decoded in a worker thread.

Invariants:
- Never wrong or short bytes: every piece's CRC32C is checked by the client, every header by the
  codec; a stripe with fewer than k valid pieces raises `ReadQuorumError` before any of its bytes
  are yielded.
- Memory is bounded by (k + m) * (read_prefetch_pieces + 1) pieces whatever the range.
- Corrupt and missing shards are reported through `on_fault`, when one is given (the production
  app's sends them to the repair queue, repair_reports.py); a shard missing on a node the slot
  has a fallback for is not (mid-migration, it is expected). The callback must not block.
- Every stream the reader opened is cancelled when the read ends, fails or is abandoned.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor
from typing import Literal

from cairn.api_service.blob_io import (
    DEFAULT_CONFIG,
    BlobIOConfig,
    DataNodePool,
    NodeStalled,
    ReadQuorumError,
    ShardFault,
    codec_for,
    layout_of,
)
from cairn.blobs import BlobRef
from cairn.datanode.errors import DataNodeError, DataNodeUnavailable, ShardCorrupt, ShardNotFound
from cairn.datanode.shards import ShardKey
from cairn.erasure import HEADER_LEN, ErasureCodec, PieceMismatch, StripeLayout

log = logging.getLogger(__name__)

FaultCallback = Callable[[ShardFault], None]


class _ShortShard(ShardCorrupt):
    """A shard stream ended before the pieces the layout says it holds."""


class _LostHedge(DataNodeError):
    """A node's piece was overdue and k pieces arrived from other nodes first (it is suspect)."""

    reason = "Slow"


class _PieceStream:
    """One read_shard stream over stripes [first, stop) of one shard, cut into whole pieces."""

    def __init__(
        self,
        index: int,
        addr: str,
        key: ShardKey,
        layout: StripeLayout,
        size: int,
        stripes: range,
        depth: int,
    ) -> None:
        self.index = index
        self.addr = addr
        self.key = key
        self._lengths = [layout.piece_span(size, s)[1] for s in stripes]
        self._span = layout.shard_span(size, stripes)
        self.position = stripes.start
        """Stripe of the next piece `piece` will take from the queue."""
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

    async def piece(self, stripe: int) -> bytes:
        """The piece of `stripe`, skipping pieces of earlier stripes that no one took (this stream
        lost a hedge race for them). Cancelling the wait consumes nothing."""
        while True:
            item = await self.queue.get()
            if isinstance(item, BaseException):
                raise item
            current, self.position = self.position, self.position + 1
            if current == stripe:
                return item
            if current > stripe:
                raise RuntimeError(f"{self.key}: piece of stripe {stripe} already consumed")

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
        self._health = pool.health
        self._config = config
        self._executor = executor
        self._on_fault = on_fault

    async def read(
        self,
        blob: BlobRef,
        nodes: Sequence[str | None],
        start: int = 0,
        end: int | None = None,
        fallbacks: Mapping[int, Sequence[str]] | None = None,
    ) -> AsyncIterator[bytes]:
        """Yield blob bytes [start, end] (inclusive; `end` None means the last byte), one stripe's
        worth at a time. `nodes` are the PG's node addresses in slot order (None: empty/down slot);
        `fallbacks[slot]` are more addresses to try, in order, for a slot whose node fails.
        Raises ReadQuorumError when a stripe has fewer than k valid pieces."""
        layout = layout_of(blob)
        if len(nodes) != layout.n:
            raise ValueError(f"expected {layout.n} node slots, got {len(nodes)}")
        end = blob.size - 1 if end is None else end
        if blob.size == 0 or end < start:
            return
        stripes = layout.stripes_for_range(blob.size, start, end)
        state = _ReadState(blob, layout, nodes, fallbacks or {})
        first, stop = stripes.start, stripes.stop
        if len(stripes) == 2 and not any(state.covers(s, start, end) for s in stripes):
            for data in await self._parts(state, stripes, start, end):  # one call per slot
                yield data
            return
        if not state.covers(first, start, end):
            yield (await self._parts(state, range(first, first + 1), start, end))[0]
            first += 1
        last = stop - 1 if stop > first and not state.covers(stop - 1, start, end) else None
        if last is not None:
            stop -= 1
        window = self._config.read_window_stripes
        for lo_stripe in range(first, stop, window):
            run = range(lo_stripe, min(lo_stripe + window, stop))
            async for data in self._window(state, run):
                yield data
        if last is not None:
            yield (await self._parts(state, range(last, last + 1), start, end))[0]

    async def _window(self, state: _ReadState, run: range) -> AsyncGenerator[bytes]:
        """The whole stripes of `run`, over one stream per slot."""
        streams: dict[int, _PieceStream] = {}
        state.hedges_left = self._config.hedges(state.layout)
        try:
            for s in run:
                yield await self._stripe(state, streams, s, run)
        finally:
            await _cancel_all(streams.values())

    async def _parts(self, state: _ReadState, run: range, start: int, end: int) -> list[bytes]:
        """Blob bytes [start, end] that each stripe of `run` holds (one or two consecutive
        stripes, each covered only in part), per stripe: read from the data pieces holding them
        alone, one call per slot for both stripes, when each can be had, else each stripe whole."""
        layout = state.layout
        spans: list[tuple[int, int, range]] = []  # per stripe: its bytes [lo, hi) and their slots
        for s in run:
            stripe_start, stripe_len = layout.stripe_start(s), state.stripe_len(s)
            lo, hi = max(start - stripe_start, 0), min(end + 1 - stripe_start, stripe_len)
            spans.append((lo, hi, layout.data_pieces_for(stripe_len, lo, hi)))
        needs: dict[int, range] = {}  # per slot, the stripes of `run` it holds bytes of
        for s, (_, _, slots) in zip(run, spans, strict=True):
            for i in slots:
                needs[i] = range(needs[i].start if i in needs else s, s + 1)
        pieces = await self._data_pieces(state, needs)
        out: list[bytes] = []
        for s, (lo, hi, slots) in zip(run, spans, strict=True):
            if pieces is None:
                whole = self._window(state, range(s, s + 1))
                try:
                    out.append((await anext(whole))[lo:hi])
                finally:
                    await whole.aclose()
                continue
            skip = lo - slots.start * layout.piece_payload(state.stripe_len(s))
            joined = b"".join(memoryview(pieces[s, i])[HEADER_LEN:] for i in slots)
            out.append(joined[skip : skip + hi - lo])
        return out

    async def _data_pieces(
        self, state: _ReadState, needs: Mapping[int, range]
    ) -> dict[tuple[int, int], bytes] | None:
        """The pieces of `needs` (slot -> consecutive stripes), keyed (stripe, slot): one stream
        per slot, every piece valid; None as soon as one slot has no usable node, or a piece
        fails, does not match or is not in within the hedge delay (the caller then reads the
        stripes whole, which hedges, reports the fault and decodes)."""
        usable = {
            i: a
            for i in needs
            if (a := state.nodes[i]) is not None and i not in state.bad and self._health.available(a)
        }
        if len(usable) < len(needs):
            return None
        blob = state.blob
        streams = [
            _PieceStream(i, a, ShardKey(blob.blob_id, i), state.layout, blob.size, needs[i], len(needs[i]))
            for i, a in usable.items()
        ]
        loop = asyncio.get_running_loop()
        started = loop.time()
        for stream in streams:
            stream.start(self._pool, self._config)
        codec, config = codec_for(state.layout), self._config
        delay = self._health.hedge_delay(
            config.read_hedge_min_s, config.read_hedge_p95_factor, config.read_piece_timeout_s
        )

        async def take(stream: _PieceStream) -> list[tuple[tuple[int, int], bytes]]:
            return [((s, stream.index), await stream.piece(s)) for s in needs[stream.index]]

        pieces: dict[tuple[int, int], bytes] = {}
        try:
            async with asyncio.timeout(delay):
                for taken in await asyncio.gather(*(take(stream) for stream in streams)):
                    pieces.update(taken)
            for (s, i), piece in pieces.items():
                codec.check_piece(i, piece, state.stripe_len(s))
        except Exception as exc:  # noqa: BLE001 - any failure sends the stripes to the whole read
            log.debug("blob %s: reading stripes whole after %r", state.blob.blob_id.hex(), exc)
            return None
        finally:
            await _cancel_all(streams)
        took = loop.time() - started  # the slowest piece's: the hedge delay errs long
        for stream in streams:
            self._health.record_success(stream.addr)
            self._health.record_latency(took)
        return pieces

    async def _stripe(self, state: _ReadState, streams: dict[int, _PieceStream], s: int, run: range) -> bytes:
        layout, codec = state.layout, codec_for(state.layout)
        stripe_len = layout.stripe_len(state.blob.size, s)
        pieces: dict[int, bytes] = {}
        gets: dict[asyncio.Future[bytes], _PieceStream] = {}
        try:
            await self._collect(state, streams, s, run, pieces, gets, codec, stripe_len)
        finally:
            for fut in gets:
                fut.cancel()
            if gets:
                await asyncio.gather(*gets, return_exceptions=True)
        if all(i in pieces for i in range(layout.k)):
            return b"".join(memoryview(pieces[i])[HEADER_LEN:] for i in range(layout.k))[:stripe_len]
        loop = asyncio.get_running_loop()
        chosen = dict(sorted(pieces.items())[: layout.k])
        return await loop.run_in_executor(self._executor, codec.decode_stripe, chosen, stripe_len)

    async def _collect(
        self,
        state: _ReadState,
        streams: dict[int, _PieceStream],
        s: int,
        run: range,
        pieces: dict[int, bytes],
        gets: dict[asyncio.Future[bytes], _PieceStream],
        codec: ErasureCodec,
        stripe_len: int,
    ) -> None:
        """Take stripe `s`'s piece from the window's streams until k are valid. A failed or stalled
        stream marks its slot bad and is replaced by the next usable slot; a piece not arrived after
        the hedge delay opens one extra (hedge) stream; once k pieces are in, a loser that was
        overdue is dropped from the read and its node marked suspect, the others stay open."""
        k, config, loop = state.layout.k, self._config, asyncio.get_running_loop()
        delay = self._health.hedge_delay(
            config.read_hedge_min_s, config.read_hedge_p95_factor, config.read_piece_timeout_s
        )
        started: dict[int, float] = {}
        can_hedge = True  # until the window's hedge budget or its free slots run out
        while len(pieces) < k:
            live = sum(1 for i in streams if i not in pieces and i not in state.bad)
            self._open(state, streams, s, run, k - len(pieces) - live)
            for index, stream in streams.items():
                if index not in pieces and index not in state.bad and index not in started:
                    started[index] = loop.time()
                    gets[asyncio.ensure_future(stream.piece(s))] = stream
            if not gets:
                raise ReadQuorumError(state.blob.blob_id, s, len(pieces), k, dict(state.bad))
            waits = sorted(started[st.index] for st in gets.values())
            wake = waits[0] + config.read_piece_timeout_s
            extra = len(gets) - (k - len(pieces))  # streams beyond the pieces still needed
            if can_hedge and state.hedges_left > 0 and extra < len(waits):
                # one more hedge once more streams are overdue than there are extra streams
                wake = min(wake, waits[extra] + delay)
            done, _ = await asyncio.wait(
                gets, timeout=max(0.0, wake - loop.time()), return_when=asyncio.FIRST_COMPLETED
            )
            now = loop.time()
            for fut in done:
                stream = gets.pop(fut)
                error = fut.exception()
                if error is None:
                    try:
                        codec.check_piece(stream.index, fut.result(), stripe_len)
                    except PieceMismatch as exc:
                        error = exc
                if error is None:
                    pieces[stream.index] = fut.result()
                    self._health.record_success(stream.addr)
                    self._health.record_latency(now - started[stream.index])
                else:
                    self._fail(state, streams, started, stream, error)
            for fut, stream in list(gets.items()):
                if now - started[stream.index] >= config.read_piece_timeout_s:
                    fut.cancel()
                    del gets[fut]
                    stalled = NodeStalled(f"{stream.addr} delivered no piece in time")
                    self._fail(state, streams, started, stream, stalled)
            if len(pieces) >= k or not can_hedge or state.hedges_left <= 0:
                continue
            overdue = sum(1 for st in gets.values() if now - started[st.index] >= delay)
            if overdue > len(gets) - (k - len(pieces)):
                if self._open(state, streams, s, run, 1, hedge=True):
                    state.hedges_left -= 1
                else:
                    can_hedge = False
        for fut, stream in list(gets.items()):
            if fut.done() or loop.time() - started[stream.index] < delay:
                continue  # it keeps its stream; the next stripe skips this piece
            fut.cancel()
            del gets[fut]
            lost = _LostHedge(f"{stream.addr} slower than the hedge delay {delay:.3f}s")
            self._fail(state, streams, started, stream, lost)

    def _open(
        self,
        state: _ReadState,
        streams: dict[int, _PieceStream],
        s: int,
        run: range,
        wanted: int,
        hedge: bool = False,
    ) -> int:
        """Open streams on the next `wanted` unused, usable slots, from stripe `s` to the window end:
        first on nodes the health memory does not suspect, then (never for a hedge) on suspect ones
        rather than fail. Returns how many were opened."""
        opened = 0
        for avoid_suspects in (True,) if hedge else (True, False):
            for index in range(state.layout.n):
                if opened >= wanted:
                    return opened
                if index in streams or index in state.bad:
                    continue
                addr = state.nodes[index]
                if addr is None:
                    state.bad[index] = DataNodeError("no node in this slot")
                    continue
                if avoid_suspects and not self._health.available(addr):
                    continue
                stream = _PieceStream(
                    index,
                    addr,
                    ShardKey(state.blob.blob_id, index),
                    state.layout,
                    state.blob.size,
                    range(s, run.stop),
                    self._config.read_prefetch_pieces,
                )
                stream.start(self._pool, self._config)
                streams[index] = stream
                opened += 1
        return opened

    def _fail(
        self,
        state: _ReadState,
        streams: dict[int, _PieceStream],
        started: dict[int, float],
        stream: _PieceStream,
        error: BaseException,
    ) -> None:
        """The stream failed: move its slot to the slot's next fallback node (the next `_open`
        opens it), or mark the slot bad when it has none."""
        fallbacks = state.fallbacks.get(stream.index)
        self._mark_bad(state, stream, error, retried=bool(fallbacks))
        if fallbacks:
            state.nodes[stream.index] = fallbacks.pop(0)
            del state.bad[stream.index]
            if streams.get(stream.index) is stream:
                del streams[stream.index]
            started.pop(stream.index, None)

    def _mark_bad(
        self, state: _ReadState, stream: _PieceStream, error: BaseException, retried: bool = False
    ) -> None:
        state.bad[stream.index] = error
        stream.cancel()
        if isinstance(error, NodeStalled | DataNodeUnavailable | _LostHedge):
            self._health.record_failure(stream.addr)
        level = logging.INFO if isinstance(error, _LostHedge) else logging.WARNING
        log.log(
            level,
            "blob %s: shard %d on %s unusable%s: %r",
            state.blob.blob_id.hex(),
            stream.index,
            stream.addr,
            " (trying the slot's next node)" if retried else "",
            error,
        )
        if retried and isinstance(error, ShardNotFound):
            return  # a slot mid-migration: the next node may have it
        kind: Literal["corrupt", "missing"] | None = (
            "corrupt"
            if isinstance(error, ShardCorrupt | PieceMismatch)
            else "missing"
            if isinstance(error, ShardNotFound)
            else None
        )
        if kind is not None and self._on_fault is not None:
            try:
                self._on_fault(ShardFault(key=stream.key, addr=stream.addr, kind=kind, pg=state.blob.pg))
            except Exception:  # noqa: BLE001 - reporting must never fail a read
                log.exception("shard fault callback failed")


class _ReadState:
    """What one read knows across windows: the blob, its layout and the slots found bad."""

    def __init__(
        self,
        blob: BlobRef,
        layout: StripeLayout,
        nodes: Sequence[str | None],
        fallbacks: Mapping[int, Sequence[str]],
    ) -> None:
        self.blob = blob
        self.layout = layout
        self.nodes = list(nodes)
        self.fallbacks = {slot: list(addrs) for slot, addrs in fallbacks.items() if addrs}
        """Per slot, the addresses still to try after the current one fails."""
        self.bad: dict[int, BaseException] = {}
        self.hedges_left = 0
        """Hedge streams the current window may still open."""

    def stripe_len(self, s: int) -> int:
        return self.layout.stripe_len(self.blob.size, s)

    def covers(self, s: int, start: int, end: int) -> bool:
        """Whether blob bytes [start, end] hold all of stripe `s`."""
        first = self.layout.stripe_start(s)
        return start <= first and first + self.stripe_len(s) <= end + 1


async def _cancel_all(streams: Iterable[_PieceStream]) -> None:
    tasks = [st.task for st in streams if st.task is not None]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
