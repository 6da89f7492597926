"""`MemoryShardStore`: the in-memory twin of `DiskShardStore` for tests of other logic.

Same contract as the `ShardStore` protocol (idempotent writes, conflicts, deleted keys stay
deleted, deleting an unknown key keeps it dead, piece checksums checked, dead shards read as
not found), no durability. `corrupt()` lets a test make a shard fail its checksum on the next
read.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass

from cairn.checksums import crc32c
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
from cairn.datanode.shards import (
    RELEASED_PG,
    UNKNOWN_PG,
    NodeState,
    ShardInfo,
    ShardKey,
    ShardState,
    WriteResult,
)
from cairn.datanode.store import RangeRead, ShardRead, StoreStats


@dataclass(slots=True)
class _Shard:
    pg: int
    data: bytes
    crc: int
    state: ShardState
    corrupt: bool = False

    def info(self, key: ShardKey) -> ShardInfo:
        return ShardInfo(key, self.pg, len(self.data), self.crc, self.state)


class MemoryShardStore:
    def __init__(self, capacity_bytes: int = 1 << 40, chunk_bytes: int = 64 * 1024) -> None:
        self._shards: dict[ShardKey, _Shard] = {}
        self._capacity = capacity_bytes
        self._chunk = chunk_bytes
        self._closed = False

    def corrupt(self, key: ShardKey) -> None:
        self._shards[key].corrupt = True

    async def write(
        self,
        key: ShardKey,
        pg: int,
        pieces: AsyncIterable[tuple[bytes, int]],
        expected_length: int | None = None,
    ) -> WriteResult:
        self._check_open()
        parts = []
        async for data, piece_crc in pieces:
            if crc32c(data) != piece_crc:
                raise PieceChecksumMismatch(f"{key}: a piece's crc32c does not match its bytes")
            parts.append(data)
        return self._store(key, pg, b"".join(parts), expected_length)

    async def write_whole(
        self, key: ShardKey, pg: int, data: bytes, crc: int, expected_length: int | None = None
    ) -> WriteResult:
        self._check_open()
        if crc32c(data) != crc:
            raise PieceChecksumMismatch(f"{key}: the shard's crc32c does not match its bytes")
        return self._store(key, pg, data, expected_length)

    def _store(self, key: ShardKey, pg: int, data: bytes, expected_length: int | None) -> WriteResult:
        if expected_length is not None and len(data) != expected_length:
            raise LengthMismatch(f"{key}: expected {expected_length} bytes, got {len(data)}")
        if sum(len(s.data) for s in self._shards.values()) + len(data) > self._capacity:
            raise NodeFull("capacity exceeded")
        existing = self._shards.get(key)
        if existing is not None and not (existing.state is ShardState.DEAD and existing.pg == RELEASED_PG):
            if existing.state is ShardState.DEAD:
                raise ShardDeleted(f"{key} was deleted on this node")
            if existing.data != data:
                raise ShardConflict(f"{key} exists with different bytes")
            if not existing.corrupt:
                return WriteResult(existing.info(key), already_present=True)
        shard = _Shard(pg, data, crc32c(data), ShardState.LIVE)
        self._shards[key] = shard
        return WriteResult(shard.info(key), already_present=False)

    async def open_read(self, key: ShardKey, offset: int = 0, length: int | None = None) -> ShardRead:
        self._check_open()
        shard = self._shards.get(key)
        if shard is None or shard.state is ShardState.DEAD:
            raise ShardNotFound(f"no shard {key}")
        if offset < 0 or offset > len(shard.data) or (length is not None and length < 0):
            raise InvalidRange(f"range at {offset} outside shard {key}")
        if shard.corrupt:
            raise ShardCorrupt(f"{key}: checksum mismatch")
        end = len(shard.data) if length is None else min(len(shard.data), offset + length)
        return ShardRead(shard.info(key), offset, end, self._chunks(shard.data[offset:end]))

    async def _chunks(self, data: bytes) -> AsyncIterator[bytes]:
        for i in range(0, len(data), self._chunk):
            yield data[i : i + self._chunk]

    async def read_ranges(
        self, reads: Sequence[tuple[ShardKey, int, int | None]]
    ) -> list[RangeRead | Exception]:
        out: list[RangeRead | Exception] = []
        for key, offset, length in reads:
            try:
                read = await self.open_read(key, offset, length)
                out.append(RangeRead(read.info, offset, b"".join([c async for c in read.chunks])))
            except Exception as exc:  # noqa: BLE001 - one range's failure is that range's answer
                out.append(exc)
        return out

    async def delete(self, keys: Sequence[ShardKey], release: bool = False) -> int:
        self._check_open()
        deleted = 0
        for key in dict.fromkeys(keys):
            shard = self._shards.get(key)
            if release:  # only live copies are given up; the key stays writable
                if shard is not None and shard.state is ShardState.LIVE:
                    shard.state, shard.pg = ShardState.DEAD, RELEASED_PG
                    deleted += 1
            elif shard is None or (shard.state is ShardState.DEAD and shard.pg == RELEASED_PG):
                # a tombstone for a key not held: a later write is refused
                self._shards[key] = _Shard(UNKNOWN_PG, b"", 0, ShardState.DEAD)
            elif shard.state is ShardState.LIVE:
                shard.state = ShardState.DEAD
                deleted += 1
        return deleted

    async def list_pg(self, pg: int, after: ShardKey | None, limit: int) -> list[ShardInfo]:
        self._check_open()
        keys = sorted(k for k, s in self._shards.items() if s.pg == pg and (after is None or k > after))
        return [self._shards[k].info(k) for k in keys[:limit]]

    async def stats(self) -> StoreStats:
        used = sum(len(s.data) for s in self._shards.values())
        live = sum(s.state is ShardState.LIVE for s in self._shards.values())
        state = NodeState.of(self._closed, used, self._capacity)
        return StoreStats(self._capacity, used, live, len(self._shards) - live, 0, 0, state)

    async def close(self) -> None:
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise DataNodeUnavailable("the store is closed")
