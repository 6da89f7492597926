"""Writer lanes and group commit: how appends become durable, batched.

Each lane owns one read-write volume and one asyncio task. Writers enqueue a pending record
and await its future. The lane task takes everything queued (after waiting the group-commit
window for more, up to `max_batch_bytes`), and in the thread pool: appends all records,
fsyncs the volume once, then commits all their index rows and the volume's new
`committed_end` in one SQLite transaction. Only then are the futures resolved, so a shard is
acknowledged only once its bytes and its index row are durable.

A record marked `if_absent` (a new shard, the common case) has its key looked up in the same
thread hop, just before the batch is appended: if the index already holds the key, the record
is left out of the batch, its future resolves to the existing row with `present` set, and its
staged bytes are left to the writer (who still holds the key lock and decides between
idempotent success, conflict and repair). This saves every write a thread hop of its own.

On any failure of a batch the volume is truncated back to where the batch began and every
future of the batch fails. After a batch that leaves the volume at or past the size limit,
the lane seals it (footer with the whole-file CRC32C) and continues in a fresh volume.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cairn.checksums import crc32c
from cairn.datanode.index import IndexEntry, ShardIndex
from cairn.datanode.shards import ShardKey, ShardState
from cairn.datanode.staging import StagedPayload
from cairn.datanode.volume import (
    DEFAULT_BLOCK_SIZE,
    Fsync,
    RecordHeader,
    RecordKind,
    VolumeFile,
    encode_record_prefix,
    encode_trailer,
)

log = logging.getLogger(__name__)

_FLUSH_BYTES = 4 << 20
RECORD_OVERHEAD = 80  #: bytes a record costs beyond its payload, for lane accounting


@dataclass(slots=True)
class PendingRecord:
    kind: RecordKind
    key: ShardKey
    pg: int
    payload: StagedPayload | None  # None for a tombstone
    existing: IndexEntry | None  # the row a tombstone kills
    seq: int = 0  # assigned when the record joins a batch
    if_absent: bool = False  # skip (and report `present`) if the index holds the key already
    present: IndexEntry | None = None  # set by the batch when an `if_absent` key was found
    submitted: bool = False  # queued on a lane: from then on the lane owns the staged bytes
    future: asyncio.Future[IndexEntry] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @property
    def length(self) -> int:
        return self.payload.length if self.payload is not None else 0


class Lane:
    """One writer lane: a queue, a read-write volume and the task that commits batches."""

    def __init__(
        self,
        number: int,
        volume: VolumeFile,
        index: ShardIndex,
        run: Callable[..., asyncio.Future[Any]],
        next_seq: Callable[[], int],
        new_volume: Callable[[], VolumeFile],
        fsync: Fsync,
        window_s: float,
        max_batch_bytes: int,
        size_limit: int,
    ) -> None:
        self.number = number
        self.volume = volume
        self._index = index
        self._run = run
        self._next_seq = next_seq
        self._new_volume = new_volume
        self._fsync = fsync
        self._window_s = window_s
        self._max_batch_bytes = max_batch_bytes
        self._size_limit = size_limit
        self._queue: list[PendingRecord] = []
        self.queued_bytes = 0  # payload bytes (plus record overhead) waiting in the queue
        self.busy = False  # a batch is on its way to disk
        self._wakeup = asyncio.Event()
        self._closing = False
        self._rotations: list[asyncio.Future[None]] = []
        self.batches = 0  # batches committed, for tests and stats
        self._task: asyncio.Task[None] | None = None

    @property
    def queued(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"datanode-lane-{self.number}")

    def submit(self, record: PendingRecord) -> asyncio.Future[IndexEntry]:
        if self._closing:
            raise RuntimeError("lane is closed")
        self._queue.append(record)
        self.queued_bytes += record.length + RECORD_OVERHEAD
        record.submitted = True
        self._wakeup.set()
        return record.future

    async def close(self) -> None:
        """Commit what is queued, then stop the task."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    def rotate(self) -> asyncio.Future[None]:
        """Seal the read-write volume between two batches and continue in a fresh one (so it can
        be compacted); resolved once done."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._rotations.append(future)
        self._wakeup.set()
        return future

    async def _rotate_now(self) -> None:
        waiting, self._rotations = self._rotations, []
        try:
            await self._run(self._seal_and_replace)
        except Exception as exc:
            log.error("lane %d: sealing volume %d failed: %s", self.number, self.volume.volume_id, exc)
            for future in waiting:
                if not future.done():
                    future.set_exception(exc)
        else:
            for future in waiting:
                if not future.done():
                    future.set_result(None)

    async def _loop(self) -> None:
        while True:
            if self._rotations:
                await self._rotate_now()
                continue
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self._window_s > 0 and not self._closing:
                await asyncio.sleep(self._window_s)
            batch = self._take_batch()
            self.busy = True
            try:
                entries: list[IndexEntry] = await self._run(self._write_batch, batch)
            except Exception as exc:  # the whole batch fails; writers see the error
                log.error("lane %d: batch of %d failed: %s", self.number, len(batch), exc)
                for record in batch:
                    if not record.future.done():
                        record.future.set_exception(exc)
            else:
                self.batches += 1
                for record, entry in zip(batch, entries, strict=True):
                    if not record.future.done():
                        record.future.set_result(entry)
            finally:
                self.busy = False
                for record in batch:
                    if record.payload is not None and record.present is None:
                        record.payload.discard()  # a present record's bytes go back to its writer
            if self.volume.size >= self._size_limit:
                try:
                    await self._run(self._seal_and_replace)
                except Exception as exc:
                    log.error(
                        "lane %d: sealing volume %d failed: %s", self.number, self.volume.volume_id, exc
                    )

    def _take_batch(self) -> list[PendingRecord]:
        batch: list[PendingRecord] = []
        size = 0
        while self._queue and (not batch or size + self._queue[0].length <= self._max_batch_bytes):
            record = self._queue.pop(0)
            batch.append(record)
            size += record.length
            self.queued_bytes -= record.length + RECORD_OVERHEAD
        for record in batch:
            record.seq = self._next_seq()
        return batch

    def _write_batch(self, batch: list[PendingRecord]) -> list[IndexEntry]:
        """Blocking: append, fsync, index. Truncates back on any failure."""
        volume = self.volume
        start = volume.size
        try:
            entries: list[IndexEntry] = []
            written: list[IndexEntry] = []
            buffer = bytearray()
            checks = [r.key for r in batch if r.if_absent]
            found = self._index.get_many(checks) if checks else {}
            for record in batch:
                if record.if_absent and record.key in found:
                    record.present = found[record.key]
                    entries.append(record.present)
                    continue
                offset = volume.size + len(buffer)
                payload = record.payload
                header = RecordHeader(
                    record.kind,
                    record.seq,
                    record.key,
                    record.pg,
                    record.length,
                    payload.crc32c if payload else 0,
                    payload.block_size if payload else DEFAULT_BLOCK_SIZE,
                )
                prefix = encode_record_prefix(header, payload.block_crcs if payload else [])
                buffer += prefix
                value = crc32c(prefix)
                for chunk in payload.chunks() if payload else ():
                    value = crc32c(chunk, value)
                    if len(chunk) >= _FLUSH_BYTES // 4:
                        volume.append([buffer, chunk], records=0)  # large: skip the copy
                        buffer = bytearray()
                    else:
                        buffer += chunk
                    if len(buffer) >= _FLUSH_BYTES:
                        volume.append([buffer], records=0)
                        buffer = bytearray()
                buffer += encode_trailer(value)
                entry = self._entry(record, header, offset, volume.volume_id)
                entries.append(entry)
                written.append(entry)
            if not written:
                return entries
            volume.append([buffer], records=len(written))
            volume.sync(self._fsync)
            self._index.commit_batch(written, volume.volume_id, volume.size)
            return entries
        except BaseException:
            try:
                volume.truncate(start, self._fsync)
            except OSError as exc:
                log.error(
                    "lane %d: cannot truncate volume %d back to %d: %s",
                    self.number,
                    volume.volume_id,
                    start,
                    exc,
                )
            raise

    @staticmethod
    def _entry(record: PendingRecord, header: RecordHeader, offset: int, volume: int) -> IndexEntry:
        if record.kind is RecordKind.TOMBSTONE:
            # A dead row points at its tombstone (what compaction must keep); it keeps the
            # length and CRC of the shard it replaced, when there was one.
            old = record.existing
            length, crc = (old.length, old.crc32c) if old is not None else (0, 0)
            return IndexEntry(record.key, record.pg, volume, offset, length, crc, ShardState.DEAD, header.seq)
        return IndexEntry(
            record.key, record.pg, volume, offset, header.length, header.crc32c, ShardState.LIVE, header.seq
        )

    def _seal_and_replace(self) -> None:
        old = self.volume
        old.seal(self._fsync)
        self._index.mark_sealed(old.volume_id, old.data_end)
        self.volume = self._new_volume()
        log.info(
            "lane %d: sealed volume %d (%d bytes), now writing volume %d",
            self.number,
            old.volume_id,
            old.size,
            self.volume.volume_id,
        )
