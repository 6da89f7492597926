"""Durable Raft state: the log file plus the latest snapshot, behind the `LogStore` protocol.

`FileLogStore` is the real store (blocking calls; the runtime runs them in its single storage
thread, which also serializes them). `MemoryLogStore` is the in-memory twin used by the
simulator; it models what a crash loses (writes made with sync=False).

Ordering rules this module keeps (formats in wal.py):
- `save` appends entries then the hard state and fsyncs once when `sync` is set, before the
  caller sends any message of the same Ready;
- a snapshot is a directory of files (snapfiles.py) that arrives staged (complete, fsynced);
  the switch renames it to `snap-<index>-<term>`, fsyncs the directory, then writes its
  manifest to `.snapshot.tmp`, fsyncs it, renames it over `snapshot` and fsyncs the directory,
  and only then is the log rewritten (same temp -> fsync -> rename -> fsync dir dance) without
  the entries the snapshot covers; the older snapshot directory is deleted last. A crash between the two steps leaves a log that
  still holds those entries; `load` drops them, and drops the whole log if it disagrees with
  the snapshot at the snapshot's index (it came from an abandoned history).
- `load` deletes partial snapshot directories (a transfer or build cut by a crash), and checks
  the files of the snapshot in force against its manifest (CorruptFile if they differ);
- `load` never rewrites the log: a torn last record is cut off in place (truncate + fsync);
  damage anywhere else (wal.py) raises CorruptFile and leaves every byte as it was, because the
  records after it may hold this replica's vote and entries a majority counted on.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, Protocol

from cairn.durable_file import fsync_dir, write_atomic
from cairn.raft.core import PersistedState
from cairn.raft.messages import Entry, HardState, Snapshot
from cairn.raft.snapfiles import STATE_FILE, SnapshotDirs, seal, verify
from cairn.raft.wal import (
    CorruptFile,
    SnapMark,
    decode_snapshot,
    encode_entry,
    encode_hard_state,
    encode_snapmark,
    encode_snapshot,
    scan_records,
    wal_header,
)

log = logging.getLogger(__name__)


class LogStore(Protocol):
    def load(self) -> PersistedState: ...

    def save(
        self, hard_state: HardState | None, entries: Sequence[Entry], snapshot: Snapshot | None, sync: bool
    ) -> None:
        """Persist a Ready: `snapshot` replaces the whole log, then `entries` (which may replace a
        tail) and `hard_state` are appended. Durable on return when `sync` is set."""

    def compact(self, snapshot: Snapshot, entries_after: Sequence[Entry]) -> None:
        """Durably store `snapshot`, then keep only `entries_after` (the entries past it)."""

    def close(self) -> None: ...


def assemble(snapshot: Snapshot | None, hard: HardState, entries: list[Entry]) -> PersistedState:
    """Reconcile a snapshot with the log read back next to it (see the module docstring)."""
    if snapshot is not None:
        if entries and entries[0].index > snapshot.index + 1:
            raise CorruptFile(f"log starts at {entries[0].index}, after the snapshot at {snapshot.index}")
        at = [e.term for e in entries if e.index == snapshot.index]
        if entries and entries[0].index <= snapshot.index and at != [snapshot.term]:
            entries = []  # the log ends before the snapshot or belongs to an abandoned history
        else:
            entries = [e for e in entries if e.index > snapshot.index]
        hard = HardState(hard.term, hard.vote, max(hard.commit, snapshot.index))
    first = snapshot.index + 1 if snapshot else 1
    for k, entry in enumerate(entries):
        if entry.index != first + k:
            raise CorruptFile(f"log entry {entry.index} found where {first + k} was expected")
    return PersistedState(hard, snapshot, tuple(entries))


def _replay(records: Sequence[Entry | HardState | SnapMark]) -> tuple[HardState, list[Entry]]:
    """The hard state and entries a log's records add up to (replay rules in wal.py)."""
    hard = HardState()
    entries: list[Entry] = []
    for rec in records:
        if isinstance(rec, HardState):
            hard = rec
        elif isinstance(rec, SnapMark):
            entries = [e for e in entries if e.index > rec.index]
        else:
            _put(entries, rec)
    return hard, entries


def _put(entries: list[Entry], entry: Entry) -> None:
    if entries and entry.index <= entries[-1].index:
        del entries[max(0, entry.index - entries[0].index) :]
    entries.append(entry)


class MemoryLogStore:
    """In-memory twin of FileLogStore; `crash()` drops what was written without sync."""

    def __init__(self) -> None:
        self.hard = HardState()
        self.volatile_hard: HardState | None = None
        self.snapshot: Snapshot | None = None
        self.entries: list[Entry] = []

    def load(self) -> PersistedState:
        return assemble(self.snapshot, self.volatile_hard or self.hard, list(self.entries))

    def save(
        self, hard_state: HardState | None, entries: Sequence[Entry], snapshot: Snapshot | None, sync: bool
    ) -> None:
        if snapshot is not None:
            self.snapshot = snapshot
            self.entries = []
        for entry in entries:
            _put(self.entries, entry)
        if hard_state is not None:
            self.volatile_hard = hard_state
        if sync and self.volatile_hard is not None:
            self.hard, self.volatile_hard = self.volatile_hard, None

    def compact(self, snapshot: Snapshot, entries_after: Sequence[Entry]) -> None:
        self.snapshot = snapshot
        self.entries = list(entries_after)

    def crash(self) -> None:
        self.volatile_hard = None

    def close(self) -> None:
        return None


class FileLogStore:
    """`raft.wal`, the `snapshot` manifest and the snapshot directories in `directory` (created
    if missing)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.wal_path = self.dir / "raft.wal"
        self.snap_path = self.dir / "snapshot"
        self.dirs = SnapshotDirs(self.dir)
        self._hard = HardState()
        self._snap_mark = SnapMark(0, 0)
        self._file: BinaryIO | None = None  # opened by load()

    def load(self) -> PersistedState:
        """Recover the persisted state; raises CorruptFile (touching no file) on damaged state.
        Partial snapshot transfers and builds are deleted; the snapshot in force is checked
        against its manifest."""
        if not self.wal_path.exists() and self.snap_path.exists():
            raise CorruptFile(f"{self.wal_path} is missing next to {self.snap_path}: term and vote are lost")
        snapshot = self._load_snapshot()
        if not self.wal_path.exists():
            state = assemble(None, HardState(), [])
            self._hard = state.hard_state
            self._rewrite(None, [])
            return state
        buf = self.wal_path.read_bytes()
        try:
            records, valid = scan_records(buf)
            state = assemble(snapshot, *_replay(records))
        except CorruptFile as err:
            raise CorruptFile(
                f"{self.wal_path}: {err}; refusing to start on it (the file is left as it was)"
            ) from err
        self._hard = state.hard_state
        if valid != len(buf):
            log.warning(
                "%s: cutting a torn last record (%d bytes at offset %d)",
                self.wal_path,
                len(buf) - valid,
                valid,
            )
            with open(self.wal_path, "r+b") as f:
                f.truncate(valid)
                os.fsync(f.fileno())
        self._file = open(self.wal_path, "ab")  # noqa: SIM115 - kept open for appends
        return state

    def save(
        self, hard_state: HardState | None, entries: Sequence[Entry], snapshot: Snapshot | None, sync: bool
    ) -> None:
        if hard_state is not None:
            self._hard = hard_state
        if snapshot is not None:
            self._switch(snapshot)
            self._rewrite(snapshot, list(entries))
            self.dirs.switched(snapshot)
            return
        f = self._require_file()
        chunks = [encode_entry(e) for e in entries]
        if hard_state is not None:
            chunks.append(encode_hard_state(hard_state))
        if not chunks:
            return
        f.write(b"".join(chunks))
        f.flush()
        if sync:
            os.fdatasync(f.fileno())

    def compact(self, snapshot: Snapshot, entries_after: Sequence[Entry]) -> None:
        self._switch(snapshot)
        self._rewrite(snapshot, list(entries_after))
        self.dirs.switched(snapshot)

    def snapshot_dir(self, snapshot: Snapshot) -> Path:
        """Where the files of `snapshot` (the one in force) are."""
        return self.dirs.current(snapshot)

    def _switch(self, snapshot: Snapshot) -> None:
        """Make the staged `snapshot` the one in force: rename its directory into place, fsync
        the Raft directory, then replace the manifest (`snapshot`, temp -> fsync -> rename ->
        fsync dir). A crash before the manifest's rename leaves the old snapshot in force and
        the new directory unreferenced (deleted at load)."""
        staged, current = self.dirs.staged(snapshot), self.dirs.current(snapshot)
        if staged.exists():
            if current.exists():
                shutil.rmtree(current)  # not in force: a leftover of the same index and term
            staged.rename(current)
            fsync_dir(self.dir)
        elif not current.exists():
            raise FileNotFoundError(f"snapshot {snapshot.index}-{snapshot.term} was not staged in {self.dir}")
        write_atomic(self.snap_path, encode_snapshot(snapshot))

    def _load_snapshot(self) -> Snapshot | None:
        snapshot = decode_snapshot(self.snap_path.read_bytes()) if self.snap_path.exists() else None
        if snapshot is not None and not snapshot.files:
            snapshot = self._convert_v1(snapshot)
        dropped = self.dirs.clean(snapshot)
        if dropped:
            log.warning("%s: deleted partial or superseded snapshot directories %s", self.dir, dropped)
        if snapshot is not None:
            why = verify(self.dirs.current(snapshot), snapshot.files)
            if why is not None:
                raise CorruptFile(f"snapshot {snapshot.index}-{snapshot.term}: {why}")
        return snapshot

    def _convert_v1(self, old: Snapshot) -> Snapshot:
        """A version-1 `snapshot` file held the state inline: keep it as the one file `state`."""
        temp = self.dirs.temp()
        (temp / STATE_FILE).write_bytes(old.data)
        snapshot = Snapshot(old.index, old.term, old.membership, files=seal(temp, [STATE_FILE]))
        self.dirs.stage(temp, snapshot)
        self._switch(snapshot)
        log.info("%s: converted the version-1 snapshot at %d into a directory", self.dir, old.index)
        return snapshot

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _require_file(self) -> BinaryIO:
        if self._file is None:
            raise RuntimeError("FileLogStore used before load()")
        return self._file

    def _rewrite(self, snapshot: Snapshot | None, entries: list[Entry]) -> None:
        self.close()
        parts = [wal_header()]
        if snapshot is not None:
            parts.append(encode_snapmark(snapshot.index, snapshot.term))
        parts.append(encode_hard_state(self._hard))
        parts.extend(encode_entry(e) for e in entries)
        write_atomic(self.wal_path, b"".join(parts))
        self._file = open(self.wal_path, "ab")  # noqa: SIM115 - kept open for appends
