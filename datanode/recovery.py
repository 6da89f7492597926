"""Start-up recovery: make the volume files and the index agree again after any crash.

Algorithm (blocking; runs once in the thread pool before the node serves):
1. Delete `*.tmp` files (volumes whose creation never reached the rename). Open every volume;
   one whose file header is damaged is renamed `*.damaged` and ignored (its shards read as
   missing, so repair restores them).
2. Open the index. If it is missing while volumes exist, or SQLite reports it damaged, move
   it aside and *rebuild*: scan every record of every volume (skipping damaged stretches),
   keep for each key the record with the highest seq (a tombstone makes the key dead), cut a
   read-write volume after its last whole record, and install the new index with a durable
   replace (write temp, rename, fsync the directory).
3. Otherwise *reconcile*: for each volume, scan from its `committed_end` (everything below
   was fsynced before its index rows committed). Whole records found there were written but
   never acknowledged; they are indexed (they read back whole). The first record that does
   not check out starts a torn tail: the file is truncated there and fsynced. A read-write
   volume *shorter* than its `committed_end` has lost acknowledged records (a truncated or
   badly restored file): it is quarantined, i.e. sealed read-only where it ends, so no lane
   ever appends at offsets the index still points at. Its intact records stay readable; the
   rows of the lost stretch stay in the index and read as ShardCorrupt, so repair rewrites
   them (a rewrite lands in another volume).
Acknowledged records are never truncated: they all lie below `committed_end`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cairn.datanode.index import IndexDamaged, IndexEntry, ShardIndex
from cairn.datanode.shards import ShardKey, ShardState
from cairn.datanode.volume import (
    FILE_HEADER_SIZE,
    FormatError,
    Fsync,
    RecordKind,
    ScannedRecord,
    VolumeFile,
)
from cairn.durable_file import fsync_dir

log = logging.getLogger(__name__)

INDEX_NAME = "index.db"


@dataclass(slots=True)
class Recovered:
    index: ShardIndex
    volumes: dict[int, VolumeFile]
    rebuilt: bool
    truncated_bytes: int  # torn-tail bytes cut off, over all volumes
    quarantined: list[int]  # volumes found shorter than their committed end, now sealed


def recover(volumes_dir: Path, index_path: Path, fsync: Fsync = os.fsync) -> Recovered:
    for tmp in volumes_dir.glob("*.tmp"):
        tmp.unlink()
    volumes = _open_volumes(volumes_dir)
    index: ShardIndex | None = None
    if index_path.exists() or not volumes:
        try:
            index = ShardIndex.open(index_path)
        except IndexDamaged as exc:
            log.error("index %s is damaged (%s); rebuilding it from the volumes", index_path, exc)
            _move_aside(index_path)
    else:
        log.warning("index %s is missing; rebuilding it from %d volumes", index_path, len(volumes))
    if index is None:
        truncated = _rebuild(volumes, index_path, fsync)
        return Recovered(ShardIndex.open(index_path), volumes, True, truncated, [])
    try:
        truncated, quarantined = _reconcile(index, volumes, fsync)
    except BaseException:
        index.close()
        raise
    return Recovered(index, volumes, False, truncated, quarantined)


def _open_volumes(volumes_dir: Path) -> dict[int, VolumeFile]:
    volumes: dict[int, VolumeFile] = {}
    for path in sorted(volumes_dir.glob("vol-*.cvol")):
        try:
            volume = VolumeFile.open(path)
        except FormatError as exc:
            log.error("volume %s is unreadable (%s); moving it aside", path, exc)
            path.rename(path.with_suffix(".damaged"))
            continue
        volumes[volume.volume_id] = volume
    return volumes


def _move_aside(index_path: Path) -> None:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{index_path}{suffix}")
        if path.exists():
            path.rename(Path(f"{index_path}{suffix}.damaged-{stamp}"))


def apply_records(
    current: dict[ShardKey, IndexEntry], records: Iterable[ScannedRecord], volume: int
) -> list[IndexEntry]:
    """Fold scanned records into `current` (highest seq wins); return the entries changed."""
    changed: dict[ShardKey, IndexEntry] = {}
    for rec in records:
        h = rec.header
        old = changed.get(h.key) or current.get(h.key)
        if old is not None and old.seq >= h.seq:
            continue
        if h.kind is RecordKind.TOMBSTONE:
            length, crc = (old.length, old.crc32c) if old is not None else (0, 0)
            entry = IndexEntry(h.key, h.pg, volume, rec.offset, length, crc, ShardState.DEAD, h.seq)
        elif old is not None and old.state is ShardState.DEAD:
            continue  # a deleted key stays deleted
        else:
            entry = IndexEntry(h.key, h.pg, volume, rec.offset, h.length, h.crc32c, ShardState.LIVE, h.seq)
        changed[h.key] = entry
        current[h.key] = entry
    return list(changed.values())


def _rebuild(volumes: dict[int, VolumeFile], index_path: Path, fsync: Fsync) -> int:
    entries: dict[ShardKey, IndexEntry] = {}
    ends: dict[int, int] = {}
    truncated = 0
    scanned: list[tuple[int, ScannedRecord]] = []
    for volume in volumes.values():
        records, good_end = volume.scan_resync()
        if not volume.sealed and good_end < volume.size:
            truncated += volume.size - good_end
            volume.truncate(good_end, fsync)
        ends[volume.volume_id] = volume.data_end
        scanned.extend((volume.volume_id, r) for r in records)
    scanned.sort(key=lambda item: item[1].header.seq)
    for volume_id, rec in scanned:
        apply_records(entries, [rec], volume_id)
    tmp = Path(f"{index_path}.rebuild")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    fresh = ShardIndex.open(tmp)
    try:
        first = True
        for volume_id, end in ends.items():
            fresh.commit_batch(list(entries.values()) if first else [], volume_id, end)
            first = False
            if volumes[volume_id].sealed:
                fresh.mark_sealed(volume_id, end)
    finally:
        fresh.close()
    os.rename(tmp, index_path)
    fsync_dir(index_path.parent)
    log.info("rebuilt index: %d shards from %d volumes", len(entries), len(volumes))
    return truncated


def _reconcile(index: ShardIndex, volumes: dict[int, VolumeFile], fsync: Fsync) -> tuple[int, list[int]]:
    """Index whole records above each volume's committed end, cut torn tails, quarantine
    volumes shorter than their committed end; return (bytes truncated, quarantined ids)."""
    rows = index.volumes()
    truncated = 0
    quarantined: list[int] = []
    for volume_id in rows:
        if volume_id not in volumes:
            log.error("volume %d is in the index but its file is missing", volume_id)
    for volume in volumes.values():
        row = rows.get(volume.volume_id)
        start = row.committed_end if row is not None else FILE_HEADER_SIZE
        lost_footer = row is not None and row.sealed and not volume.sealed  # sealed, then cut short
        if row is not None and row.sealed and not lost_footer:
            continue
        if start > volume.data_end or lost_footer:
            log.error(
                "volume %d is shorter (%d) than its committed end (%d): acknowledged records "
                "are lost; sealing it read-only (its lost shards read as corrupt until repaired)",
                volume.volume_id,
                volume.data_end,
                start,
            )
            volume.seal(fsync)
            index.mark_sealed(volume.volume_id, volume.data_end)
            quarantined.append(volume.volume_id)
            continue
        records, end = volume.scan(start)
        if not volume.sealed and end < volume.size:
            log.warning(
                "volume %d: truncating a torn tail of %d bytes at %d",
                volume.volume_id,
                volume.size - end,
                end,
            )
            truncated += volume.size - end
            volume.truncate(end, fsync)
        current = {r.header.key: e for r in records if (e := index.get(r.header.key)) is not None}
        changed = apply_records(current, records, volume.volume_id)
        if changed:
            log.info("volume %d: indexed %d unacknowledged whole records", volume.volume_id, len(changed))
        index.commit_batch(changed, volume.volume_id, end)
        if volume.sealed:
            index.mark_sealed(volume.volume_id, volume.data_end)
    return truncated, quarantined
