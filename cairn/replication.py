"""The contract between a replicated state machine and the Raft runtime that drives it.

A service (placement now, metadata later) implements `StateMachine`; the Raft runtime
(`cairn.raft`) implements `Replicator`. Commands are opaque bytes chosen deterministically by
the proposer (ids and timestamps inside), so every replica applies the same bytes to the same
state and gets the same result. `SingleNodeReplicator` is the in-memory twin for unit tests
and single-replica deployments: it applies proposals directly, in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol


class StateMachine(Protocol):
    def apply(self, index: int, command: bytes) -> bytes:
        """Apply a committed command; the returned bytes go back to the proposer. Must be
        deterministic and must not raise for a well-formed command (domain errors are
        encoded in the result)."""

    def snapshot(self) -> bytes:
        """The whole state as bytes (taken between two applies)."""

    def restore(self, data: bytes) -> None:
        """Replace the whole state with a snapshot."""


class BatchStateMachine(StateMachine, Protocol):
    def apply_batch(self, entries: list[tuple[int, bytes]]) -> list[bytes]:
        """Apply committed (index, command) pairs in order, as `apply` would one by one, and
        return their results; the Raft runtime calls it (instead of `apply`) with every
        committed entry of one Ready, so a machine can share work (one transaction, one thread
        hop) across them."""


class FileStateMachine(StateMachine, Protocol):
    def prepare_snapshot(self) -> Callable[[Path], Sequence[str]]:
        """Called between two applies: fix the state to snapshot (quickly) and return a writer
        that the runtime runs in a thread, while applies go on, to write that state as files
        into the empty directory it is given; the writer returns the files' names. The
        runtime then never calls `snapshot()` (the state is never one value in memory)."""

    def restore_files(self, directory: Path, names: Sequence[str]) -> None:
        """Replace the whole state with the snapshot files `names` in `directory` (called from a
        thread, between two applies)."""


class ReplicationError(Exception):
    """Base of errors a proposer or reader sees."""


class NotLeader(ReplicationError):
    """This replica is not the leader; `leader_id`/`leader_addr` name the known leader, if any."""

    def __init__(self, leader_id: str | None, leader_addr: str | None) -> None:
        super().__init__(f"not the leader (leader: {leader_id or 'unknown'})")
        self.leader_id = leader_id
        self.leader_addr = leader_addr


class NoQuorum(ReplicationError):
    """The command could not be committed (or a read confirmed) in time: no majority reached."""


@dataclass(frozen=True, slots=True)
class PeerStatus:
    id: str
    addr: str
    reachable: bool
    match_index: int


@dataclass(frozen=True, slots=True)
class ReplicaStatus:
    id: str
    term: int
    role: str  # "leader" | "follower" | "candidate" | "pre-candidate"
    leader_id: str | None
    commit_index: int
    applied_index: int
    peers: tuple[PeerStatus, ...]


class Leadership(NamedTuple):
    """The part of ReplicaStatus a write checks first, without the peers (cheap to ask per call)."""

    role: str
    term: int
    leader_id: str | None


class Replicator(Protocol):
    @property
    def node_id(self) -> str: ...

    async def propose(self, command: bytes, timeout: float) -> bytes:
        """Replicate and apply `command`; return the state machine's result.
        Raises NotLeader or NoQuorum."""

    async def read_barrier(self, timeout: float) -> None:
        """Return once this replica's applied state is at least as new as any state
        acknowledged before the call (linearizable read). Raises NotLeader or NoQuorum."""

    def status(self) -> ReplicaStatus: ...

    def leadership(self) -> Leadership: ...


class SingleNodeReplicator:
    """Applies proposals directly: a one-replica group that is always the leader."""

    def __init__(self, machine: StateMachine, node_id: str = "single") -> None:
        self._machine = machine
        self._node_id = node_id
        self._index = 0
        self._lock = asyncio.Lock()

    @property
    def node_id(self) -> str:
        return self._node_id

    async def propose(self, command: bytes, timeout: float) -> bytes:
        async with self._lock:
            self._index += 1
            return self._machine.apply(self._index, command)

    async def read_barrier(self, timeout: float) -> None:
        return None

    def status(self) -> ReplicaStatus:
        return ReplicaStatus(self._node_id, 1, "leader", self._node_id, self._index, self._index, ())

    def leadership(self) -> Leadership:
        status = self.status()
        return Leadership(status.role, status.term, status.leader_id)
