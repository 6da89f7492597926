"""Snapshot directories: how a snapshot is kept on disk, built, streamed and received.

A snapshot is a directory of files written by the state machine (the metadata service: one
SQLite file per shard), described by a manifest (`Snapshot.files`: name, size and crc32c of
each file) that the log store keeps in its `snapshot` file (wal.py). Names in the Raft
directory (`SnapshotDirs`):

- `snap-<index>-<term>/`: the current snapshot, the one the `snapshot` file names. Exactly one
  survives a switch; the store deletes older ones after the switch is durable.
- `staged-<index>-<term>/`: a complete snapshot (every file fsynced, checksums known or
  verified, the directory fsynced) waiting for the switch. The switch renames it to
  `snap-<index>-<term>`, fsyncs the Raft directory, then replaces the `snapshot` file
  (temp, fsync, rename, fsync dir): a crash before that rename leaves the old snapshot in force.
- `tmp-<random>/`: a snapshot being built here or received from the leader. Only a complete,
  verified one is renamed to `staged-...`.

At load the store deletes every `tmp-`, `staged-` and unreferenced `snap-` directory: a partial
transfer or build is discarded, and the snapshot in force is always a complete one (its files
are checked against the manifest before the replica starts).

Streaming: the files go one after the other in the manifest's order, read from disk in
`chunk_bytes` pieces (`read_chunks`), so the sender's memory does not depend on the snapshot's
size; the receiver (`Receiver`) writes each piece to its file, fsyncs each file when complete
and refuses (`SnapshotCorrupt`) a file whose size or crc32c differs from the manifest.

`SnapshotIO` adapts a state machine: one with `prepare_snapshot` / `restore_files`
(`cairn.replication.FileStateMachine`) writes and reads the files itself; any other (the
placement service's small cluster map) is kept as one file, `state`, holding `snapshot()`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import BinaryIO

from cairn.checksums import crc32c
from cairn.durable_file import fsync_dir
from cairn.raft.errors import SnapshotCorrupt
from cairn.raft.messages import Snapshot, SnapshotFile
from cairn.replication import StateMachine

#: The one file of a machine that snapshots to bytes (and of a converted version-1 snapshot).
STATE_FILE = "state"

_READ_BYTES = 1 << 20

#: Writes a snapshot's files into the (empty) directory it is given; returns their names.
SnapshotWriter = Callable[[Path], Sequence[str]]


def _name(snap: Snapshot) -> str:
    return f"{snap.index}-{snap.term}"


class SnapshotDirs:
    """The snapshot directories inside a Raft directory (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock = threading.Lock()  # a transfer's rename to staged vs. the switch's cleanup

    def current(self, snap: Snapshot) -> Path:
        return self.root / f"snap-{_name(snap)}"

    def staged(self, snap: Snapshot) -> Path:
        return self.root / f"staged-{_name(snap)}"

    def temp(self) -> Path:
        path = self.root / f"tmp-{uuid.uuid4().hex}"
        path.mkdir(parents=True)
        return path

    def stage(self, temp: Path, snap: Snapshot) -> None:
        """Make a complete snapshot in `temp` the staged one for `snap`."""
        with self.lock:
            target = self.staged(snap)
            if target.exists():
                shutil.rmtree(target)
            temp.rename(target)
            fsync_dir(self.root)

    def switched(self, keep: Snapshot) -> None:
        """After `keep` became the snapshot in force: drop older snapshots and staged ones."""
        with self.lock:
            for path in self.root.iterdir():
                kind, _, rest = path.name.partition("-")
                if kind not in ("snap", "staged") or not path.is_dir():
                    continue
                index = int(rest.split("-")[0])
                if (kind == "snap" and path != self.current(keep)) or (
                    kind == "staged" and index <= keep.index
                ):
                    shutil.rmtree(path, ignore_errors=True)

    def clean(self, keep: Snapshot | None) -> list[str]:
        """At load: delete every partial (`tmp-`), staged and unreferenced snapshot directory."""
        dropped = []
        for path in self.root.iterdir():
            kind = path.name.partition("-")[0]
            if kind in ("tmp", "staged", "snap") and path.is_dir():
                if keep is not None and path == self.current(keep):
                    continue
                shutil.rmtree(path)
                dropped.append(path.name)
        if dropped:
            fsync_dir(self.root)
        return dropped

    def build(self, writer: SnapshotWriter, snap: Snapshot) -> Snapshot:
        """Run `writer` into a temp directory, seal the files and stage them; `snap` with its
        manifest (runs in a thread: it is all disk work)."""
        temp = self.temp()
        try:
            files = seal(temp, writer(temp))
            done = Snapshot(snap.index, snap.term, snap.membership, files=files)
            self.stage(temp, done)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
        return done


def seal(directory: Path, names: Sequence[str]) -> tuple[SnapshotFile, ...]:
    """fsync each named file (reading it for its crc32c) and the directory; the manifest."""
    files = []
    for name in names:
        with open(directory / name, "rb") as f:
            crc, size = 0, 0
            while block := f.read(_READ_BYTES):
                crc = crc32c(block, crc)
                size += len(block)
            os.fsync(f.fileno())
        files.append(SnapshotFile(name, size, crc))
    fsync_dir(directory)
    return tuple(files)


def verify(directory: Path, files: Sequence[SnapshotFile]) -> str | None:
    """Why the files in `directory` do not match the manifest, or None when they do."""
    for want in files:
        path = directory / want.name
        if not path.is_file():
            return f"{path} is missing"
        crc, size = 0, 0
        with open(path, "rb") as f:
            while block := f.read(_READ_BYTES):
                crc = crc32c(block, crc)
                size += len(block)
        if (size, crc) != (want.size, want.crc32c):
            return (
                f"{path} has {size} bytes, crc32c {crc:08x}; the manifest says {want.size}, {want.crc32c:08x}"
            )
    return None


def open_files(directory: Path, files: Sequence[SnapshotFile]) -> list[BinaryIO]:
    """Open every file of a snapshot at once: a switch that deletes the directory meanwhile
    does not cut a transfer short (the open files stay readable)."""
    opened: list[BinaryIO] = []
    try:
        for f in files:
            opened.append(open(directory / f.name, "rb"))  # noqa: SIM115 - closed by read_chunks
    except BaseException:
        for handle in opened:
            handle.close()
        raise
    return opened


def read_chunks(handles: list[BinaryIO], chunk_bytes: int) -> Generator[bytes]:
    """The snapshot's bytes, file after file, at most `chunk_bytes` at a time; closes the files."""
    try:
        for handle in handles:
            while block := handle.read(chunk_bytes):
                yield block
    finally:
        for handle in handles:
            handle.close()


async def stream_chunks(
    directory: Path, files: Sequence[SnapshotFile], chunk_bytes: int
) -> Generator[bytes] | None:
    """`read_chunks` over the opened files, or None when the snapshot is gone (replaced)."""
    try:
        handles = await asyncio.to_thread(open_files, directory, files)
    except FileNotFoundError:
        return None
    return read_chunks(handles, chunk_bytes)


class Receiver:
    """Writes a streamed snapshot into a temp directory, file by file, checking each file's size
    and crc32c against the manifest; `finish` stages it. Blocking: call from a thread."""

    def __init__(self, dirs: SnapshotDirs, snap: Snapshot) -> None:
        self._dirs = dirs
        self._snap = snap
        self._files = list(snap.files)
        self._dir = dirs.temp()
        self._k = 0
        self._out: BinaryIO | None = None
        self._crc = 0
        self._written = 0

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            self._next_file()
            if self._k >= len(self._files):
                raise SnapshotCorrupt("the snapshot stream holds more data than its manifest lists")
            want = self._files[self._k]
            if self._out is None:
                self._out = open(self._dir / want.name, "wb")  # noqa: SIM115 - closed in _close_file
            part = view[: want.size - self._written]
            self._out.write(part)
            self._crc = crc32c(part, self._crc)
            self._written += len(part)
            view = view[len(part) :]
            self._next_file()

    def _next_file(self) -> None:
        """Close every file the stream has completed (zero-size ones too)."""
        while self._k < len(self._files) and self._written == self._files[self._k].size:
            want = self._files[self._k]
            if self._out is None:
                self._out = open(self._dir / want.name, "wb")  # noqa: SIM115 - closed just below
            self._out.flush()
            os.fsync(self._out.fileno())
            self._out.close()
            self._out = None
            if self._crc != want.crc32c:
                raise SnapshotCorrupt(f"snapshot file {want.name} fails its crc32c check")
            self._k += 1
            self._crc = 0
            self._written = 0

    def finish(self) -> Snapshot:
        """Stage the received snapshot; raises SnapshotCorrupt when data is missing."""
        self._next_file()
        if self._k != len(self._files):
            raise SnapshotCorrupt(
                f"the snapshot stream ended inside file {self._k + 1} of {len(self._files)}"
            )
        fsync_dir(self._dir)
        self._dirs.stage(self._dir, self._snap)
        return self._snap

    def abort(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        shutil.rmtree(self._dir, ignore_errors=True)


class SnapshotIO:
    """A state machine's snapshots as files (see the module docstring)."""

    def __init__(self, machine: StateMachine) -> None:
        self._machine = machine

    def prepare(self) -> SnapshotWriter:
        """Called between two applies: fixes the state to snapshot; the writer it returns runs in
        a thread while applies go on."""
        prepare = getattr(self._machine, "prepare_snapshot", None)
        if prepare is not None:
            writer: SnapshotWriter = prepare()
            return writer
        data = self._machine.snapshot()

        def write(directory: Path) -> list[str]:
            (directory / STATE_FILE).write_bytes(data)
            return [STATE_FILE]

        return write

    async def restore(self, directory: Path, files: Sequence[SnapshotFile]) -> None:
        """Replace the machine's state by the snapshot in `directory` (between two applies). A
        file machine restores in a thread; a bytes machine's `restore` runs on the loop, as
        `apply` does."""
        names = [f.name for f in files]
        restore_files = getattr(self._machine, "restore_files", None)
        if names == [STATE_FILE] or restore_files is None:
            data = await asyncio.to_thread((directory / STATE_FILE).read_bytes)
            self._machine.restore(data)
            return
        await asyncio.to_thread(restore_files, directory, names)
