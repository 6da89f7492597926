"""The shard store: the `ShardStore` protocol and its disk implementation.

`DiskShardStore` keeps shards as records in volume files (volume.py) with a SQLite index
(index.py), recovers both on open (recovery.py) and appends through writer lanes with group
commit (lanes.py). `MemoryShardStore` (memory_store.py) is the in-memory twin.

Invariants:
- A write returns only once its record and index row are durable; a failed or abandoned
  write indexes nothing. Writes are idempotent by key: the same bytes again succeed; other
  bytes raise ShardConflict; a deleted key raises ShardDeleted (no resurrection). Deleting a
  key the node never held records a tombstone too, so a write arriving later is refused.
  A *released* key (`delete(..., release=True)`: a copy given up by a node that no longer holds
  its slot, the blob still alive) has a tombstone recorded under `RELEASED_PG`: it reads and
  lists as gone from its PG, and a later write of the key is stored like a new one.
- A read verifies every checksum it touches and reports damage as ShardCorrupt, never as
  ShardNotFound. A dead shard reads as ShardNotFound.
- Writes, deletes and rewrites of one key are serialised by a per-key lock that is held
  until the record's batch settles, even if the caller goes away.
- All blocking disk work runs in one bounded ThreadPoolExecutor, never on the event loop.
- A read pins the volume it reads (volume_set.py): compaction may switch the row and retire the
  volume meanwhile; a pinned volume stays open, an unpinned one is looked up again.
- Staged bytes of all in-flight writes held in memory never exceed `staging_memory_bytes`
  (one MemoryBudget); a write that would exceed it spools to disk instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cairn.checksums import crc32c
from cairn.datanode import compaction
from cairn.datanode.compaction_record import RECORD_NAME, CompactionRecord
from cairn.datanode.config import StorageConfig
from cairn.datanode.errors import (
    DataNodeUnavailable,
    InvalidRange,
    LengthMismatch,
    NodeFull,
    PieceChecksumMismatch,
    ShardConflict,
    ShardCorrupt,
    ShardDeleted,
    ShardNotFound,
)
from cairn.datanode.index import IndexEntry, ShardIndex
from cairn.datanode.lanes import Lane, PendingRecord
from cairn.datanode.recovery import INDEX_NAME, recover
from cairn.datanode.shards import (
    RELEASED_PG,
    UNKNOWN_PG,
    NodeState,
    ShardInfo,
    ShardKey,
    ShardState,
    WriteResult,
)
from cairn.datanode.staging import MemoryBudget, StagedPayload
from cairn.datanode.volume import (
    DEFAULT_BLOCK_SIZE,
    Fsync,
    RecordKind,
    VolumeFile,
    record_size,
)
from cairn.datanode.volume_set import PinnedChunks, VolumeSet

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StoreStats:
    capacity_bytes: int
    used_bytes: int
    live_shards: int
    dead_shards: int
    volumes: int
    sealed_volumes: int
    state: NodeState


@dataclass(frozen=True, slots=True)
class ShardRead:
    """An opened read: the shard, the byte range [start, end) and its verified chunks."""

    info: ShardInfo
    start: int
    end: int
    chunks: AsyncIterator[bytes]


@dataclass(frozen=True, slots=True)
class RangeRead:
    """A range read whole: the shard, where the range starts and its verified bytes."""

    info: ShardInfo
    offset: int
    data: bytes


class ShardStore(Protocol):
    async def write(
        self,
        key: ShardKey,
        pg: int,
        pieces: AsyncIterable[tuple[bytes, int]],
        expected_length: int | None = None,
    ) -> WriteResult: ...

    async def write_whole(
        self, key: ShardKey, pg: int, data: bytes, crc: int, expected_length: int | None = None
    ) -> WriteResult: ...

    async def open_read(self, key: ShardKey, offset: int = 0, length: int | None = None) -> ShardRead: ...

    async def read_ranges(
        self, reads: Sequence[tuple[ShardKey, int, int | None]]
    ) -> list[RangeRead | Exception]: ...

    async def delete(self, keys: Sequence[ShardKey], release: bool = False) -> int: ...

    async def list_pg(self, pg: int, after: ShardKey | None, limit: int) -> list[ShardInfo]: ...

    async def stats(self) -> StoreStats: ...

    async def close(self) -> None: ...


class DiskShardStore:
    """Shards in volume files under `<data_dir>/volumes`, indexed in `<data_dir>/index.db`."""

    def __init__(self, data_dir: Path, storage: StorageConfig, capacity_bytes: int, fsync: Fsync) -> None:
        self.data_dir = data_dir
        self._storage = storage
        self._capacity = capacity_bytes
        self._fsync = fsync
        self._pool = ThreadPoolExecutor(storage.io_threads, thread_name_prefix="datanode-io")
        self._volumes_dir = data_dir / "volumes"
        self._spool_dir = data_dir / "tmp"
        self.staging_budget = MemoryBudget(storage.staging_memory_bytes)  # shared by all writes
        self._volumes = VolumeSet({}, 1)
        self._seq = 0
        self._lanes: list[Lane] = []
        self._rr = 0  # round-robin start among equally busy lanes
        self._locks: dict[ShardKey, tuple[asyncio.Lock, int]] = {}
        self._closing = False
        self.recovered_rebuilt = False
        self.recovered_truncated_bytes = 0
        self.recovered_quarantined: list[int] = []  # volumes sealed for having lost records
        self.recovered_compaction: compaction.CompactionResult | None = None  # a job settled on start

    @classmethod
    async def open(
        cls, data_dir: Path, storage: StorageConfig, capacity_bytes: int, fsync: Fsync = os.fsync
    ) -> DiskShardStore:
        """Recover (truncate torn tails, rebuild or reconcile the index) and start the lanes."""
        store = cls(data_dir, storage, capacity_bytes, fsync)
        try:
            await store._run(store._prepare)
        except BaseException:
            store._pool.shutdown(wait=False)
            raise
        for lane in store._lanes:
            lane.start()
        return store

    def _prepare(self) -> None:
        for directory in (self.data_dir, self._volumes_dir, self._spool_dir):
            directory.mkdir(parents=True, exist_ok=True)
        recovered = recover(self._volumes_dir, self.data_dir / INDEX_NAME, self._fsync)
        self._index = recovered.index
        self._volumes = VolumeSet(recovered.volumes, max([*recovered.volumes, *self._index.volumes(), 0]) + 1)
        self.recovered_rebuilt = recovered.rebuilt
        self.recovered_truncated_bytes = recovered.truncated_bytes
        self.recovered_quarantined = recovered.quarantined
        self.recovered_compaction = compaction.resume(
            compaction.Parts(
                self._index,
                self._volumes,
                self._volumes_dir,
                CompactionRecord(self.compaction_record_path),
                self._fsync,
            )
        )
        self._seq = self._index.max_seq()
        writable = sorted((v for v in self._volumes.all() if not v.sealed), key=lambda v: v.volume_id)
        for extra in writable[self._storage.writer_lanes :]:
            extra.seal(self._fsync)
            self._index.mark_sealed(extra.volume_id, extra.data_end)
        writable = writable[: self._storage.writer_lanes]
        while len(writable) < self._storage.writer_lanes:
            writable.append(self._new_volume())
        for number, volume in enumerate(writable):
            self._lanes.append(
                Lane(
                    number,
                    volume,
                    self._index,
                    self._run,
                    self._next_seq,
                    self._new_volume,
                    self._fsync,
                    self._storage.group_commit_window_ms / 1000,
                    self._storage.max_batch_bytes,
                    self._storage.volume_size_limit_bytes,
                )
            )

    def _new_volume(self) -> VolumeFile:
        volume = VolumeFile.create(self._volumes_dir, self._volumes.allocate_id(), self._fsync)
        self._volumes.add(volume)
        return volume

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        return asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args))

    def run_blocking(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run blocking `fn(*args)` in the store's bounded thread pool."""
        return self._run(fn, *args)

    @property
    def lanes(self) -> Sequence[Lane]:
        return tuple(self._lanes)

    @property
    def used_bytes(self) -> int:
        return self._volumes.used_bytes

    # -- what compaction and scrub work on ------------------------------------------------

    @property
    def index(self) -> ShardIndex:
        return self._index

    @property
    def volume_set(self) -> VolumeSet:
        return self._volumes

    @property
    def volumes_dir(self) -> Path:
        return self._volumes_dir

    @property
    def compaction_record_path(self) -> Path:
        return self.data_dir / RECORD_NAME

    @property
    def fsync(self) -> Fsync:
        return self._fsync

    def writable_volume_ids(self) -> list[int]:
        """The writer lanes' read-write volumes (never compacted while read-write)."""
        return [lane.volume.volume_id for lane in self._lanes]

    async def seal_writable(self, volume_ids: Collection[int]) -> None:
        """Seal the lanes' read-write volumes named (between two batches; each such lane goes on
        in a fresh volume), so that compaction can take them."""
        await asyncio.gather(*(lane.rotate() for lane in self._lanes if lane.volume.volume_id in volume_ids))

    @contextlib.asynccontextmanager
    async def _key_lock(self, key: ShardKey) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def _check_open(self) -> None:
        if self._closing:
            raise DataNodeUnavailable("the data node is stopping")

    def _pick_lane(self) -> Lane:
        """The fullest lane still under `lane_fill_bytes` (records coalesce into fewer, larger
        batches: each batch costs a thread hop, an fsync and a commit), else the least full.
        Ties go to a lane with no batch in flight, then round robin."""
        self._rr = (self._rr + 1) % len(self._lanes)
        n, fill = len(self._lanes), self._storage.lane_fill_bytes

        def rank(la: Lane) -> tuple[int, int, bool, int]:
            rotation = (la.number - self._rr) % n
            if la.queued_bytes < fill:
                return (0, -la.queued_bytes, la.busy, rotation)
            return (1, la.queued_bytes, la.busy, rotation)

        return min(self._lanes, key=rank)

    async def _commit(self, record: PendingRecord) -> IndexEntry:
        """Queue a record on a lane (`_pick_lane`) and wait until its batch is durable."""
        self._check_open()
        future = self._pick_lane().submit(record)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # Keep holding the key lock until the batch settles, so no other write of this
            # key can interleave with a record still on its way to disk.
            await asyncio.wait([future])
            raise

    # -- writes --------------------------------------------------------------------------

    async def write(
        self,
        key: ShardKey,
        pg: int,
        pieces: AsyncIterable[tuple[bytes, int]],
        expected_length: int | None = None,
    ) -> WriteResult:
        self._check_open()
        staged = self._staging()
        try:
            async for data, piece_crc in pieces:
                if crc32c(data) != piece_crc:
                    raise PieceChecksumMismatch(f"{key}: a piece's crc32c does not match its bytes")
                await self._stage(staged, data)
        except BaseException:
            staged.discard()
            raise
        return await self._store_staged(key, pg, staged, expected_length)

    async def write_whole(
        self, key: ShardKey, pg: int, data: bytes, crc: int, expected_length: int | None = None
    ) -> WriteResult:
        """`write` of a shard that arrived in one piece, without the async iteration."""
        self._check_open()
        if crc32c(data) != crc:
            raise PieceChecksumMismatch(f"{key}: the shard's crc32c does not match its bytes")
        staged = self._staging()
        try:
            await self._stage(staged, data)
        except BaseException:
            staged.discard()
            raise
        return await self._store_staged(key, pg, staged, expected_length)

    async def _stage(self, staged: StagedPayload, data: bytes) -> None:
        """Add bytes to a staged payload: in memory, or through the worker pool when they spool to disk."""
        if staged.would_spool(len(data)):
            await self._run(staged.add, data)
        else:
            staged.add(data)

    def _staging(self) -> StagedPayload:
        return StagedPayload(
            DEFAULT_BLOCK_SIZE, self._spool_dir, self._storage.spool_threshold_bytes, self.staging_budget
        )

    async def _store_staged(
        self, key: ShardKey, pg: int, staged: StagedPayload, expected_length: int | None
    ) -> WriteResult:
        """Commit fully received bytes under the key's lock; owns (and discards) `staged`.

        The first attempt goes to a lane marked `if_absent`: the lane looks the key up in the
        batch's own thread hop and writes the record only if the key is unknown (the common
        case: one hop per batch, none per write). A known key comes back as `present` and is
        settled here, still under the lock: dead, conflict, idempotent retry or repair.
        """
        record: PendingRecord | None = None
        try:
            staged.finish()
            if expected_length is not None and staged.length != expected_length:
                raise LengthMismatch(f"{key}: expected {expected_length} bytes, got {staged.length}")
            if self.used_bytes + record_size(staged.length) > self._capacity:
                raise NodeFull(f"writing {staged.length} bytes would exceed the node's capacity")
            async with self._key_lock(key):
                record = PendingRecord(RecordKind.SHARD, key, pg, staged, None, if_absent=True)
                entry = await self._commit(record)
                existing = record.present
                if existing is None:
                    return WriteResult(entry.info(), already_present=False)
                if existing.state is ShardState.DEAD and existing.pg == RELEASED_PG:
                    record = PendingRecord(RecordKind.SHARD, key, pg, staged, None)  # taken again
                    entry = await self._commit(record)
                    return WriteResult(entry.info(), already_present=False)
                if existing.state is ShardState.DEAD:
                    raise ShardDeleted(f"{key} was deleted on this node")
                if (existing.length, existing.crc32c) != (staged.length, staged.crc32c):
                    raise ShardConflict(f"{key} exists with different bytes")
                if await self._run(self._same_bytes, existing, staged):
                    return WriteResult(existing.info(), already_present=True)
                record = PendingRecord(RecordKind.SHARD, key, pg, staged, None)  # a repair
                entry = await self._commit(record)
                return WriteResult(entry.info(), already_present=False)
        finally:
            # A lane owns a submitted record's bytes until its batch settles and then discards
            # them, except those of a record it found present, which come back to us.
            if (
                record is None
                or not record.submitted
                or (record.present is not None and record.future.done())
            ):
                staged.discard()

    def _same_bytes(self, existing: IndexEntry, staged: StagedPayload) -> bool:
        """Whether the stored shard holds exactly the staged bytes (blocking).

        Raises ShardConflict when they differ; returns False when the stored copy is corrupt,
        so the write stores a good copy (a repair).
        """
        try:
            stored = self._read_blocking(existing, 0, existing.length)
            try:
                if not _streams_equal(stored, staged.chunks()):
                    raise ShardConflict(f"{existing.key} exists with different bytes")
            finally:
                stored.close()
        except ShardConflict:
            raise
        except ShardCorrupt as exc:
            log.warning(
                "%s: stored copy is corrupt (%s); overwriting it with the new write", existing.key, exc
            )
            return False
        return True

    async def delete(self, keys: Sequence[ShardKey], release: bool = False) -> int:
        """Tombstone `keys`; returns how many were live. With `release` only live keys get a
        tombstone, under `RELEASED_PG`, which a later write replaces."""
        self._check_open()

        async def one(key: ShardKey) -> bool:
            async with self._key_lock(key):
                entry = await self._run(self._index.get, key)
                live = entry is not None and entry.state is ShardState.LIVE
                if release:
                    if live:
                        await self._commit(PendingRecord(RecordKind.TOMBSTONE, key, RELEASED_PG, None, entry))
                    return live
                if entry is not None and entry.state is ShardState.DEAD and entry.pg != RELEASED_PG:
                    return False
                # An unknown (or released) key gets a tombstone too: a write of it still on its
                # way here (a slow writer whose blob was already collected) must fail as
                # ShardDeleted, not be stored live with nothing left to ever remove it.
                pg = entry.pg if live and entry is not None else UNKNOWN_PG
                await self._commit(PendingRecord(RecordKind.TOMBSTONE, key, pg, None, entry))
                return live

        results = await asyncio.gather(*(one(k) for k in dict.fromkeys(keys)))
        return sum(results)

    # -- reads ---------------------------------------------------------------------------

    async def open_read(self, key: ShardKey, offset: int = 0, length: int | None = None) -> ShardRead:
        self._check_open()
        entry = await self._run(self._index.get, key)
        if entry is None or entry.state is ShardState.DEAD:
            raise ShardNotFound(f"no shard {key}")
        if offset < 0 or offset > entry.length or (length is not None and length < 0):
            raise InvalidRange(f"range at {offset} outside shard {key} of {entry.length} bytes")
        end = entry.length if length is None else min(entry.length, offset + length)
        chunks = await self._run(self._read_blocking, entry, offset, end)
        return ShardRead(entry.info(), offset, end, self._drive(chunks))

    async def read_ranges(
        self, reads: Sequence[tuple[ShardKey, int, int | None]]
    ) -> list[RangeRead | Exception]:
        """Read several (key, offset, length) ranges whole, in one thread hop with one index
        lookup for all; per range its bytes, or the error `open_read` would have raised."""
        self._check_open()
        return await self._run(self._read_ranges_blocking, reads)

    def _read_ranges_blocking(
        self, reads: Sequence[tuple[ShardKey, int, int | None]]
    ) -> list[RangeRead | Exception]:
        entries = self._index.get_many(key for key, _, _ in reads)
        out: list[RangeRead | Exception] = []
        for key, offset, length in reads:
            try:
                entry = entries.get(key)
                if entry is None or entry.state is ShardState.DEAD:
                    raise ShardNotFound(f"no shard {key}")
                if offset < 0 or offset > entry.length or (length is not None and length < 0):
                    raise InvalidRange(f"range at {offset} outside shard {key} of {entry.length} bytes")
                end = entry.length if length is None else min(entry.length, offset + length)
                chunks = self._read_blocking(entry, offset, end)
                try:
                    data = b"".join(chunks)
                finally:
                    chunks.close()
                out.append(RangeRead(entry.info(), offset, data))
            except Exception as exc:  # noqa: BLE001 - one range's failure is that range's answer
                out.append(exc)
        return out

    def _read_blocking(self, entry: IndexEntry, start: int, end: int) -> PinnedChunks:
        """Check the record header against the index; return the range's chunk iterator,
        which keeps the volume pinned until it ends or is closed."""
        volume = self._pin(entry)
        if volume is None:  # compaction moved the row since `entry` was read
            fresh = self._index.get(entry.key)
            if fresh is None or fresh.state is ShardState.DEAD:
                raise ShardNotFound(f"no shard {entry.key}")
            volume = (
                self._pin(fresh) if (fresh.volume, fresh.offset) != (entry.volume, entry.offset) else None
            )
            if volume is None:
                raise ShardCorrupt(f"{entry.key}: volume {entry.volume} is missing")
            entry = fresh
        try:
            header, crcs = volume.read_header(entry.offset)
            if (header.kind, header.key, header.length, header.crc32c) != (
                RecordKind.SHARD,
                entry.key,
                entry.length,
                entry.crc32c,
            ):
                raise ShardCorrupt(f"{entry.key}: record on disk does not match the index")
            chunks = volume.read_range(entry.offset, start, end, checked=(header, crcs))
        except BaseException:
            self._volumes.unpin(volume)
            raise
        return self._volumes.pinned_chunks(volume, chunks)

    def _pin(self, entry: IndexEntry) -> VolumeFile | None:
        return self._volumes.pin(entry.volume)

    async def _drive(self, chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
        while (chunk := await self._run(next, chunks, None)) is not None:
            yield chunk

    async def list_pg(self, pg: int, after: ShardKey | None, limit: int) -> list[ShardInfo]:
        self._check_open()
        return [e.info() for e in await self._run(self._index.list_pg, pg, after, limit)]

    async def stats(self) -> StoreStats:
        counts = await self._run(self._index.counts)
        used = self.used_bytes
        state = NodeState.of(self._closing, used, self._capacity)
        volumes = self._volumes.all()
        return StoreStats(
            self._capacity,
            used,
            counts[ShardState.LIVE],
            counts[ShardState.DEAD],
            len(volumes),
            sum(v.sealed for v in volumes),
            state,
        )

    async def close(self) -> None:
        """Refuse new work, commit what the lanes hold, then close files and the index."""
        if self._closing:
            return
        self._closing = True
        for lane in self._lanes:
            await lane.close()
        await self._run(self._close_files)
        self._pool.shutdown(wait=True)

    def _close_files(self) -> None:
        self._volumes.close_all()
        self._index.close()


def _streams_equal(a: Iterator[bytes], b: Iterator[bytes]) -> bool:
    """Whether two byte streams, chunked differently, carry the same bytes."""
    a = (c for c in a if c)
    b = (c for c in b if c)
    buf_a, buf_b = b"", b""
    while True:
        if not buf_a:
            buf_a = next(a, b"")
        if not buf_b:
            buf_b = next(b, b"")
        if not buf_a or not buf_b:
            return not buf_a and not buf_b and next(a, b"") == b"" and next(b, b"") == b""
        n = min(len(buf_a), len(buf_b))
        if buf_a[:n] != buf_b[:n]:
            return False
        buf_a, buf_b = buf_a[n:], buf_b[n:]
