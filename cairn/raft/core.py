"""The Raft consensus core: a deterministic state machine with no I/O, clock or randomness.

Inputs: `step(message)`, `tick()`, `propose(data)`, `read_index(context)`, `compact(snapshot)`.
Output: `ready()` returns a `Ready` batch (entries and hard state to persist, messages to send,
committed entries to apply, confirmed reads); the driver handles it in the documented order and
calls `advance(ready)`. Nothing may be stepped between `ready()` and `advance()`. The shape
follows etcd's raft library. The leader's half (replication, commit, heartbeats, read index)
is the `LeaderMixin` in leader.py.

Safety rules kept here (the driver keeps the persistence ones, see Ready):
- one vote per term, granted only to a candidate whose log is at least as up to date;
- a leader commits only an entry of its own term acknowledged by a quorum (it appends a no-op on
  election), and counts its own entries only once they are persisted (`advance`);
- followers never truncate at or below their commit index (raises LogInvariantError).
Liveness aids: pre-vote (a partitioned node cannot inflate terms), leader stickiness (a node that
heard from a live leader within the election timeout ignores (pre)votes), check-quorum (a leader
that has not heard from a quorum within an election timeout steps down).

Lease reads (`lease_reads`, needs check_quorum): stickiness means no replica that heard from the
leader grants a (pre)vote for `election_tick` of its own ticks, so while a quorum heard from the
leader less than that ago nobody else can win an election. The leader stamps each heartbeat
with its own tick count and followers echo the stamp; a read is served at once, at the commit
index, while the newest stamp a quorum echoed is less than `lease_ticks()` old (see there for
the margin), else it falls back to a read-index round. A replica that just started refuses
(pre)votes for `election_tick` ticks as if it had heard from a leader: a follower that crashed
and restarted inside the leader's lease must not hand out the vote its stickiness withheld.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from cairn.raft.leader import LeaderMixin
from cairn.raft.messages import (
    Entry,
    EntryType,
    HardState,
    Membership,
    Message,
    MessageType,
    ReadState,
    Ready,
    Role,
    Snapshot,
    SoftState,
    VoteResult,
)
from cairn.raft.progress import Progress, ProgressState
from cairn.raft.raftlog import RaftLog
from cairn.raft.readindex import ReadIndex

MT = MessageType
#: The clock-rate difference between replicas a lease tolerates (see CoreConfig.lease_ticks).
LEASE_DRIFT = 0.1
_RESPONSE = {MT.VOTE: MT.VOTE_RESP, MT.PRE_VOTE: MT.PRE_VOTE_RESP}


@dataclass(frozen=True, slots=True)
class CoreConfig:
    election_tick: int = 10  # the randomized timeout is drawn from [election_tick, 2*election_tick)
    heartbeat_tick: int = 1
    max_inflight: int = 64  # appends in flight per follower in REPLICATE state
    max_batch_entries: int = 256
    max_batch_bytes: int = 1 << 20
    pre_vote: bool = True
    check_quorum: bool = True  # also enables leader stickiness
    lease_reads: bool = False  # serve reads within the quorum's lease without a heartbeat round

    def __post_init__(self) -> None:
        if self.heartbeat_tick < 1 or self.election_tick <= self.heartbeat_tick:
            raise ValueError("need 1 <= heartbeat_tick < election_tick")
        if self.max_inflight < 1 or self.max_batch_entries < 1:
            raise ValueError("max_inflight and max_batch_entries must be positive")
        if self.lease_reads and not self.check_quorum:
            raise ValueError("lease_reads needs check_quorum (leader stickiness is what makes it safe)")
        if self.lease_reads and self.lease_ticks() < 1:
            raise ValueError("lease_reads needs a longer election_tick (the lease would be empty)")

    def lease_ticks(self) -> int:
        """How many of the leader's ticks a quorum's heartbeat acknowledgement holds the lease.

        A follower that received a heartbeat refuses (pre)votes until `election_tick` of its own
        ticks have passed, which is at least `election_tick - 1` tick lengths (its next tick may
        come at once). The leader serves a lease read while its tick count is less than
        `lease_ticks()` past the count stamped on the heartbeat: less than that many tick
        lengths since it was sent. Between the two, a margin of LEASE_DRIFT (10%) for replicas
        whose clocks run at different rates: 10 ticks of election timeout give a 8-tick lease.
        """
        return int((self.election_tick - 1) * (1 - LEASE_DRIFT))


@dataclass(frozen=True, slots=True)
class PersistedState:
    """What a restarting replica reads back from its storage."""

    hard_state: HardState
    snapshot: Snapshot | None
    entries: tuple[Entry, ...]


class Raft(LeaderMixin):
    def __init__(
        self,
        node_id: str,
        membership: Membership,
        persisted: PersistedState,
        rng: random.Random,
        config: CoreConfig = CoreConfig(),
    ) -> None:
        self.id = node_id
        self.config = config
        self._rng = rng
        self.membership = persisted.snapshot.membership if persisted.snapshot else membership
        hs = persisted.hard_state
        self.log = RaftLog(persisted.snapshot, persisted.entries, hs.commit)
        self.term = hs.term
        self.vote = hs.vote
        self.role = Role.FOLLOWER
        self.lead: str | None = None
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_timeout = config.election_tick
        self.votes: dict[str, bool] = {}
        self.progress: dict[str, Progress] = {}
        self.reads = ReadIndex()
        self._msgs: list[Message] = []
        self._read_states: list[ReadState] = []
        self._prev_hard = HardState(hs.term, hs.vote, self.log.committed)
        self._prev_soft = SoftState(None, Role.FOLLOWER)
        self._in_ready = False
        self._bcast_pending = False
        # No votes for an election timeout after a start (lease reads, see the module doc).
        self._quiet_ticks = config.election_tick if config.lease_reads else 0
        self.lease_clock = 0  # ticks since becoming leader; heartbeats carry it + 1 as their stamp
        self._reset_timeout()

    # ----------------------------------------------------------------- inputs

    def tick(self) -> None:
        self._check_not_in_ready()
        if self._quiet_ticks:
            self._quiet_ticks -= 1
        if self.role is Role.LEADER:
            self._tick_leader()
        else:
            self.election_elapsed += 1
            if self.id in self.membership.ids and self.election_elapsed >= self.randomized_timeout:
                self.election_elapsed = 0
                self.campaign()

    def campaign(self) -> None:
        """Start an election now (pre-vote first when enabled). Only for a one-replica group:
        a forced election ignores leader stickiness, which lease reads rely on."""
        if self.role is not Role.LEADER:
            self._campaign(pre=self.config.pre_vote)

    def propose(self, data: bytes) -> tuple[int, int] | None:
        """Append a command; returns (index, term) to wait for, or None if not the leader."""
        self._check_not_in_ready()
        if self.role is not Role.LEADER:
            return None
        entry = Entry(self.log.last_index() + 1, self.term, EntryType.NORMAL, data)
        self.log.append_new(entry)
        self._bcast_pending = True  # one broadcast per Ready carries every proposal since the last
        return entry.index, entry.term

    def read_index(self, context: bytes) -> bool:
        """Start a linearizable read; its ReadState comes in a later Ready. False if not leader.
        Within the lease (`lease_reads`) it is confirmed at once, else by a heartbeat round."""
        self._check_not_in_ready()
        if self.role is not Role.LEADER:
            return False
        if self.log.term(self.log.committed) != self.term:
            self.reads.defer(context)  # our commit index is not known to be current yet
        else:
            self._serve_read(context)
        return True

    def lose_lease(self, skipped_ticks: int) -> None:
        """The driver's clock jumped `skipped_ticks` further than it ticked (a stalled process):
        the lease clock moves on by them, so an echo of a heartbeat sent before the stall (still
        in flight, or queued while the process stood still) counts as old as it really is; and
        every acknowledgement is forgotten, so no lease read is served until a quorum answers a
        new heartbeat."""
        self.lease_clock += max(0, skipped_ticks)
        for pr in self.progress.values():
            pr.lease_stamp = 0

    def compact(self, snapshot: Snapshot) -> None:
        """The driver persisted `snapshot` (taken at an applied index); drop the entries it covers."""
        self._check_not_in_ready()
        self.log.compact(snapshot)

    def report_unreachable(self, peer: str) -> None:
        """The transport failed to deliver to `peer`: stop pipelining to it until it answers."""
        pr = self.progress.get(peer)
        if self.role is Role.LEADER and pr is not None and pr.state is ProgressState.REPLICATE:
            pr.become_probe()

    def step(self, m: Message) -> None:
        self._check_not_in_ready()
        if m.to != self.id or m.frm not in self.membership.ids or m.frm == self.id:
            return
        if m.term > self.term:
            if m.type in (MT.VOTE, MT.PRE_VOTE):
                in_lease = self.config.check_quorum and (
                    (self.lead is not None and self.election_elapsed < self.config.election_tick)
                    or self._quiet_ticks > 0
                )
                if in_lease:
                    return  # leader stickiness: we heard from a live leader recently
            if m.type is MT.PRE_VOTE or (m.type is MT.PRE_VOTE_RESP and not m.reject):
                pass  # a pre-vote never changes terms
            elif m.type in (MT.APPEND, MT.HEARTBEAT, MT.SNAPSHOT):
                self._become_follower(m.term, m.frm)
            else:
                self._become_follower(m.term, None)
        elif m.term < self.term:
            if m.type in (MT.APPEND, MT.HEARTBEAT) and (self.config.check_quorum or self.config.pre_vote):
                # Tell a stale leader about the newer term so it steps down.
                self._send(MT.APPEND_RESP, m.frm)
            elif m.type is MT.PRE_VOTE:
                self._send(MT.PRE_VOTE_RESP, m.frm, reject=True)
            return
        if m.type in (MT.VOTE, MT.PRE_VOTE):
            self._handle_vote(m)
        elif self.role is Role.LEADER:
            self._step_leader(m)
        elif self.role is Role.FOLLOWER:
            self._step_follower(m)
        else:
            self._step_candidate(m)

    # ------------------------------------------------------------ ready cycle

    def has_ready(self) -> bool:
        log = self.log
        return bool(
            self._msgs
            or self._bcast_pending
            or self._read_states
            or log.pending_snapshot is not None
            or log.stable < log.last_index()
            or log.applied < log.committed
            or self._hard_state() != self._prev_hard
            or self._soft_state() != self._prev_soft
        )

    def ready(self) -> Ready:
        self._check_not_in_ready()
        if self._bcast_pending and self.role is Role.LEADER:
            self._bcast_append()
        self._bcast_pending = False
        hard = self._hard_state()
        prev = self._prev_hard
        entries = self.log.unstable()
        snapshot = self.log.pending_snapshot
        rd = Ready(
            soft_state=self._soft_state(),
            hard_state=hard if hard != prev else None,
            entries=entries,
            snapshot=snapshot,
            committed=self.log.to_apply(),
            messages=tuple(self._msgs),
            read_states=tuple(self._read_states),
            must_sync=bool(entries)
            or snapshot is not None
            or (hard.term, hard.vote) != (prev.term, prev.vote),
        )
        self._msgs = []
        self._read_states = []
        self._prev_soft = rd.soft_state
        self._in_ready = True
        return rd

    def advance(self, rd: Ready) -> None:
        """The driver persisted, sent and applied everything in `rd`."""
        if not self._in_ready:
            raise RuntimeError("advance() without a ready()")
        self._in_ready = False
        if rd.hard_state is not None:
            self._prev_hard = rd.hard_state
        if rd.snapshot is not None and self.log.pending_snapshot is rd.snapshot:
            self.log.pending_snapshot = None
        if rd.entries:
            self.log.stable_to(rd.entries[-1].index, rd.entries[-1].term)
        if rd.committed:
            self.log.applied = max(self.log.applied, rd.committed[-1].index)
        if self.role is Role.LEADER:
            me = self.progress[self.id]
            if me.maybe_update(self.log.stable) and self._maybe_commit():
                self._bcast_pending = True

    # ------------------------------------------------------------- internals

    def _check_not_in_ready(self) -> None:
        if self._in_ready:
            raise RuntimeError("the core was used between ready() and advance()")

    def _hard_state(self) -> HardState:
        return HardState(self.term, self.vote, self.log.committed)

    def _soft_state(self) -> SoftState:
        return SoftState(self.lead, self.role)

    def _send(self, type_: MessageType, to: str, term: int | None = None, **fields: object) -> None:
        self._msgs.append(
            Message(type_, self.id, to, self.term if term is None else term, **fields)  # type: ignore[arg-type]
        )

    def _peers(self) -> Iterable[str]:
        return (p for p in sorted(self.membership.ids) if p != self.id)

    def _reset_timeout(self) -> None:
        et = self.config.election_tick
        self.randomized_timeout = et + self._rng.randrange(et)

    def _reset(self, term: int) -> None:
        if term != self.term:
            self.term = term
            self.vote = None
        self.lead = None
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self._reset_timeout()
        self.votes = {}
        self.progress = {}
        self.reads = ReadIndex()
        self._bcast_pending = False

    def _become_follower(self, term: int, lead: str | None) -> None:
        self._reset(term)
        self.role = Role.FOLLOWER
        self.lead = lead

    def _campaign(self, pre: bool) -> None:
        if pre:
            self._reset_timeout()
            self.role = Role.PRE_CANDIDATE
            self.votes = {}
            self.lead = None
            term, kind = self.term + 1, MT.PRE_VOTE
        else:
            self._reset(self.term + 1)
            self.role = Role.CANDIDATE
            self.vote = self.id
            term, kind = self.term, MT.VOTE
        if self._poll(self.id, True) is VoteResult.WON:
            if pre:
                self._campaign(pre=False)
            else:
                self._become_leader()
            return
        for peer in self._peers():
            self._send(kind, peer, term=term, index=self.log.last_index(), log_term=self.log.last_term())

    def _poll(self, voter: str, granted: bool) -> VoteResult:
        self.votes.setdefault(voter, granted)
        return self.membership.vote_result(self.votes)

    def _handle_vote(self, m: Message) -> None:
        can_vote = (
            self.vote == m.frm
            or (self.vote is None and self.lead is None)
            or (m.type is MT.PRE_VOTE and m.term > self.term)
        )
        if can_vote and self.log.is_up_to_date(m.index, m.log_term):
            self._send(_RESPONSE[m.type], m.frm, term=m.term)
            if m.type is MT.VOTE:
                self.election_elapsed = 0
                self.vote = m.frm
        else:
            self._send(_RESPONSE[m.type], m.frm, reject=True)

    def _step_candidate(self, m: Message) -> None:
        mine = MT.PRE_VOTE_RESP if self.role is Role.PRE_CANDIDATE else MT.VOTE_RESP
        if m.type in (MT.APPEND, MT.HEARTBEAT, MT.SNAPSHOT):
            self._become_follower(m.term, m.frm)
            self._step_follower(m)
        elif m.type is mine:
            result = self._poll(m.frm, not m.reject)
            if result is VoteResult.WON:
                if self.role is Role.PRE_CANDIDATE:
                    self._campaign(pre=False)
                else:
                    self._become_leader()
            elif result is VoteResult.LOST:
                self._become_follower(self.term, None)

    def _step_follower(self, m: Message) -> None:
        if m.type not in (MT.APPEND, MT.HEARTBEAT, MT.SNAPSHOT):
            return
        self.election_elapsed = 0
        self.lead = m.frm
        if m.type is MT.APPEND:
            self._handle_append(m)
        elif m.type is MT.HEARTBEAT:
            self.log.commit_to(m.commit)
            self._send(MT.HEARTBEAT_RESP, m.frm, index=m.index, context=m.context)  # echo the stamp
        else:
            self._handle_snapshot(m)

    def _handle_append(self, m: Message) -> None:
        log = self.log
        if m.index < log.committed:
            self._send(MT.APPEND_RESP, m.frm, index=log.committed)
        elif log.match_term(m.index, m.log_term):
            last_new = m.index + len(m.entries)
            log.append_after(m.entries)
            log.commit_to(min(m.commit, last_new))
            self._send(MT.APPEND_RESP, m.frm, index=last_new)
        else:
            hint = log.find_conflict_by_term(min(m.index, log.last_index()), m.log_term)
            self._send(
                MT.APPEND_RESP,
                m.frm,
                index=m.index,
                reject=True,
                reject_hint=hint,
                hint_term=log.term(hint) or 0,
            )

    def _handle_snapshot(self, m: Message) -> None:
        snap = m.snapshot
        log = self.log
        if snap is None or snap.index <= log.committed:
            self._send(MT.APPEND_RESP, m.frm, index=log.committed)
            return
        if log.match_term(snap.index, snap.term):
            log.commit_to(snap.index)  # we already have the entries: just fast-forward
        else:
            log.restore(snap)
            self.membership = snap.membership
        self._send(MT.APPEND_RESP, m.frm, index=log.committed)
