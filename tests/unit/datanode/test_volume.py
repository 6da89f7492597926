"""Volume file format: record round trip, per-block verification, damage detection, sealing."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cairn.checksums import crc32c
from cairn.datanode.errors import ShardCorrupt
from cairn.datanode.shards import ShardKey
from cairn.datanode.volume import (
    DEFAULT_BLOCK_SIZE,
    FILE_HEADER_SIZE,
    FOOTER_SIZE,
    RECORD_HEADER_SIZE,
    FormatError,
    RecordHeader,
    RecordKind,
    VolumeFile,
    decode_record_header,
    encode_record,
)

BS = DEFAULT_BLOCK_SIZE


def header_for(
    payload: bytes, seq: int = 1, index: int = 0, kind: RecordKind = RecordKind.SHARD
) -> RecordHeader:
    return RecordHeader(kind, seq, ShardKey(bytes(range(16)), index), 42, len(payload), crc32c(payload), BS)


def write_records(tmp_path: Path, payloads: list[bytes]) -> tuple[VolumeFile, list[int]]:
    volume = VolumeFile.create(tmp_path, 1)
    offsets = [
        volume.append([encode_record(header_for(p, seq=i + 1, index=i), p)]) for i, p in enumerate(payloads)
    ]
    volume.sync()
    return volume, offsets


def flip_bit(path: Path, offset: int) -> None:
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ 0x10]))


def test_record_round_trip_and_ranges(tmp_path: Path) -> None:
    payloads = [b"", b"x", os.urandom(BS), os.urandom(3 * BS + 17)]
    volume, offsets = write_records(tmp_path, payloads)
    for i, (payload, offset) in enumerate(zip(payloads, offsets, strict=True)):
        header, crcs = volume.read_header(offset)
        assert header == header_for(payload, seq=i + 1, index=i)
        assert len(crcs) == header.blocks
        assert b"".join(volume.read_range(offset, 0, len(payload))) == payload
        assert volume.check_record(offset) == header
    big, at = payloads[3], offsets[3]
    for start, end in [
        (0, 1),
        (BS - 1, BS + 1),
        (BS, 2 * BS),
        (5, 3 * BS + 17),
        (3 * BS, 3 * BS + 17),
        (7, 7),
    ]:
        assert b"".join(volume.read_range(at, start, end, max_chunk=BS)) == big[start:end]
    reopened = VolumeFile.open(volume.path)
    assert not reopened.sealed and reopened.size == volume.size
    assert [r.offset for r in reopened.scan()[0]] == offsets


def test_a_flipped_payload_bit_fails_only_reads_touching_its_block(tmp_path: Path) -> None:
    payload = os.urandom(3 * BS)
    volume, [offset] = write_records(tmp_path, [payload])
    header, _ = volume.read_header(offset)
    flip_bit(volume.path, offset + header.payload_offset + 2 * BS + 5)  # inside block 2
    assert b"".join(volume.read_range(offset, 0, 2 * BS)) == payload[: 2 * BS]
    with pytest.raises(ShardCorrupt):
        b"".join(volume.read_range(offset, 2 * BS, 2 * BS + 1))
    with pytest.raises(ShardCorrupt):
        volume.check_record(offset)


@pytest.mark.parametrize("where", [0, 10, 20, 40, RECORD_HEADER_SIZE - 1, RECORD_HEADER_SIZE + 1])
def test_a_flipped_header_or_table_bit_is_corruption(tmp_path: Path, where: int) -> None:
    volume, [offset] = write_records(tmp_path, [os.urandom(2 * BS)])
    flip_bit(volume.path, offset + where)
    with pytest.raises(ShardCorrupt):
        volume.read_header(offset)
    with pytest.raises(ShardCorrupt):
        b"".join(volume.read_range(offset, 0, 10))


def test_scan_stops_at_a_torn_tail_and_resync_skips_damage(tmp_path: Path) -> None:
    payloads = [os.urandom(1000) for _ in range(4)]
    volume, offsets = write_records(tmp_path, payloads)
    good_end = volume.size
    volume.append([encode_record(header_for(b"y" * 500, seq=9), b"y" * 500)[:-3]])  # torn
    records, end = volume.scan()
    assert [r.offset for r in records] == offsets and end == good_end
    flip_bit(volume.path, offsets[1] + 3)  # destroy record 1's magic
    records, end = volume.scan()
    assert [r.offset for r in records] == offsets[:1] and end == offsets[1]
    records, end = volume.scan_resync()
    assert [r.offset for r in records] == [offsets[0], offsets[2], offsets[3]] and end == good_end


def test_sealing_writes_a_verifiable_footer_and_makes_the_file_read_only(tmp_path: Path) -> None:
    volume, offsets = write_records(tmp_path, [os.urandom(5000), os.urandom(70_000)])
    data_end = volume.size
    volume.seal()
    assert volume.sealed and volume.size == data_end + FOOTER_SIZE
    assert not os.stat(volume.path).st_mode & stat.S_IWUSR
    volume.verify_sealed()
    with pytest.raises(PermissionError):
        volume.append([b"more"])
    reopened = VolumeFile.open(volume.path)
    assert reopened.sealed and reopened.data_end == data_end and reopened.records == 2
    assert [r.offset for r in reopened.scan()[0]] == offsets
    reopened.close()
    flip_bit(volume.path, FILE_HEADER_SIZE + RECORD_HEADER_SIZE + 100)
    damaged = VolumeFile.open(volume.path)
    with pytest.raises(ShardCorrupt):
        damaged.verify_sealed()


def test_a_damaged_file_header_is_rejected(tmp_path: Path) -> None:
    volume, _ = write_records(tmp_path, [b"abc"])
    flip_bit(volume.path, 9)
    with pytest.raises(FormatError):
        VolumeFile.open(volume.path)


def test_record_header_checks_magic_and_checksum() -> None:
    record = encode_record(header_for(b"hello", kind=RecordKind.TOMBSTONE), b"hello")
    assert decode_record_header(record[:RECORD_HEADER_SIZE]).kind is RecordKind.TOMBSTONE
    with pytest.raises(FormatError):
        decode_record_header(b"XXXX" + record[4:RECORD_HEADER_SIZE])
    with pytest.raises(FormatError):
        decode_record_header(record[: RECORD_HEADER_SIZE - 1])
