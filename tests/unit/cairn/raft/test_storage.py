"""The Raft log file and snapshot file: round trips, torn tails, truncation, crash windows."""

from __future__ import annotations

from pathlib import Path

import pytest

from cairn.raft.messages import Entry, EntryType, HardState, Membership, Snapshot
from cairn.raft.storage import FileLogStore, MemoryLogStore
from cairn.raft.wal import CorruptFile, decode_snapshot, encode_snapshot

MEMBERS = Membership(frozenset({"a", "b", "c"}))


def entries(lo: int, hi: int, term: int) -> list[Entry]:
    return [Entry(i, term, EntryType.NORMAL, b"cmd-%d-%d" % (i, term)) for i in range(lo, hi + 1)]


def reopen(path: Path) -> FileLogStore:
    return FileLogStore(path)


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


def test_a_flipped_byte_ends_the_log_at_the_damaged_record(tmp_path: Path) -> None:
    store = FileLogStore(tmp_path)
    store.load()
    store.save(None, entries(1, 3, 1), None, sync=True)
    store.close()
    wal = tmp_path / "raft.wal"
    raw = bytearray(wal.read_bytes())
    raw[-2] ^= 0xFF
    wal.write_bytes(bytes(raw))
    assert list(reopen(tmp_path).load().entries) == entries(1, 2, 1)


def test_compaction_keeps_the_snapshot_and_the_entries_after_it(tmp_path: Path) -> None:
    store = FileLogStore(tmp_path)
    store.load()
    store.save(HardState(1, "a", 8), entries(1, 10, 1), None, sync=True)
    snap = Snapshot(8, 1, MEMBERS, b"state-at-8")
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
    store.close()
    (tmp_path / "snapshot").write_bytes(encode_snapshot(Snapshot(4, 1, MEMBERS, b"s4")))
    state = reopen(tmp_path).load()  # the old log still holds 1..6
    assert state.snapshot is not None and state.snapshot.index == 4
    assert list(state.entries) == entries(5, 6, 1)


def test_a_log_from_an_abandoned_history_is_dropped_in_favour_of_the_snapshot(tmp_path: Path) -> None:
    store = FileLogStore(tmp_path)
    store.load()
    store.save(HardState(1, None, 2), entries(1, 6, 1), None, sync=True)  # term-1 tail, uncommitted
    store.close()
    (tmp_path / "snapshot").write_bytes(encode_snapshot(Snapshot(5, 2, MEMBERS, b"s5")))
    state = reopen(tmp_path).load()
    assert state.entries == ()
    assert state.hard_state.commit == 5


def test_a_received_snapshot_replaces_the_whole_log(tmp_path: Path) -> None:
    store = FileLogStore(tmp_path)
    store.load()
    store.save(HardState(1, None, 0), entries(1, 3, 1), None, sync=True)
    snap = Snapshot(20, 3, MEMBERS, b"s20")
    store.save(HardState(3, None, 20), [], snap, sync=True)
    store.save(None, entries(21, 22, 3), None, sync=True)
    store.close()
    state = reopen(tmp_path).load()
    assert state.snapshot == snap
    assert list(state.entries) == entries(21, 22, 3)
    assert state.hard_state == HardState(3, None, 20)


def test_snapshot_file_checksum_and_format(tmp_path: Path) -> None:
    snap = Snapshot(7, 2, Membership(frozenset({"a", "b", "c"}), frozenset({"d"})), b"\x00data" * 100)
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
