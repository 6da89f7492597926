"""The leader half of the Raft core: replication, commit, heartbeats, check-quorum, read index.

A mixin of `core.Raft` (split out only to keep modules short; it has no state of its own and
is never used alone). Per-follower flow control lives in progress.py; the rules:
- appends go optimistically in REPLICATE state (up to `max_inflight` in flight), one at a time
  in PROBE state, and not at all while a snapshot is in flight;
- a reject's hint moves `next` back past a whole divergent term at once;
- commit = the quorum's acknowledged index, only if that entry is of the current term;
- check-quorum: without answers from a quorum during an election timeout, step down;
- lease reads: heartbeats carry a stamp (`lease_clock + 1`) that followers echo; a read is
  confirmed at once while a quorum (counting the leader) echoed a stamp less than
  `lease_ticks()` old (core.py's module doc has the argument).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from cairn.raft.messages import Entry, EntryType, Membership, Message, MessageType, ReadState, Role
from cairn.raft.progress import Progress, ProgressState
from cairn.raft.readindex import ReadIndex

if TYPE_CHECKING:
    from cairn.raft.core import CoreConfig
    from cairn.raft.raftlog import RaftLog

MT = MessageType


class LeaderMixin:
    # State owned by core.Raft, declared here for the type checker.
    id: str
    term: int
    role: Role
    lead: str | None
    config: CoreConfig
    log: RaftLog
    membership: Membership
    progress: dict[str, Progress]
    reads: ReadIndex
    election_elapsed: int
    heartbeat_elapsed: int
    lease_clock: int
    _read_states: list[ReadState]

    def _send(self, type_: MessageType, to: str, term: int | None = None, **fields: object) -> None:
        raise NotImplementedError

    def _peers(self) -> Iterable[str]:
        raise NotImplementedError

    def _reset(self, term: int) -> None:
        raise NotImplementedError

    def _become_follower(self, term: int, lead: str | None) -> None:
        raise NotImplementedError

    def _become_leader(self) -> None:
        self._reset(self.term)
        self.role = Role.LEADER
        self.lead = self.id
        self.lease_clock = 0
        last = self.log.last_index()
        for peer in sorted(self.membership.ids):  # sorted: iteration order must not depend on hashing
            self.progress[peer] = Progress(last + 1)
        me = self.progress[self.id]
        me.match = self.log.stable
        me.become_replicate()
        me.recent_active = True
        self.log.append_new(Entry(last + 1, self.term, EntryType.NOOP))
        self._bcast_append()

    def _tick_leader(self) -> None:
        self.lease_clock += 1
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        cfg = self.config
        if self.election_elapsed >= cfg.election_tick:
            self.election_elapsed = 0
            if cfg.check_quorum:
                active = [p for p, pr in self.progress.items() if pr.recent_active or p == self.id]
                if not self.membership.has_quorum(active):
                    self._become_follower(self.term, None)
                    return
                for peer, pr in self.progress.items():
                    pr.recent_active = peer == self.id
        for peer, pr in self.progress.items():
            if pr.state is ProgressState.SNAPSHOT:
                pr.snapshot_ticks += 1
                if pr.snapshot_ticks >= 2 * cfg.election_tick:
                    pr.become_probe()  # the snapshot (or its answer) was probably lost
                    self._send_append(peer)
        if self.heartbeat_elapsed >= cfg.heartbeat_tick:
            self.heartbeat_elapsed = 0
            self._bcast_heartbeat(self.reads.last_context())

    def _maybe_commit(self) -> bool:
        match = {p: pr.match for p, pr in self.progress.items()}
        if not self.log.maybe_commit(self.membership.committed_index(match), self.term):
            return False
        if self.log.term(self.log.committed) == self.term:
            for context in self.reads.take_deferred():
                # Always a heartbeat round: this can run in advance(), after the driver's fsync,
                # when its clock may have moved on since it last ticked.
                self._start_read(context)
        return True

    def in_lease(self) -> bool:
        """Whether no other replica can have been elected yet (see `CoreConfig.lease_ticks`)."""
        if not self.config.lease_reads or self.role is not Role.LEADER:
            return False
        now = self.lease_clock + 1
        stamps = {p: (now if p == self.id else pr.lease_stamp) for p, pr in self.progress.items()}
        quorum_stamp = self.membership.committed_index(stamps)  # newest stamp a quorum echoed
        return quorum_stamp > 0 and now - quorum_stamp < self.config.lease_ticks()

    def _serve_read(self, context: bytes) -> None:
        if self.in_lease():
            self._read_states.append(ReadState(context, self.log.committed))
        else:
            self._start_read(context)

    def _start_read(self, context: bytes) -> None:
        done = self.reads.start(context, self.log.committed, self.id, self.membership)
        if done:
            self._read_states.extend(done)
        else:
            self._bcast_heartbeat(context)

    def _bcast_append(self) -> None:
        for peer in self._peers():
            self._send_append(peer)

    def _bcast_heartbeat(self, context: bytes) -> None:
        for peer in self._peers():
            pr = self.progress[peer]
            commit = min(pr.match, self.log.committed)
            self._send(MT.HEARTBEAT, peer, index=self.lease_clock + 1, commit=commit, context=context)

    def _send_append(self, peer: str, send_if_empty: bool = True) -> bool:
        pr = self.progress[peer]
        if pr.is_paused(self.config.max_inflight):
            return False
        log = self.log
        prev = pr.next - 1
        prev_term = log.term(prev)
        if prev_term is None or prev < log.snap_index:
            if log.snapshot is None:
                raise RuntimeError(f"follower {peer} needs index {pr.next} but no snapshot exists")
            self._send(MT.SNAPSHOT, peer, snapshot=log.snapshot)
            pr.become_snapshot(log.snapshot.index)
            return True
        entries = log.slice(pr.next, self.config.max_batch_entries, self.config.max_batch_bytes)
        if not entries and not send_if_empty:
            return False
        self._send(MT.APPEND, peer, index=prev, log_term=prev_term, entries=entries, commit=log.committed)
        pr.sent_entries(entries[-1].index if entries else None)
        return True

    def _step_leader(self, m: Message) -> None:
        pr = self.progress.get(m.frm)
        if pr is None:
            return
        if m.type is MT.APPEND_RESP:
            pr.recent_active = True
            if m.reject:
                probe = m.reject_hint
                if m.hint_term > 0:
                    probe = self.log.find_conflict_by_term(m.reject_hint, m.hint_term)
                if pr.maybe_decr_to(m.index, probe):
                    if pr.state is ProgressState.REPLICATE:
                        pr.become_probe()
                    self._send_append(m.frm)
                return
            was_paused = pr.is_paused(self.config.max_inflight)
            if not pr.maybe_update(m.index):
                return
            if pr.state is ProgressState.PROBE:
                pr.become_replicate()
            elif pr.state is ProgressState.SNAPSHOT and pr.match >= pr.pending_snapshot:
                pr.become_replicate()
            elif pr.state is ProgressState.REPLICATE:
                pr.free_inflights_to(m.index)
            # A new commit index travels with the next append or heartbeat (at most a heartbeat
            # interval later): a round of empty appends for it alone would double the messages of
            # every commit, and a follower needs it only to apply, never to acknowledge.
            self._maybe_commit()
            if was_paused:
                self._send_append(m.frm)
            while self._send_append(m.frm, send_if_empty=False):
                pass
        elif m.type is MT.HEARTBEAT_RESP:
            pr.recent_active = True
            pr.lease_stamp = max(pr.lease_stamp, m.index)
            pr.probe_sent = False
            if pr.state is ProgressState.REPLICATE and len(pr.inflights) >= self.config.max_inflight:
                pr.inflights.popleft()
            if pr.match < self.log.last_index():
                self._send_append(m.frm)
            if m.context:
                self._read_states.extend(self.reads.ack(m.context, m.frm, self.membership))
