"""The compaction record's bytes, field by field as FORMAT.md lays them out, and its checks."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from cairn.checksums import crc32c
from cairn.datanode.compaction_record import (
    RECORD_SIZE,
    CompactionRecord,
    Job,
    Phase,
    RecordDamaged,
    decode,
    encode,
)


def test_the_record_is_laid_out_as_format_md_says() -> None:
    job = Job(1_700_000_000_123_456_789, Phase.SWITCHED, 7, 42, 1 << 30, 1234)
    raw = encode(job)
    assert RECORD_SIZE == len(raw) == 64
    assert raw[0:8] == b"CAIRNCMP"
    assert struct.unpack_from("<HHI", raw, 8) == (1, 4, 0)
    assert struct.unpack_from("<QQQQQ", raw, 16) == (job.job_id, 7, 42, 1 << 30, 1234)
    assert struct.unpack_from("<I", raw, 56) == (0,)
    assert struct.unpack_from("<I", raw, 60) == (crc32c(raw[:60]),)
    assert decode(raw) == job


@pytest.mark.parametrize("at", [0, 9, 11, 20, 60])
def test_any_flipped_byte_is_damage(at: int) -> None:
    raw = bytearray(encode(Job(1, Phase.COPYING, 1, 2, 3)))
    raw[at] ^= 0x01
    with pytest.raises(RecordDamaged):
        decode(bytes(raw))
    with pytest.raises(RecordDamaged):
        decode(bytes(raw[:-1]))


def test_save_load_clear_and_the_persisted_hook(tmp_path: Path) -> None:
    seen: list[Phase] = []
    record = CompactionRecord(tmp_path / "compaction.job", lambda job: seen.append(job.phase))
    assert record.load() is None
    job = Job(5, Phase.PLANNED, 3, 4, 100)
    record.save(job)
    record.save(job.at(Phase.COPIED, records=9))
    assert record.load() == Job(5, Phase.COPIED, 3, 4, 100, 9)
    assert seen == [Phase.PLANNED, Phase.COPIED]
    record.clear()
    assert record.load() is None and list(tmp_path.iterdir()) == []
