"""The durable record of the one compaction in progress: a phase machine on disk.

`<data_dir>/compaction.job` holds a 64-byte record (FORMAT.md): the job id, its phase, the
source volume, the target volume and how many records were copied. It is replaced durably
(temp file, fsync, rename, fsync of the directory) at every phase change, *after* the work of
the phase it names is durable, so on restart `compaction.resume` knows what is done:

    PLANNED      decided: source and target id chosen; nothing on disk yet
    COPYING      the target exists as `vol-T.cpt` (never read; discarded on restart)
    COPIED       the target is complete, sealed, fsynced and renamed to `vol-T.cvol`
    SWITCHED     the index rows point at the target (one SQLite transaction)
    OLD_REMOVED  the source file is unlinked and forgotten by the index
    DONE         the outcome is in the history table; the record file is then deleted

Before COPIED a restart rolls back (drops the `.cpt`); from COPIED on it rolls forward.
A record that fails its checks is moved aside; start-up then drops every `.cpt` and keeps
both volumes, which is always safe (a record in both reads the same bytes).

`on_persisted` runs after every durable save: the fault-injection hook of the interruption
tests (`CAIRN_DATANODE_FAULT_COMPACTION`, see compaction.py).
"""

from __future__ import annotations

import dataclasses
import enum
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cairn.checksums import crc32c
from cairn.durable_file import fsync_dir, write_atomic

RECORD_NAME = "compaction.job"
MAGIC = b"CAIRNCMP"
VERSION = 1
_RECORD = struct.Struct("<8sHHIQQQQQI")  # see FORMAT.md
RECORD_SIZE = _RECORD.size + 4  # + crc32c
_U32 = struct.Struct("<I")


class Phase(enum.IntEnum):
    PLANNED = 1
    COPYING = 2
    COPIED = 3
    SWITCHED = 4
    OLD_REMOVED = 5
    DONE = 6


class RecordDamaged(Exception):
    """The compaction record file is not a valid record."""


@dataclass(frozen=True, slots=True)
class Job:
    job_id: int  # unix time in ns when it was planned; unique per node
    phase: Phase
    source: int  # volume being compacted
    target: int  # volume receiving its live records; 0 once COPIED if nothing was copied
    source_bytes: int  # the source file's size when planned
    records: int = 0  # records in the target (from COPIED on)

    def at(self, phase: Phase, **changes: int) -> Job:
        return dataclasses.replace(self, phase=phase, **changes)


def encode(job: Job) -> bytes:
    body = _RECORD.pack(
        MAGIC,
        VERSION,
        int(job.phase),
        0,
        job.job_id,
        job.source,
        job.target,
        job.source_bytes,
        job.records,
        0,
    )
    return body + _U32.pack(crc32c(body))


def decode(buf: bytes) -> Job:
    if len(buf) != RECORD_SIZE:
        raise RecordDamaged(f"compaction record is {len(buf)} bytes, not {RECORD_SIZE}")
    body = buf[: _RECORD.size]
    magic, version, phase, _, job_id, source, target, source_bytes, records, _ = _RECORD.unpack(body)
    if magic != MAGIC or _U32.unpack_from(buf, _RECORD.size)[0] != crc32c(body):
        raise RecordDamaged("bad compaction record magic or checksum")
    if version != VERSION or phase not in Phase._value2member_map_:
        raise RecordDamaged(f"unsupported compaction record version {version} or phase {phase}")
    return Job(job_id, Phase(phase), source, target, source_bytes, records)


class CompactionRecord:
    """Load, save (durably) and clear `<data_dir>/compaction.job`."""

    def __init__(self, path: Path, on_persisted: Callable[[Job], None] | None = None) -> None:
        self.path = path
        self.on_persisted = on_persisted

    def load(self) -> Job | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        return decode(raw)

    def save(self, job: Job) -> None:
        write_atomic(self.path, encode(job))
        if self.on_persisted is not None:
            self.on_persisted(job)

    def clear(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            return
        fsync_dir(self.path.parent)

    def move_aside(self) -> None:
        os.replace(self.path, self.path.with_suffix(".damaged"))
        fsync_dir(self.path.parent)
