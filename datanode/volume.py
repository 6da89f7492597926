"""Volume files: append-only logs of self-describing shard records (byte format in FORMAT.md).

A volume starts with a 32-byte file header (magic, version, volume id). Each record is a
64-byte header (magic, version, kind, seq, shard key, pg, payload length, payload CRC32C,
block size, header CRC32C), a table of one CRC32C per `block_size` bytes of payload plus the
table's own CRC32C, the payload, and an 8-byte trailer (CRC32C of every record byte before
it, end magic). A sealed volume ends with a 32-byte footer holding the whole-file CRC32C.

Invariants:
- A read checks the record header CRC, the block-table CRC and the CRC of every payload
  block it touches (and no other block), so a range read never returns unverified bytes.
- A record counts as present only if its header, table and trailer all check out; recovery
  truncates a read-write volume at the first record that does not (a torn tail).
- Sealed volumes are never written again (the file is made read-only).
- Every method here is blocking; callers run it in the store's bounded thread pool.
"""

from __future__ import annotations

import enum
import os
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cairn.checksums import crc32c
from cairn.datanode.errors import ShardCorrupt
from cairn.datanode.shards import ShardKey
from cairn.durable_file import fsync_dir

FORMAT_VERSION = 1
FILE_MAGIC = b"CAIRNVOL"
RECORD_MAGIC = b"CSHD"
TRAILER_MAGIC = b"CEND"
FOOTER_MAGIC = b"CVOLSEAL"
DEFAULT_BLOCK_SIZE = 64 * 1024

_FILE_HEADER = struct.Struct("<8sHHIQI")  # magic, version, flags, block size, volume id, reserved
FILE_HEADER_SIZE = _FILE_HEADER.size + 4  # + crc32c
_RECORD_HEADER = struct.Struct("<4sHHQ16sIIQIII")  # see FORMAT.md
RECORD_HEADER_SIZE = _RECORD_HEADER.size + 4  # + crc32c
TRAILER_SIZE = 8
_FOOTER = struct.Struct("<8sQQI")  # magic, record count, data end, file crc32c
FOOTER_SIZE = _FOOTER.size + 4  # + crc32c
_U32 = struct.Struct("<I")

Fsync = Callable[[int], None]


class FormatError(ShardCorrupt):
    """Bytes on disk do not form a valid header, record or footer."""


class RecordKind(enum.IntEnum):
    SHARD = 1
    TOMBSTONE = 2


@dataclass(frozen=True, slots=True)
class RecordHeader:
    kind: RecordKind
    seq: int  # node-wide write order; the highest seq of a key wins on rebuild
    key: ShardKey
    pg: int
    length: int  # payload bytes
    crc32c: int  # of the whole payload
    block_size: int

    @property
    def blocks(self) -> int:
        return -(-self.length // self.block_size)

    @property
    def payload_offset(self) -> int:
        """Offset of the payload from the record's first byte."""
        return RECORD_HEADER_SIZE + 4 * self.blocks + 4

    @property
    def size(self) -> int:
        """Bytes the whole record occupies."""
        return self.payload_offset + self.length + TRAILER_SIZE


def record_size(length: int, block_size: int = DEFAULT_BLOCK_SIZE) -> int:
    """Bytes a record with a payload of `length` bytes occupies."""
    return RECORD_HEADER_SIZE + 4 * -(-length // block_size) + 4 + length + TRAILER_SIZE


def encode_file_header(volume_id: int, block_size: int = DEFAULT_BLOCK_SIZE) -> bytes:
    body = _FILE_HEADER.pack(FILE_MAGIC, FORMAT_VERSION, 0, block_size, volume_id, 0)
    return body + _U32.pack(crc32c(body))


def decode_file_header(buf: bytes) -> tuple[int, int]:
    """(volume id, block size) of a file header; FormatError if it is not one."""
    if len(buf) < FILE_HEADER_SIZE:
        raise FormatError("short volume file header")
    body = buf[: _FILE_HEADER.size]
    magic, version, _flags, block_size, volume_id, _ = _FILE_HEADER.unpack(body)
    if magic != FILE_MAGIC or _U32.unpack_from(buf, _FILE_HEADER.size)[0] != crc32c(body):
        raise FormatError("bad volume file header")
    if version != FORMAT_VERSION:
        raise FormatError(f"unsupported volume format version {version}")
    return volume_id, block_size


def encode_record_prefix(header: RecordHeader, block_crcs: Iterable[int]) -> bytes:
    """Header, block CRC table and table CRC: every record byte before the payload."""
    body = _RECORD_HEADER.pack(
        RECORD_MAGIC,
        FORMAT_VERSION,
        int(header.kind),
        header.seq,
        header.key.blob_id,
        header.key.index,
        header.pg,
        header.length,
        header.crc32c,
        header.block_size,
        0,
    )
    table = b"".join(_U32.pack(c) for c in block_crcs)
    if len(table) != 4 * header.blocks:
        raise ValueError("block CRC table does not match the payload length")
    return body + _U32.pack(crc32c(body)) + table + _U32.pack(crc32c(table))


def encode_trailer(record_crc: int) -> bytes:
    return _U32.pack(record_crc) + TRAILER_MAGIC


def decode_record_header(buf: bytes) -> RecordHeader:
    """Parse and verify a 64-byte record header; FormatError if it is damaged."""
    if len(buf) < RECORD_HEADER_SIZE:
        raise FormatError("short record header")
    body = buf[: _RECORD_HEADER.size]
    (magic, version, kind, seq, blob_id, index, pg, length, payload_crc, block_size, _) = (
        _RECORD_HEADER.unpack(body)
    )
    if magic != RECORD_MAGIC:
        raise FormatError("bad record magic")
    if _U32.unpack_from(buf, _RECORD_HEADER.size)[0] != crc32c(body):
        raise FormatError("record header checksum mismatch")
    if version != FORMAT_VERSION or kind not in (1, 2) or block_size == 0:
        raise FormatError("unsupported record version, kind or block size")
    return RecordHeader(RecordKind(kind), seq, ShardKey(blob_id, index), pg, length, payload_crc, block_size)


def block_crcs_of(payload: bytes, block_size: int) -> list[int]:
    return [crc32c(payload[i : i + block_size]) for i in range(0, len(payload), block_size)]


def encode_record(header: RecordHeader, payload: bytes) -> bytes:
    """A whole record in memory (tests, tombstones and small shards)."""
    prefix = encode_record_prefix(header, block_crcs_of(payload, header.block_size))
    return prefix + payload + encode_trailer(crc32c(payload, crc32c(prefix)))


def encode_footer(record_count: int, data_end: int, file_crc: int) -> bytes:
    body = _FOOTER.pack(FOOTER_MAGIC, record_count, data_end, file_crc)
    return body + _U32.pack(crc32c(body))


def decode_footer(buf: bytes, file_size: int) -> tuple[int, int, int] | None:
    """(record count, data end, file crc) if `buf` is the valid footer of a file this size."""
    if len(buf) != FOOTER_SIZE:
        return None
    body = buf[: _FOOTER.size]
    magic, count, data_end, file_crc = _FOOTER.unpack(body)
    if magic != FOOTER_MAGIC or _U32.unpack_from(buf, _FOOTER.size)[0] != crc32c(body):
        return None
    if data_end != file_size - FOOTER_SIZE:
        return None
    return count, data_end, file_crc


def volume_path(directory: Path, volume_id: int) -> Path:
    return directory / f"vol-{volume_id:08d}.cvol"


def scratch_path(directory: Path, volume_id: int) -> Path:
    """Where compaction builds volume `volume_id` before renaming it to `volume_path`."""
    return directory / f"vol-{volume_id:08d}.cpt"


@dataclass(frozen=True, slots=True)
class ScannedRecord:
    offset: int
    header: RecordHeader


class VolumeFile:
    """One open volume file. Appends go through `append`; reads may run concurrently."""

    def __init__(self, path: Path, volume_id: int, fd: int, size: int, sealed: bool) -> None:
        self.path = path
        self.volume_id = volume_id
        self.size = size
        self.sealed = sealed
        self.records: int | None = None  # record count, when known (for the footer)
        self._fd = fd
        self._crc: int | None = None  # running CRC of [0, size), when known

    @classmethod
    def create(cls, directory: Path, volume_id: int, fsync: Fsync = os.fsync) -> VolumeFile:
        """Durably create an empty volume: write temp, fsync, rename, fsync the directory."""
        path = volume_path(directory, volume_id)
        if path.exists():
            raise FileExistsError(path)
        volume = cls.create_scratch(path.with_suffix(".tmp"), volume_id)
        try:
            volume.sync(fsync)
            volume.rename(path)
        except BaseException:
            volume.close()
            raise
        return volume

    @classmethod
    def create_scratch(cls, path: Path, volume_id: int) -> VolumeFile:
        """An empty volume at `path` that nothing else reads until the caller renames it
        (a compaction target, `vol-N.cpt`); no fsync: a crash discards it anyway."""
        header = encode_file_header(volume_id)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.pwrite(fd, header, 0)
        except BaseException:
            os.close(fd)
            raise
        volume = cls(path, volume_id, fd, len(header), sealed=False)
        volume._crc = crc32c(header)
        volume.records = 0
        return volume

    def rename(self, path: Path) -> None:
        """Move the file to `path` (same directory) and make the rename durable."""
        os.rename(self.path, path)
        self.path = path
        fsync_dir(path.parent)

    @classmethod
    def open(cls, path: Path) -> VolumeFile:
        """Open an existing volume; it is sealed if it ends with a valid footer."""
        fd = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            volume_id, _ = decode_file_header(os.pread(fd, FILE_HEADER_SIZE, 0))
            footer = None
            if size >= FILE_HEADER_SIZE + FOOTER_SIZE:
                footer = decode_footer(os.pread(fd, FOOTER_SIZE, size - FOOTER_SIZE), size)
            if footer is None:
                os.close(fd)
                fd = os.open(path, os.O_RDWR)
        except BaseException:
            os.close(fd)
            raise
        volume = cls(path, volume_id, fd, size, sealed=footer is not None)
        if footer is not None:
            volume.records = footer[0]
        return volume

    @property
    def data_end(self) -> int:
        return self.size - FOOTER_SIZE if self.sealed else self.size

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    # -- writing -------------------------------------------------------------------------

    def append(self, parts: Iterable[bytes | bytearray], records: int = 1) -> int:
        """Write `parts` (making `records` records) at the end, no fsync; return their offset."""
        if self.sealed:
            raise PermissionError(f"volume {self.volume_id} is sealed")
        start = self.size
        for part in parts:
            written = os.pwrite(self._fd, part, self.size)
            if written != len(part):
                raise OSError(f"short write to {self.path}")
            self.size += written
            if self._crc is not None:
                self._crc = crc32c(part, self._crc)
        if self.records is not None:
            self.records += records
        return start

    def sync(self, fsync: Fsync = os.fsync) -> None:
        fsync(self._fd)

    def truncate(self, size: int, fsync: Fsync = os.fsync) -> None:
        """Cut the file back to `size` bytes (a failed batch or a torn tail)."""
        os.ftruncate(self._fd, size)
        if size != self.size:
            self._crc = None
            self.records = None
        self.size = size
        fsync(self._fd)

    def seal(self, fsync: Fsync = os.fsync) -> None:
        """Write the footer with the whole-file CRC32C, fsync, and make the file read-only."""
        if self.sealed:
            return
        file_crc = self._crc if self._crc is not None else self._checksum(self.size)
        records = self.records if self.records is not None else self._count_records()
        footer = encode_footer(records, self.size, file_crc)
        os.pwrite(self._fd, footer, self.size)
        fsync(self._fd)
        os.chmod(self.path, 0o444)
        self.size += len(footer)
        self.sealed = True

    def verify_sealed(self) -> None:
        """Check a sealed file's whole-file CRC32C; ShardCorrupt if it differs."""
        footer = decode_footer(os.pread(self._fd, FOOTER_SIZE, self.size - FOOTER_SIZE), self.size)
        if footer is None:
            raise FormatError(f"volume {self.volume_id} has no valid footer")
        if self._checksum(footer[1]) != footer[2]:
            raise ShardCorrupt(f"volume {self.volume_id} whole-file checksum mismatch")

    def file_size(self) -> int:
        """The file's size on disk now (it may differ from `size` if someone cut it)."""
        return os.fstat(self._fd).st_size

    def read_raw(self, size: int, offset: int) -> bytes:
        """Up to `size` raw bytes at `offset` (fewer at the end of the file)."""
        return os.pread(self._fd, size, offset)

    def _count_records(self) -> int:
        count, pos = 0, FILE_HEADER_SIZE
        while pos < self.size:
            try:
                header = decode_record_header(os.pread(self._fd, RECORD_HEADER_SIZE, pos))
            except FormatError:
                pos = self.next_header(pos + 1)
                continue
            count += 1
            pos += header.size
        return count

    def _checksum(self, end: int) -> int:
        value, pos = 0, 0
        while pos < end:
            chunk = os.pread(self._fd, min(4 << 20, end - pos), pos)
            if not chunk:
                raise FormatError(f"volume {self.volume_id} shorter than expected")
            value = crc32c(chunk, value)
            pos += len(chunk)
        return value

    # -- reading -------------------------------------------------------------------------

    def _pread_exact(self, size: int, offset: int) -> bytes:
        buf = os.pread(self._fd, size, offset)
        if len(buf) != size:
            raise FormatError(f"volume {self.volume_id}: short read at {offset}")
        return buf

    def read_header(self, offset: int) -> tuple[RecordHeader, list[int]]:
        """The verified header and block CRC table of the record at `offset`."""
        header = decode_record_header(self._pread_exact(RECORD_HEADER_SIZE, offset))
        table = self._pread_exact(4 * header.blocks + 4, offset + RECORD_HEADER_SIZE)
        if _U32.unpack_from(table, 4 * header.blocks)[0] != crc32c(table[:-4]):
            raise FormatError("block table checksum mismatch")
        return header, [c for (c,) in _U32.iter_unpack(table[:-4])]

    def read_range(
        self,
        offset: int,
        start: int,
        end: int,
        max_chunk: int = 1 << 20,
        checked: tuple[RecordHeader, list[int]] | None = None,
    ) -> Iterator[bytes]:
        """Payload bytes [start, end) of the record at `offset`, in verified chunks.

        Reads and checks only the blocks that overlap the range (whole blocks, so each can
        be checked against its CRC), then trims to the range. `checked` passes a header and
        table the caller already read and verified with `read_header`.
        """
        header, crcs = checked if checked is not None else self.read_header(offset)
        if not 0 <= start <= end <= header.length:
            raise ValueError("range outside the payload")
        bs = header.block_size
        per_chunk = max(1, max_chunk // bs)
        base = offset + header.payload_offset
        first, last = start // bs, (end - 1) // bs
        block = first
        while start < end and block <= last:
            upto = min(last + 1, block + per_chunk)
            lo, hi = block * bs, min(upto * bs, header.length)
            data = self._pread_exact(hi - lo, base + lo)
            view = memoryview(data)  # checks and trims without copying the blocks
            for i in range(block, upto):
                if crc32c(view[(i - block) * bs : (i - block + 1) * bs]) != crcs[i]:
                    raise ShardCorrupt(f"{header.key}: block {i} checksum mismatch")
            a, b = max(start, lo) - lo, min(end, hi) - lo
            yield data if (a, b) == (0, len(data)) else bytes(view[a:b])
            block = upto

    def check_record(self, offset: int) -> RecordHeader:
        """Verify a whole record (header, table, blocks, trailer); FormatError if torn."""
        header, prefix = self.read_prefix(offset, self.data_end)
        for _ in self.read_body(offset, header, prefix):
            pass
        return header

    def read_prefix(self, offset: int, end: int) -> tuple[RecordHeader, bytes]:
        """The verified header of the record at `offset` and its raw prefix (header, block
        table, table CRC); FormatError if either fails its CRC or the record runs past `end`."""
        header = decode_record_header(self._pread_exact(RECORD_HEADER_SIZE, offset))
        if offset + header.size > end:
            raise FormatError("record runs past the end of the file")
        prefix = self._pread_exact(header.payload_offset, offset)
        table = prefix[RECORD_HEADER_SIZE:]
        if _U32.unpack_from(table, len(table) - 4)[0] != crc32c(table[:-4]):
            raise FormatError("block table checksum mismatch")
        return header, prefix

    def read_body(
        self, offset: int, header: RecordHeader, prefix: bytes, max_chunk: int = 1 << 20
    ) -> Iterator[bytes]:
        """The raw payload and trailer of a record whose prefix `read_prefix` returned, in
        chunks of whole blocks, each verified before it is yielded: block CRCs, then the
        record CRC32C and end magic of the trailer. Raises ShardCorrupt (FormatError for the
        trailer) at the first check that fails, so no unverified byte is ever yielded."""
        crcs = [c for (c,) in _U32.iter_unpack(prefix[RECORD_HEADER_SIZE:-4])]
        value = crc32c(prefix)
        for chunk in self.read_range(offset, 0, header.length, max_chunk, checked=(header, crcs)):
            value = crc32c(chunk, value)
            yield chunk
        trailer = self._pread_exact(TRAILER_SIZE, offset + header.payload_offset + header.length)
        if trailer != encode_trailer(value):
            raise FormatError("record trailer mismatch")
        yield trailer

    def scan(self, start: int = FILE_HEADER_SIZE) -> tuple[list[ScannedRecord], int]:
        """Whole records from `start` on, and the offset just past the last good one.

        Stops at the first record that does not check out: everything after it is a torn
        tail (nothing there was acknowledged, see store.py's group commit).
        """
        records: list[ScannedRecord] = []
        pos = start
        while pos < self.data_end:
            try:
                header = self.check_record(pos)
            except ShardCorrupt:  # includes FormatError
                break
            records.append(ScannedRecord(pos, header))
            pos += header.size
        return records, pos

    def scan_resync(self) -> tuple[list[ScannedRecord], int]:
        """Every whole record in the file, skipping damaged stretches (index rebuild).

        After a bad record, resume at the next offset holding a valid record header, so a
        flipped bit in one record does not hide the records after it. Returns the records
        and the end of the last whole one.
        """
        records: list[ScannedRecord] = []
        pos, good_end = FILE_HEADER_SIZE, FILE_HEADER_SIZE
        while pos < self.data_end:
            found, end = self.scan(pos)
            records.extend(found)
            if found:
                good_end = end
            pos = self.next_header(end + 1)
        return records, good_end

    def next_header(self, pos: int) -> int:
        """The first offset at or after `pos` holding a valid record header (else the data end)."""
        window = 1 << 20
        while pos < self.data_end:
            buf = os.pread(self._fd, min(window, self.data_end - pos) + RECORD_HEADER_SIZE, pos)
            at = buf.find(RECORD_MAGIC)
            while at >= 0:
                try:
                    decode_record_header(buf[at : at + RECORD_HEADER_SIZE])
                    return pos + at
                except FormatError:
                    at = buf.find(RECORD_MAGIC, at + 1)
            pos += window
        return self.data_end
