"""Staging an incoming shard until its stream ends: bytes plus the checksums a record needs.

A shard arrives as a stream of pieces and becomes a record only after the client's last
piece, so its bytes wait here: in memory while small, in an anonymous temporary file (gone
when closed, even after a crash) once larger than the spool threshold, so memory stays
bounded whatever the shard size. While bytes arrive it computes the whole-payload CRC32C and
the CRC32C of every `block_size` block (the record's block table).

All payloads of a store share one `MemoryBudget` (`staging_memory_bytes`): bytes are kept in
memory only while the budget has room for them; a payload that would exceed it spools to
disk at once (its memory goes back to the budget). So the bytes all in-flight writes hold in
memory never exceed the budget, however many writes arrive together; they are released when
the payload is discarded (after its batch settles, or on failure).

Blocking: `add` may write to the spool file and `chunks` may read it; call both from the
store's thread pool when `spooled` (or `would_spool`) is true.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from cairn.checksums import crc32c


class MemoryBudget:
    """Bytes of staged payloads held in memory, capped at `limit` (thread-safe)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.peak = 0  # highest `held` seen, for tests and stats
        self._lock = threading.Lock()

    def try_reserve(self, n: int) -> bool:
        with self._lock:
            if self.held + n > self.limit:
                return False
            self.held += n
            self.peak = max(self.peak, self.held)
            return True

    def release(self, n: int) -> None:
        with self._lock:
            self.held -= n


class StagedPayload:
    """The bytes of one shard being written, with running checksums."""

    def __init__(
        self, block_size: int, spool_dir: Path, spool_threshold: int, budget: MemoryBudget | None = None
    ) -> None:
        self.block_size = block_size
        self.length = 0
        self.crc32c = 0
        self.block_crcs: list[int] = []
        self._partial_crc = 0
        self._partial_len = 0
        self._chunks: list[bytes] = []
        self._spool: IO[bytes] | None = None
        self._spool_dir = spool_dir
        self._threshold = spool_threshold
        self._finished = False
        self._budget = budget if budget is not None else MemoryBudget(spool_threshold)
        self._reserved = 0  # budget bytes this payload holds: its chunks plus a reservation ahead

    @property
    def memory_bytes(self) -> int:
        """Payload bytes held in memory (0 once spooled)."""
        return sum(len(c) for c in self._chunks)

    @property
    def spooled(self) -> bool:
        return self._spool is not None

    def would_spool(self, more: int) -> bool:
        """Whether adding `more` bytes touches the disk (so must run in the thread pool).

        When it answers False it has reserved the memory for the `add` that follows."""
        if self._spool is not None or self.length + more > self._threshold:
            return True
        if not self._budget.try_reserve(more):
            return True
        self._reserved += more
        return False

    def add(self, data: bytes) -> None:
        if self._finished:
            raise RuntimeError("payload already finished")
        self.crc32c = crc32c(data, self.crc32c)
        view = memoryview(data)
        while view:
            take = min(self.block_size - self._partial_len, len(view))
            self._partial_crc = crc32c(view[:take], self._partial_crc)
            self._partial_len += take
            view = view[take:]
            if self._partial_len == self.block_size:
                self.block_crcs.append(self._partial_crc)
                self._partial_crc, self._partial_len = 0, 0
        if self._spool is None and not self._keep_in_memory(len(data)):
            self._spool = tempfile.TemporaryFile(dir=self._spool_dir)
            for chunk in self._chunks:
                self._spool.write(chunk)
            self._chunks.clear()
            self._release()
        if self._spool is not None:
            self._spool.write(data)
        else:
            self._chunks.append(bytes(data))
        self.length += len(data)

    def _keep_in_memory(self, n: int) -> bool:
        """Whether `n` more bytes may stay in memory (under the threshold and the budget)."""
        if self.length + n > self._threshold:
            return False
        if self._reserved - self.length >= n:  # reserved ahead by would_spool (memory holds `length`)
            return True
        if not self._budget.try_reserve(n):
            return False
        self._reserved += n
        return True

    def _release(self) -> None:
        if self._reserved:
            self._budget.release(self._reserved)
            self._reserved = 0

    def finish(self) -> None:
        """No more bytes: close the last partial block."""
        if not self._finished:
            if self._partial_len:
                self.block_crcs.append(self._partial_crc)
            self._finished = True
            if self._spool is not None:
                self._spool.flush()

    def chunks(self, size: int = 1 << 20) -> Iterator[bytes]:
        """The staged bytes in order (reads the spool file when spooled)."""
        if self._spool is None:
            yield from self._chunks
            return
        self._spool.seek(0)
        while chunk := self._spool.read(size):
            yield chunk

    def discard(self) -> None:
        self._chunks.clear()
        self._release()
        if self._spool is not None:
            self._spool.close()
            self._spool = None
