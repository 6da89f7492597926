"""Snapshot directories: chunked reading and receiving, checksum refusal, and what a crash at
each step of an install leaves (the store loads the last complete snapshot, never a part)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from cairn.checksums import crc32c
from cairn.raft.errors import SnapshotCorrupt
from cairn.raft.messages import Entry, EntryType, HardState, Membership, Snapshot, SnapshotFile
from cairn.raft.snapfiles import Receiver, SnapshotDirs, SnapshotWriter, open_files, read_chunks, verify
from cairn.raft.storage import FileLogStore
from cairn.raft.wal import CorruptFile

MEMBERS = Membership(frozenset({"a", "b", "c"}))
CHUNK = 1000
FILES = {"catalog.sqlite": bytes(range(256)) * 10, "empty": b"", "shard-000.sqlite": b"z", "last": b"q" * 999}


def writer(files: dict[str, bytes]) -> SnapshotWriter:
    def write(directory: Path) -> list[str]:
        for name, data in files.items():
            (directory / name).write_bytes(data)
        return list(files)

    return write


def build(dirs: SnapshotDirs, index: int, term: int, files: dict[str, bytes] = FILES) -> Snapshot:
    return dirs.build(writer(files), Snapshot(index, term, MEMBERS))


def test_a_built_snapshot_is_staged_with_its_manifest(tmp_path: Path) -> None:
    snap = build(SnapshotDirs(tmp_path), 9, 2)
    assert snap.files == tuple(SnapshotFile(n, len(d), crc32c(d)) for n, d in FILES.items())
    staged = tmp_path / "staged-9-2"
    assert {p.name: p.read_bytes() for p in staged.iterdir()} == FILES
    assert verify(staged, snap.files) is None
    assert [p.name for p in tmp_path.iterdir()] == ["staged-9-2"]  # no temp directory left


def test_files_are_read_in_bounded_chunks_and_received_whatever_the_split(tmp_path: Path) -> None:
    sender = SnapshotDirs(tmp_path / "sender")
    snap = build(sender, 9, 2)
    blocks = list(read_chunks(open_files(sender.staged(snap), snap.files), CHUNK))
    assert all(0 < len(b) <= CHUNK for b in blocks)
    assert len(blocks) == 5  # 2560 = 1000 + 1000 + 560, then 1, then 999: files never share a chunk
    stream = b"".join(blocks)
    assert stream == b"".join(FILES.values())
    for split in (1, 7, 333, CHUNK, len(stream)):
        dirs = SnapshotDirs(tmp_path / f"receiver-{split}")
        receiver = Receiver(dirs, snap)
        for pos in range(0, len(stream), split):
            receiver.write(stream[pos : pos + split])
        assert receiver.finish() == snap
        assert {p.name: p.read_bytes() for p in dirs.staged(snap).iterdir()} == FILES
        assert [p.name for p in dirs.root.iterdir()] == ["staged-9-2"]


def test_reading_a_large_snapshot_holds_one_chunk_at_a_time(tmp_path: Path) -> None:
    big = {"shard-000.sqlite": b"\x5a" * (24 << 20), "shard-001.sqlite": b"\xa5" * (8 << 20)}
    dirs = SnapshotDirs(tmp_path)
    snap = build(dirs, 3, 1, big)
    tracemalloc.start()
    try:
        total = sum(len(b) for b in read_chunks(open_files(dirs.staged(snap), snap.files), 1 << 20))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 32 << 20
    assert peak < 3 << 20, peak  # one 1 MiB chunk (and change), not the 32 MiB snapshot


@pytest.mark.parametrize(
    "damage",
    ["flipped bit", "short", "long", "wrong crc in the manifest"],
)
def test_a_received_file_that_fails_its_check_is_refused_and_discarded(tmp_path: Path, damage: str) -> None:
    sender = SnapshotDirs(tmp_path / "sender")
    snap = build(sender, 9, 2)
    stream = b"".join(FILES.values())
    if damage == "flipped bit":
        stream = stream[:2600] + bytes([stream[2600] ^ 4]) + stream[2601:]
    elif damage == "short":
        stream = stream[:-1]
    elif damage == "long":
        stream += b"!"
    else:
        files = list(snap.files)
        files[0] = SnapshotFile(files[0].name, files[0].size, files[0].crc32c ^ 1)
        snap = Snapshot(snap.index, snap.term, snap.membership, files=tuple(files))
    dirs = SnapshotDirs(tmp_path / "receiver")
    receiver = Receiver(dirs, snap)
    with pytest.raises(SnapshotCorrupt):
        for pos in range(0, len(stream), CHUNK):
            receiver.write(stream[pos : pos + CHUNK])
        receiver.finish()
    receiver.abort()
    assert list(dirs.root.iterdir()) == []


def _store_with_snapshot(tmp_path: Path) -> tuple[FileLogStore, Snapshot]:
    """A store whose snapshot in force is at index 4, with entries 5..6 after it."""
    store = FileLogStore(tmp_path)
    store.load()
    store.save(HardState(1, None, 4), [], None, sync=True)
    old = build(store.dirs, 4, 1, {"state": b"old"})
    store.compact(old, [Entry(i, 1, EntryType.NORMAL, b"e%d" % i) for i in (5, 6)])
    return store, old


def _loaded_snapshot(tmp_path: Path) -> Snapshot | None:
    store = FileLogStore(tmp_path)
    try:
        return store.load().snapshot
    finally:
        store.close()


def test_a_crash_mid_transfer_or_before_the_switch_keeps_the_old_snapshot(tmp_path: Path) -> None:
    store, old = _store_with_snapshot(tmp_path)
    # mid-transfer: a temp directory with part of a file
    receiver = Receiver(store.dirs, build(SnapshotDirs(tmp_path / "elsewhere"), 20, 2))
    receiver.write(b"partial")
    # received completely and staged, but the replica died before the switch
    new = build(store.dirs, 30, 2, {"state": b"new"})
    store.close()
    assert _loaded_snapshot(tmp_path) == old
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["elsewhere", "raft.wal", "snap-4-1", "snapshot"]  # partial and staged are gone
    # the directory renamed into place, but the manifest not yet replaced
    store = FileLogStore(tmp_path)
    store.load()
    new = build(store.dirs, 30, 2, {"state": b"new"})
    store.dirs.staged(new).rename(store.dirs.current(new))
    store.close()
    assert _loaded_snapshot(tmp_path) == old
    assert not store.dirs.current(new).exists()


def test_a_crash_after_the_switch_loads_the_new_snapshot_whole(tmp_path: Path) -> None:
    store, old = _store_with_snapshot(tmp_path)
    new = build(store.dirs, 30, 2, {"state": b"new"})
    store._switch(new)  # the manifest names the new snapshot; the log rewrite never ran
    store.close()
    state = FileLogStore(tmp_path).load()
    assert state.snapshot == new
    assert state.entries == ()  # the old log ends before the new snapshot
    assert (tmp_path / "snap-30-2" / "state").read_bytes() == b"new"
    assert not (tmp_path / "snap-4-1").exists()


def test_a_damaged_file_of_the_snapshot_in_force_refuses_to_load(tmp_path: Path) -> None:
    store, old = _store_with_snapshot(tmp_path)
    store.close()
    (tmp_path / "snap-4-1" / "state").write_bytes(b"olD")
    with pytest.raises(CorruptFile, match="crc32c"):
        FileLogStore(tmp_path).load()
    (tmp_path / "snap-4-1" / "state").unlink()
    with pytest.raises(CorruptFile, match="missing"):
        FileLogStore(tmp_path).load()
