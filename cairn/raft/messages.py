"""Values the Raft core consumes and produces: entries, hard state, snapshots, messages, Ready.

Everything here is a frozen, slotted dataclass with no behaviour beyond quorum arithmetic, so the
core, the simulator, the storage and the wire codec can share them. `Membership` holds the voter
set as one or two groups: a single group today (static 3 or 5 peers), and a second, outgoing group
when joint consensus is added; every quorum question goes through it, so the core never counts
majorities itself.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field


class Role(enum.Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


class MessageType(enum.IntEnum):
    APPEND = 1
    APPEND_RESP = 2
    VOTE = 3
    VOTE_RESP = 4
    PRE_VOTE = 5
    PRE_VOTE_RESP = 6
    HEARTBEAT = 7
    HEARTBEAT_RESP = 8
    SNAPSHOT = 9


class EntryType(enum.IntEnum):
    NORMAL = 0  # an application command
    NOOP = 1  # appended by every new leader so it can commit entries of its own term
    CONFIG = 2  # reserved for membership changes (joint consensus)


class VoteResult(enum.Enum):
    PENDING = 0
    WON = 1
    LOST = 2


@dataclass(frozen=True, slots=True)
class Entry:
    index: int
    term: int
    type: EntryType = EntryType.NORMAL
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class HardState:
    """What must be durable before any message that depends on it is sent."""

    term: int = 0
    vote: str | None = None
    commit: int = 0


def _majority_index(group: Collection[str], match: Mapping[str, int]) -> int:
    acked = sorted((match.get(i, 0) for i in group), reverse=True)
    return acked[len(acked) // 2]


def _group_vote(group: Collection[str], votes: Mapping[str, bool]) -> VoteResult:
    granted = sum(1 for i in group if votes.get(i) is True)
    missing = sum(1 for i in group if i not in votes)
    quorum = len(group) // 2 + 1
    if granted >= quorum:
        return VoteResult.WON
    if granted + missing >= quorum:
        return VoteResult.PENDING
    return VoteResult.LOST


@dataclass(frozen=True, slots=True)
class Membership:
    """The voters; `outgoing` is non-empty only during a joint-consensus change (C_old,new)."""

    voters: frozenset[str]
    outgoing: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.voters:
            raise ValueError("a membership needs at least one voter")

    @property
    def ids(self) -> frozenset[str]:
        return self.voters | self.outgoing

    def committed_index(self, match: Mapping[str, int]) -> int:
        """The largest index acknowledged by a majority of every group."""
        index = _majority_index(self.voters, match)
        if self.outgoing:
            index = min(index, _majority_index(self.outgoing, match))
        return index

    def vote_result(self, votes: Mapping[str, bool]) -> VoteResult:
        results = [_group_vote(self.voters, votes)]
        if self.outgoing:
            results.append(_group_vote(self.outgoing, votes))
        if VoteResult.LOST in results:
            return VoteResult.LOST
        if all(r is VoteResult.WON for r in results):
            return VoteResult.WON
        return VoteResult.PENDING

    def has_quorum(self, ids: Collection[str]) -> bool:
        return self.vote_result({i: True for i in ids}) is VoteResult.WON


@dataclass(frozen=True, slots=True)
class SnapshotFile:
    """One file of a snapshot directory: its name, size and crc32c."""

    name: str
    size: int
    crc32c: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The application state after applying every entry up to `index` (of term `term`).

    The runtime keeps it as files (`files`: the manifest of a snapshot directory, see
    snapfiles.py); the core never looks inside, and the simulator and the in-memory twin of the
    log store carry the state in `data` instead."""

    index: int
    term: int
    membership: Membership
    data: bytes = b""
    files: tuple[SnapshotFile, ...] = ()


@dataclass(frozen=True, slots=True)
class Message:
    type: MessageType
    frm: str
    to: str
    term: int
    log_term: int = 0  # APPEND: term of entry `index`; (PRE_)VOTE: term of the last entry
    index: int = 0  # APPEND: entry before `entries`; *_RESP: last index matched / rejected;
    # HEARTBEAT(_RESP): the leader's lease stamp, echoed (core.py, lease reads)
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0  # rejected APPEND: the follower's guess of the last matching index
    hint_term: int = 0  # rejected APPEND: the follower's term at `reject_hint`
    context: bytes = b""  # HEARTBEAT(_RESP): the read-index request being confirmed
    snapshot: Snapshot | None = None


@dataclass(frozen=True, slots=True)
class ReadState:
    """A read-index request confirmed by a quorum: reads are linearizable once applied >= index."""

    context: bytes
    index: int


@dataclass(frozen=True, slots=True)
class SoftState:
    lead: str | None
    role: Role


@dataclass(frozen=True, slots=True)
class Ready:
    """One batch of work for the driver, handled in this order:

    1. persist `snapshot` (if any), then `entries` and `hard_state` (fsync);
    2. send `messages` (they may depend on step 1: votes, acknowledgements); the leader's
       replication traffic (`sendable_before_persist`) may leave before step 1;
    3. restore the state machine from `snapshot`, then apply `committed`;
    4. serve reads in `read_states` once applied >= their index;
    5. call `advance(ready)`.
    """

    soft_state: SoftState
    hard_state: HardState | None
    entries: tuple[Entry, ...]
    snapshot: Snapshot | None
    committed: tuple[Entry, ...]
    messages: tuple[Message, ...]
    read_states: tuple[ReadState, ...]

    must_sync: bool  # entries, a snapshot, or a new term or vote: fsync before sending.
    # A commit-index-only change may be written lazily: after a crash the commit index is
    # relearned from the leader, and never falls below the persisted snapshot.


_LEADER_TRAFFIC = frozenset({MessageType.APPEND, MessageType.HEARTBEAT, MessageType.SNAPSHOT})


def sendable_before_persist(m: Message) -> bool:
    """Whether `m` may leave before its Ready is persisted (Raft thesis section 10.2.1).

    Only a leader sends these. They carry no promise about the sender's disk: the term they
    carry was persisted before the election could be won (votes answer requests sent after
    it), and the leader counts its own entries towards commit only after persisting them. Votes,
    vote requests and every response must wait for the fsync.
    """
    return m.type in _LEADER_TRAFFIC
