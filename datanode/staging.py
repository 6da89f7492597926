"""Staging an incoming shard until its stream ends: bytes plus the checksums a record needs.

A shard arrives as a stream of pieces and becomes a record only after the client's last
piece, so its bytes wait here: in memory while small, in an anonymous temporary file (gone
when closed, even after a crash) once larger than the spool threshold, so memory stays
bounded whatever the shard size. While bytes arrive it computes the whole-payload CRC32C and
the CRC32C of every `block_size` block (the record's block table).

Blocking: `add` may write to the spool file and `chunks` may read it; call both from the
store's thread pool when `spooled` (or `would_spool`) is true.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from cairn.checksums import crc32c


class StagedPayload:
    """The bytes of one shard being written, with running checksums."""

    def __init__(self, block_size: int, spool_dir: Path, spool_threshold: int) -> None:
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

    @property
    def spooled(self) -> bool:
        return self._spool is not None

    def would_spool(self, more: int) -> bool:
        """Whether adding `more` bytes touches the disk (so must run in the thread pool)."""
        return self._spool is not None or self.length + more > self._threshold

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
        if self._spool is None and self.length + len(data) > self._threshold:
            self._spool = tempfile.TemporaryFile(dir=self._spool_dir)
            for chunk in self._chunks:
                self._spool.write(chunk)
            self._chunks.clear()
        if self._spool is not None:
            self._spool.write(data)
        else:
            self._chunks.append(bytes(data))
        self.length += len(data)

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
        if self._spool is not None:
            self._spool.close()
            self._spool = None
