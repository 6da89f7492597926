"""The core's in-memory view of the replicated log: a snapshot point plus the entries after it.

Indices are 1-based; `snap_index` (0 before any snapshot) is the last index folded into the
snapshot, and `entries[k]` holds index `snap_index + 1 + k`. Watermarks, always ordered
`applied <= committed <= last_index()`:

- `stable`: the last index the driver has persisted (entries after it are "unstable" and are
  handed out in the next Ready);
- `committed`: known committed by a quorum; never moves backwards, and truncating at or below it
  is an invariant violation;
- `applied`: handed to the application (through Ready.committed or a restored snapshot).
"""

from __future__ import annotations

from collections.abc import Sequence

from cairn.raft.messages import Entry, Snapshot


class LogInvariantError(RuntimeError):
    """The log was asked to do something that would break Raft's safety (a bug, never input)."""


class RaftLog:
    def __init__(self, snapshot: Snapshot | None, entries: Sequence[Entry], committed: int) -> None:
        self.snapshot = snapshot
        self.snap_index = snapshot.index if snapshot else 0
        self.snap_term = snapshot.term if snapshot else 0
        self.entries: list[Entry] = list(entries)
        for k, entry in enumerate(self.entries):
            if entry.index != self.snap_index + 1 + k:
                raise LogInvariantError(f"entry {entry.index} out of place after {self.snap_index}")
        self.stable = self.last_index()
        self.committed = min(max(committed, self.snap_index), self.last_index())
        self.applied = self.snap_index
        self.pending_snapshot: Snapshot | None = None  # received, not yet persisted

    def last_index(self) -> int:
        return self.snap_index + len(self.entries)

    def last_term(self) -> int:
        return self.entries[-1].term if self.entries else self.snap_term

    def term(self, index: int) -> int | None:
        """The term of the entry at `index`, or None if compacted away or beyond the end."""
        if index == self.snap_index:
            return self.snap_term
        if index < self.snap_index or index > self.last_index():
            return None
        return self.entries[index - self.snap_index - 1].term

    def match_term(self, index: int, term: int) -> bool:
        return self.term(index) == term

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Whether a candidate whose log ends at (last_index, last_term) may get our vote."""
        mine = self.last_term()
        return last_term > mine or (last_term == mine and last_index >= self.last_index())

    def slice(self, lo: int, max_entries: int, max_bytes: int) -> tuple[Entry, ...]:
        """Entries from `lo` on (lo > snap_index), bounded by count and (after the first) bytes."""
        start = lo - self.snap_index - 1
        if start < 0:
            raise LogInvariantError(f"slice from {lo} reaches into the snapshot at {self.snap_index}")
        out: list[Entry] = []
        size = 0
        for entry in self.entries[start : start + max_entries]:
            size += len(entry.data) + 32
            if out and size > max_bytes:
                break
            out.append(entry)
        return tuple(out)

    def find_conflict_by_term(self, index: int, term: int) -> int:
        """The largest index <= `index` whose term is <= `term` (fast backtracking)."""
        index = min(index, self.last_index())
        while index > self.snap_index:
            t = self.term(index)
            if t is not None and t <= term:
                return index
            index -= 1
        return index

    def append_after(self, entries: Sequence[Entry]) -> None:
        """Store `entries` (consecutive, matching our log before them), truncating only at a
        real conflict: a duplicate or stale append must never cut off newer entries."""
        for k, entry in enumerate(entries):
            existing = self.term(entry.index)
            if existing == entry.term:
                continue
            if entry.index <= self.committed:
                raise LogInvariantError(
                    f"entry {entry.index} (term {entry.term}) conflicts with committed term {existing}"
                )
            if entry.index > self.last_index() + 1:
                raise LogInvariantError(f"gap: entry {entry.index} after last {self.last_index()}")
            del self.entries[entry.index - self.snap_index - 1 :]
            self.stable = min(self.stable, entry.index - 1)
            self.entries.extend(entries[k:])
            return

    def append_new(self, entry: Entry) -> None:
        if entry.index != self.last_index() + 1:
            raise LogInvariantError(f"append {entry.index} after {self.last_index()}")
        self.entries.append(entry)

    def commit_to(self, index: int) -> None:
        if index <= self.committed:
            return
        if index > self.last_index():
            raise LogInvariantError(f"commit {index} beyond last index {self.last_index()}")
        self.committed = index

    def maybe_commit(self, index: int, term: int) -> bool:
        """Commit up to `index` if it is newer and of the current `term` (Raft section 5.4.2)."""
        if index > self.committed and self.term(index) == term:
            self.committed = index
            return True
        return False

    def unstable(self) -> tuple[Entry, ...]:
        return tuple(self.entries[self.stable - self.snap_index :])

    def to_apply(self) -> tuple[Entry, ...]:
        lo = self.applied - self.snap_index
        hi = self.committed - self.snap_index
        return tuple(self.entries[lo:hi]) if hi > lo else ()

    def stable_to(self, index: int, term: int) -> None:
        if self.term(index) == term and index > self.stable:
            self.stable = index

    def restore(self, snapshot: Snapshot) -> None:
        """Replace the whole log by `snapshot` (received from the leader)."""
        self.snapshot = snapshot
        self.snap_index = snapshot.index
        self.snap_term = snapshot.term
        self.entries = []
        self.stable = snapshot.index
        self.committed = snapshot.index
        self.applied = snapshot.index
        self.pending_snapshot = snapshot

    def compact(self, snapshot: Snapshot) -> None:
        """Fold entries up to `snapshot.index` (already applied and persisted) into `snapshot`."""
        if snapshot.index <= self.snap_index:
            return
        if snapshot.index > self.applied or snapshot.index > self.stable:
            raise LogInvariantError(f"compact to {snapshot.index} beyond applied {self.applied}")
        if self.term(snapshot.index) != snapshot.term:
            raise LogInvariantError(f"snapshot term {snapshot.term} differs from the log at {snapshot.index}")
        del self.entries[: snapshot.index - self.snap_index]
        self.snapshot = snapshot
        self.snap_index = snapshot.index
        self.snap_term = snapshot.term
