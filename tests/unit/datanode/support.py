"""Helpers shared by the data node unit tests."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

from cairn.checksums import crc32c
from cairn.datanode.config import StorageConfig
from cairn.datanode.shards import ShardKey
from cairn.datanode.store import DiskShardStore, ShardStore

SMALL = StorageConfig(
    volume_size_limit_bytes=1 << 20,
    writer_lanes=2,
    group_commit_window_ms=0.0,
    io_threads=4,
    spool_threshold_bytes=256 * 1024,
)


def key(n: int = 0) -> ShardKey:
    return ShardKey(os.urandom(16), n)


async def pieces(data: bytes, size: int = 10_000) -> AsyncIterator[tuple[bytes, int]]:
    for i in range(0, len(data), size):
        yield data[i : i + size], crc32c(data[i : i + size])


async def read_all(store: ShardStore, k: ShardKey, offset: int = 0, length: int | None = None) -> bytes:
    read = await store.open_read(k, offset, length)
    return b"".join([chunk async for chunk in read.chunks])


async def open_store(
    path: Path, storage: StorageConfig = SMALL, capacity: int = 1 << 30, **kw: object
) -> DiskShardStore:
    return await DiskShardStore.open(path, storage, capacity, **kw)  # type: ignore[arg-type]


class FakeClock:
    """A clock whose `sleep` only moves the time forward (and yields to the event loop)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_700_000_000.0 + self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds
        await asyncio.sleep(0)
