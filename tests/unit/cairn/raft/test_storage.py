"""The Raft log file and snapshot file: round trips, torn tails vs. corruption, crash windows."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from cairn.checksums import crc32c
from cairn.raft.messages import Entry, EntryType, HardState, Membership, Snapshot, SnapshotFile
from cairn.raft.storage import FileLogStore, MemoryLogStore
from cairn.raft.wal import HEADER, CorruptFile, decode_snapshot, encode_snapshot

MEMBERS = Membership(frozenset({"a", "b", "c"}))


def entries(lo: int, hi: int, term: int) -> list[Entry]:
    return [Entry(i, term, EntryType.NORMAL, b"cmd-%d-%d" % (i, term)) for i in range(lo, hi + 1)]


def reopen(path: Path) -> FileLogStore:
    return FileLogStore(path)


def staged(store: FileLogStore, index: int, term: int, payload: bytes) -> Snapshot:
    """A snapshot of one file holding `payload`, built and staged as the runtime does."""

    def write(directory: Path) -> list[str]:
        (directory / "state").write_bytes(payload)
        return ["state"]

    return store.dirs.build(write, Snapshot(index, term, MEMBERS))


def v1_snapshot_file(path: Path, snap: Snapshot) -> None:
    """A version-1 `snapshot` file (the state inline), as replicas wrote before directories."""
    members = b",".join(sorted(v.encode() for v in snap.membership.voters)) + b"|"
    body = struct.pack(">8sHHQQI", b"CRNRAFTS", 1, 0, snap.index, snap.term, len(members))
    body += members + struct.pack(">Q", len(snap.data)) + snap.data
    (path / "snapshot").write_bytes(body + struct.pack(">I", crc32c(body)))


def test_entries_and_hard_state_survive_a_reopen(tmp_path: Path) -> None:
    store = FileLogStore(tmp_path)
    assert store.load().entries == ()
    store.save(HardState(1, "a", 0), entries(1, 5, 1), None, sync=True)
    store.save(HardState(1, "a", 3), [], None, sync=False)
    store.close()
    state = reopen(tmp_path).load()
    assert state.hard_state == HardState(1, "a", 3)
    assert list(state.entries) == entries(1, 5, 1)


def test_a_newer_append_replaces_the_tail(tmp_path: Path) -> None:
    store = FileLogStore(tmp_path)
    store.load()
    store.save(HardState(1, None, 0), entries(1, 5, 1), None, sync=True)
    store.save(HardState(2, None, 0), entries(3, 4, 2), None, sync=True)
    store.close()
    state = reopen(tmp_path).load()
    assert list(state.entries) == entries(1, 2, 1) + entries(3, 4, 2)


def test_a_torn_tail_is_cut_and_the_rest_kept(tmp_path: Path) -> None:
    store = FileLogStore(tmp_path)
    store.load()
    store.save(HardState(1, None, 0), entries(1, 3, 1), None, sync=True)
    store.close()
    wal = tmp_path / "raft.wal"
    good = wal.read_bytes()
    wal.write_bytes(good + good[-20:-3])  # half of a record, as after a crash mid-write
    store = reopen(tmp_path)
    assert list(store.load().entries) == entries(1, 3, 1)
    store.save(None, entries(4, 4, 1), None, sync=True)  # appends land after the cut, readable
    store.close()
    assert list(reopen(tmp_path).load().entries) == entries(1, 4, 1)


def record_offsets(raw: bytes) -> list[int]:
    """Start offsets of the records of an intact log file."""
    offsets, pos = [], HEADER.size
    while pos < len(raw):
        offsets.append(pos)
        pos += 8 + int.from_bytes(raw[pos : pos + 4], "big")
    assert pos == len(raw)
    return offsets


def two_saves(tmp_path: Path, last_data: bytes = b"cmd-3") -> bytes:
    """The review's log: HardState(1, a) with entries 1-2, then HardState(5, b, commit 2) with
    entry 3. Returns the file's bytes; the last record is the term-5 hard state."""
    store = FileLogStore(tmp_path)
    store.load()
    store.save(HardState(1, "a", 0), entries(1, 2, 1), None, sync=True)
    store.save(HardState(5, "b", 2), [Entry(3, 5, EntryType.NORMAL, last_data)], None, sync=True)
    store.close()
    return (tmp_path / "raft.wal").read_bytes()


def test_a_damaged_early_record_refuses_to_load_and_keeps_the_file(tmp_path: Path) -> None:
    raw = two_saves(tmp_path)
    wal = tmp_path / "raft.wal"
    damaged = bytearray(raw)
    damaged[record_offsets(raw)[1] + 20] ^= 0x04  # inside entry 1
    wal.write_bytes(bytes(damaged))
    with pytest.raises(CorruptFile, match="refusing to start"):
        reopen(tmp_path).load()
    assert wal.read_bytes() == bytes(damaged)  # the evidence (and the term-5 vote) is still there


def test_a_flipped_bit_anywhere_before_the_last_record_is_corruption(tmp_path: Path) -> None:
    raw = two_saves(tmp_path)
    wal = tmp_path / "raft.wal"
    last = record_offsets(raw)[-1]
    for offset in range(last):  # file header, record headers and payloads of every earlier record
        for bit in range(8):
            damaged = bytearray(raw)
            damaged[offset] ^= 1 << bit
            wal.write_bytes(bytes(damaged))
            with pytest.raises(CorruptFile):
                reopen(tmp_path).load()
            assert wal.read_bytes() == bytes(damaged), (offset, bit)


def test_a_flipped_bit_in_a_fully_written_last_record_is_corruption(tmp_path: Path) -> None:
    raw = two_saves(tmp_path)
    wal = tmp_path / "raft.wal"
    damaged = bytearray(raw)
    damaged[-1] ^= 0x01  # the vote byte of the term-5 hard state: no crash writes that
    wal.write_bytes(bytes(damaged))
    with pytest.raises(CorruptFile):
        reopen(tmp_path).load()
    assert wal.read_bytes() == bytes(damaged)


def test_a_torn_last_record_at_every_byte_is_cut_and_the_rest_kept(tmp_path: Path) -> None:
    raw = two_saves(tmp_path)
    wal = tmp_path / "raft.wal"
    last = record_offsets(raw)[-1]
    for cut in range(last, len(raw)):
        wal.write_bytes(raw[:cut])
        store = reopen(tmp_path)
        state = store.load()
        store.close()
        assert state.hard_state == HardState(1, "a", 0), cut  # the term-5 save never completed
        assert list(state.entries) == entries(1, 2, 1) + [Entry(3, 5, EntryType.NORMAL, b"cmd-3")]
        assert wal.read_bytes() == raw[:last], cut  # only the torn bytes are gone
    store = reopen(tmp_path)
    store.load()
    store.save(HardState(5, "b", 2), [], None, sync=True)  # appends land after the cut, readable
    store.close()
    assert reopen(tmp_path).load().hard_state == HardState(5, "b", 2)


def test_a_last_record_left_zero_from_a_sector_boundary_is_a_torn_write(tmp_path: Path) -> None:
    store = FileLogStore(tmp_path)
    store.load()
    store.save(HardState(1, "a", 0), entries(1, 2, 1), None, sync=True)
    store.save(None, [Entry(3, 1, EntryType.NORMAL, b"x" * 2000)], None, sync=True)
    store.close()
    wal = tmp_path / "raft.wal"
    raw = wal.read_bytes()
    last = record_offsets(raw)[-1]
    boundary = (last // 512 + 1) * 512
    wal.write_bytes(raw[:boundary] + bytes(len(raw) - boundary))  # size grew, data never landed
    state = reopen(tmp_path).load()
    assert list(state.entries) == entries(1, 2, 1)
    assert wal.read_bytes() == raw[:last]
    zeroed_early = raw[: last - 100] + bytes(100) + raw[last:]  # zeros with intact data after them
    wal.write_bytes(zeroed_early)
    with pytest.raises(CorruptFile):
        reopen(tmp_path).load()
    assert wal.read_bytes() == zeroed_early


def test_a_missing_log_next_to_a_snapshot_refuses_to_load(tmp_path: Path) -> None:
    v1_snapshot_file(tmp_path, Snapshot(4, 1, MEMBERS, b"s4"))
    with pytest.raises(CorruptFile, match="missing"):
        FileLogStore(tmp_path).load()
    assert not (tmp_path / "raft.wal").exists()


def test_compaction_keeps_the_snapshot_and_the_entries_after_it(tmp_path: Path) -> None:
    store = FileLogStore(tmp_path)
    store.load()
    store.save(HardState(1, "a", 8), entries(1, 10, 1), None, sync=True)
    snap = staged(store, 8, 1, b"state-at-8")
    store.compact(snap, entries(9, 10, 1))
    store.save(None, entries(11, 11, 1), None, sync=True)
    store.close()
    state = reopen(tmp_path).load()
    assert state.snapshot == snap
    assert list(state.entries) == entries(9, 11, 1)
    assert state.hard_state == HardState(1, "a", 8)


def test_crash_after_the_snapshot_file_before_the_log_rewrite(tmp_path: Path) -> None:
    store = FileLogStore(tmp_path)
    store.load()
    store.save(HardState(1, None, 4), entries(1, 6, 1), None, sync=True)
    snap = staged(store, 4, 1, b"s4")
    store._switch(snap)  # the manifest is written; the crash comes before the log rewrite
    store.close()
    state = reopen(tmp_path).load()  # the old log still holds 1..6
    assert state.snapshot == snap
    assert list(state.entries) == entries(5, 6, 1)


def test_a_log_from_an_abandoned_history_is_dropped_in_favour_of_the_snapshot(tmp_path: Path) -> None:
    store = FileLogStore(tmp_path)
    store.load()
    store.save(HardState(1, None, 2), entries(1, 6, 1), None, sync=True)  # term-1 tail, uncommitted
    store.close()
    v1_snapshot_file(tmp_path, Snapshot(5, 2, MEMBERS, b"s5"))  # and a version-1 snapshot file
    state = reopen(tmp_path).load()
    assert state.snapshot is not None and state.snapshot.index == 5
    assert (reopen(tmp_path).snapshot_dir(state.snapshot) / "state").read_bytes() == b"s5"  # converted
    assert state.entries == ()
    assert state.hard_state.commit == 5


def test_a_received_snapshot_replaces_the_whole_log(tmp_path: Path) -> None:
    store = FileLogStore(tmp_path)
    store.load()
    store.save(HardState(1, None, 0), entries(1, 3, 1), None, sync=True)
    snap = staged(store, 20, 3, b"s20")
    store.save(HardState(3, None, 20), [], snap, sync=True)
    store.save(None, entries(21, 22, 3), None, sync=True)
    store.close()
    state = reopen(tmp_path).load()
    assert state.snapshot == snap
    assert list(state.entries) == entries(21, 22, 3)
    assert state.hard_state == HardState(3, None, 20)


def test_snapshot_file_checksum_and_format(tmp_path: Path) -> None:
    files = (SnapshotFile("catalog.sqlite", 4096, 0xDEADBEEF), SnapshotFile("shard-000.sqlite", 0, 0))
    snap = Snapshot(7, 2, Membership(frozenset({"a", "b", "c"}), frozenset({"d"})), files=files)
    raw = encode_snapshot(snap)
    assert raw[:8] == b"CRNRAFTS"
    assert decode_snapshot(raw) == snap
    damaged = bytearray(raw)
    damaged[40] ^= 1
    with pytest.raises(CorruptFile):
        decode_snapshot(bytes(damaged))
    (tmp_path / "raft.wal").write_bytes(b"NOTALOG!" + bytes(8))
    with pytest.raises(CorruptFile):
        FileLogStore(tmp_path).load()


def test_memory_twin_loses_only_unsynced_hard_state_on_crash() -> None:
    store = MemoryLogStore()
    store.save(HardState(2, "b", 0), entries(1, 2, 2), None, sync=True)
    store.save(HardState(2, "b", 2), [], None, sync=False)
    store.crash()
    state = store.load()
    assert state.hard_state == HardState(2, "b", 0)
    assert list(state.entries) == entries(1, 2, 2)
