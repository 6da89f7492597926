"""Focused scenarios of the pure Raft core, driven by hand through a tiny synchronous network."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from cairn.raft.core import CoreConfig, PersistedState, Raft
from cairn.raft.messages import (
    Entry,
    EntryType,
    HardState,
    Membership,
    Message,
    MessageType,
    Role,
    Snapshot,
)
from cairn.raft.storage import MemoryLogStore

MT = MessageType
CFG = CoreConfig(election_tick=10, heartbeat_tick=1)


class Net:
    """Cores with instant, in-order delivery; `drop(frm, to)` cuts a link; Readys handled at once."""

    def __init__(self, ids: list[str], config: CoreConfig = CFG) -> None:
        self.ids = ids
        self.membership = Membership(frozenset(ids))
        self.stores = {i: MemoryLogStore() for i in ids}
        self.cores = {i: self._boot(i, n, config) for n, i in enumerate(ids)}
        self.applied: dict[str, list[bytes]] = {i: [] for i in ids}
        self.reads: dict[str, list[tuple[bytes, int]]] = {i: [] for i in ids}
        self.cut: set[tuple[str, str]] = set()
        self.sent: list[Message] = []
        self.filter: Callable[[Message], bool] = lambda m: True

    def _boot(self, node: str, n: int, config: CoreConfig) -> Raft:
        return Raft(node, self.membership, self.stores[node].load(), random.Random(n), config)

    def isolate(self, node: str) -> None:
        for other in self.ids:
            if other != node:
                self.cut |= {(node, other), (other, node)}

    def heal(self) -> None:
        self.cut.clear()

    def settle(self, rounds: int = 50) -> None:
        for _ in range(rounds):
            pending: list[Message] = []
            for node, core in self.cores.items():
                if core.has_ready():
                    rd = core.ready()
                    self.stores[node].save(rd.hard_state, rd.entries, rd.snapshot, rd.must_sync)
                    self.applied[node] += [e.data for e in rd.committed if e.type is EntryType.NORMAL]
                    self.reads[node] += [(r.context, r.index) for r in rd.read_states]
                    pending += rd.messages
                    core.advance(rd)
            if not pending:
                return
            for m in pending:
                self.sent.append(m)
                if (m.frm, m.to) not in self.cut and self.filter(m):
                    self.cores[m.to].step(m)

    def tick(self, node: str, n: int = 1) -> None:
        for _ in range(n):
            self.cores[node].tick()
            self.settle()

    def tick_all(self, n: int = 1) -> None:
        for _ in range(n):
            for core in self.cores.values():
                core.tick()
            self.settle()

    def elect(self, node: str) -> None:
        self.cores[node].campaign()
        self.settle()
        assert self.cores[node].role is Role.LEADER

    def leader(self) -> Raft:
        leaders = [c for c in self.cores.values() if c.role is Role.LEADER]
        assert len(leaders) == 1
        return leaders[0]


def test_election_then_replication_commits_everywhere() -> None:
    net = Net(["a", "b", "c"])
    net.elect("a")
    assert net.cores["a"].propose(b"x") is not None
    net.settle()
    net.tick_all()  # a heartbeat carries the new commit index to the followers
    assert net.applied == {"a": [b"x"], "b": [b"x"], "c": [b"x"]}
    assert all(c.log.committed == 2 for c in net.cores.values())  # no-op + x


def test_pre_vote_of_a_partitioned_node_does_not_disrupt_the_leader() -> None:
    net = Net(["a", "b", "c"])
    net.elect("a")
    net.isolate("c")
    net.tick("c", 40)  # many election timeouts while cut off
    assert net.cores["c"].term == 1  # pre-vote failed: the term did not grow
    assert net.cores["c"].role is Role.PRE_CANDIDATE
    net.heal()
    net.tick_all()
    assert net.cores["a"].role is Role.LEADER and net.cores["a"].term == 1
    assert net.cores["c"].role is Role.FOLLOWER and net.cores["c"].lead == "a"


def test_without_pre_vote_the_partitioned_node_inflates_its_term() -> None:
    net = Net(["a", "b", "c"], CoreConfig(election_tick=10, pre_vote=False, check_quorum=False))
    net.elect("a")
    net.isolate("c")
    net.tick("c", 40)
    assert net.cores["c"].term > 2  # what pre-vote prevents


def test_leader_stickiness_followers_ignore_votes_while_the_leader_is_alive() -> None:
    net = Net(["a", "b", "c"])
    net.elect("a")
    net.cut |= {("a", "c"), ("c", "a")}  # c alone loses the leader; b still hears from it
    net.tick("c", 25)
    net.cores["c"].campaign()
    net.settle()
    assert net.cores["c"].role is not Role.LEADER
    assert net.cores["b"].vote == "a" and net.cores["b"].term == 1
    assert net.cores["a"].role is Role.LEADER


def test_stale_term_messages_are_rejected_and_tell_the_sender() -> None:
    net = Net(["a", "b", "c"])
    net.elect("a")
    b = net.cores["b"]
    stale = Message(MT.APPEND, "c", "b", term=0, index=1, log_term=1, entries=(Entry(2, 0, data=b"old"),))
    b.step(stale)
    rd = b.ready()
    b.advance(rd)
    assert b.log.last_index() == 1 and b.term == 1
    assert [(m.type, m.to, m.term) for m in rd.messages] == [(MT.APPEND_RESP, "c", 1)]
    vote = Message(MT.VOTE, "c", "b", term=0, index=9, log_term=9)
    b.step(vote)
    assert not b.has_ready() or all(m.type is not MT.VOTE_RESP for m in b.ready().messages)


def test_a_newer_term_vote_is_granted_only_to_an_up_to_date_log() -> None:
    net = Net(["a", "b", "c"], CoreConfig(election_tick=10, check_quorum=False, pre_vote=False))
    net.elect("a")
    net.cores["a"].propose(b"x")
    net.settle()
    b = net.cores["b"]
    b.step(Message(MT.VOTE, "c", "b", term=5, index=1, log_term=1))  # c's log is behind
    rd = b.ready()
    b.advance(rd)
    assert b.term == 5 and b.vote is None
    assert [(m.type, m.reject) for m in rd.messages] == [(MT.VOTE_RESP, True)]


def test_check_quorum_makes_an_isolated_leader_step_down() -> None:
    net = Net(["a", "b", "c"])
    net.elect("a")
    net.isolate("a")
    net.tick("a", 2 * CFG.election_tick)
    assert net.cores["a"].role is Role.FOLLOWER


def test_only_entries_of_the_current_term_commit_by_counting() -> None:
    cfg = CoreConfig(election_tick=10, check_quorum=False, pre_vote=False)
    net = Net(["a", "b", "c"], cfg)
    net.stores["a"].save(HardState(2, None, 0), [Entry(1, 1), Entry(2, 2, data=b"old")], None, True)
    net.cores["a"] = net._boot("a", 0, cfg)
    net.filter = lambda m: m.type is not MT.APPEND  # votes flow, appends are held back
    net.elect("a")
    a = net.cores["a"]
    assert a.term == 3 and a.log.entries[-1] == Entry(3, 3, EntryType.NOOP)
    a.step(Message(MT.APPEND_RESP, "b", "a", term=3, index=2))
    assert a.log.committed == 0  # a quorum holds index 2, but it is of term 2: not committed
    a.step(Message(MT.APPEND_RESP, "b", "a", term=3, index=3))
    assert a.log.committed == 3  # the no-op of term 3 commits, and with it the old entry


def test_fast_backtracking_skips_a_whole_divergent_term() -> None:
    net = Net(["a", "b", "c"], CoreConfig(election_tick=10, check_quorum=False))
    net.elect("a")
    net.isolate("a")
    for k in range(30):
        net.cores["a"].propose(b"doomed-%d" % k)  # 30 entries nobody else gets
    net.settle()
    net.heal()
    net.cut |= {("a", "b"), ("b", "a"), ("a", "c"), ("c", "a")}
    net.elect("b")
    for k in range(3):
        net.cores["b"].propose(b"good-%d" % k)
    net.settle()
    net.heal()
    net.sent.clear()
    net.tick_all()
    net.settle()
    rejects = [m for m in net.sent if m.type is MT.APPEND_RESP and m.reject and m.frm == "a"]
    assert len(rejects) <= 2  # one hint jumps over the whole term-1 tail
    assert net.applied["a"] == net.applied["b"] == [b"good-0", b"good-1", b"good-2"]


def test_a_follower_behind_the_compacted_log_gets_a_snapshot() -> None:
    net = Net(["a", "b", "c"])
    net.elect("a")
    net.isolate("c")
    for k in range(10):
        net.cores["a"].propose(b"e%d" % k)
    net.settle()
    net.tick_all()
    a = net.cores["a"]
    index = a.log.applied
    snap = Snapshot(index, a.log.term(index) or 0, net.membership, b"state@%d" % index)
    net.stores["a"].compact(snap, [])
    a.compact(snap)
    assert a.log.snap_index == index and a.log.entries == []
    net.heal()
    net.sent.clear()
    net.tick_all(2)
    assert any(m.type is MT.SNAPSHOT and m.to == "c" for m in net.sent)
    c = net.cores["c"]
    assert c.log.snap_index == index and c.log.committed == index
    assert net.stores["c"].snapshot == snap
    a.propose(b"after")
    net.settle()
    net.tick_all()
    assert net.applied["c"][-1] == b"after"


def test_read_index_confirms_leadership_with_a_quorum_round() -> None:
    net = Net(["a", "b", "c"])
    net.elect("a")
    a = net.cores["a"]
    net.isolate("a")
    assert a.read_index(b"r1")
    net.settle()
    assert net.reads["a"] == []  # no quorum answered: the read must wait
    net.heal()
    net.tick("a")  # the periodic heartbeat retries the confirmation
    assert net.reads["a"] == [(b"r1", a.log.committed)]
    assert not net.cores["b"].read_index(b"r2")  # followers redirect


def test_a_new_leader_defers_reads_until_it_commits_in_its_term() -> None:
    net = Net(["a", "b", "c"])
    net.filter = lambda m: m.type is not MT.APPEND_RESP  # the no-op cannot commit yet
    net.elect("a")
    a = net.cores["a"]
    assert a.read_index(b"r")
    net.settle()
    assert net.reads["a"] == []
    net.filter = lambda m: True
    net.tick("a")
    assert net.reads["a"] == [(b"r", a.log.committed)] and a.log.committed == 1


def test_restart_from_persisted_state_keeps_term_vote_and_log() -> None:
    net = Net(["a", "b", "c"])
    net.elect("a")
    net.cores["a"].propose(b"x")
    net.settle()
    state = net.stores["b"].load()
    assert state.hard_state.term == 1 and state.hard_state.vote == "a"
    again = Raft("b", net.membership, state, random.Random(1), CFG)
    assert again.log.last_index() == 2 and again.term == 1 and again.vote == "a"


def test_using_the_core_between_ready_and_advance_is_refused() -> None:
    core = Raft("a", Membership(frozenset("a")), PersistedState(HardState(), None, ()), random.Random(0), CFG)
    core.campaign()
    rd = core.ready()
    with pytest.raises(RuntimeError):
        core.tick()
    core.advance(rd)
    assert core.role is Role.LEADER


# ------------------------------------------------------------------------------ lease reads

LEASE = CoreConfig(election_tick=10, heartbeat_tick=1, lease_reads=True)


def _lease_group() -> tuple[Net, str]:
    """Three replicas with lease reads; ticked until one leads (a fresh replica refuses votes
    for an election timeout, so `elect` cannot be used right after boot)."""
    net = Net(["a", "b", "c"], LEASE)
    for _ in range(4 * LEASE.election_tick):
        net.tick_all()
        leaders = [i for i, c in net.cores.items() if c.role is Role.LEADER]
        if leaders:
            net.tick_all()  # one heartbeat round: the followers' echoes start the lease
            return net, leaders[0]
    raise AssertionError("no leader elected")


def _heartbeats_with(net: Net, context: bytes) -> int:
    return sum(1 for m in net.sent if m.type is MT.HEARTBEAT and m.context == context)


def test_a_leader_within_its_lease_serves_a_read_without_a_heartbeat_round() -> None:
    net, lead = _lease_group()
    core = net.cores[lead]
    assert core.in_lease()
    assert core.read_index(b"r1")
    net.settle()
    assert net.reads[lead] == [(b"r1", core.log.committed)]
    assert _heartbeats_with(net, b"r1") == 0  # no round trip was needed
    core.lose_lease(20)  # the driver's clock jumped: back to read index until a quorum answers
    assert not core.in_lease()
    assert core.read_index(b"r2")
    net.settle()
    assert _heartbeats_with(net, b"r2") == 2 and net.reads[lead][-1] == (b"r2", core.log.committed)
    assert core.in_lease()  # the round's answers renewed the lease


def test_echoes_of_heartbeats_sent_before_a_stall_do_not_renew_the_lease() -> None:
    """The leader sends a heartbeat round and stalls (SIGSTOP) before it reads the echoes; the
    others elect a new leader meanwhile. When it resumes, the driver sees the clock jumped, and
    the echoes it then reads are as old as the stall: its next read needs a heartbeat round."""
    net, lead = _lease_group()
    core = net.cores[lead]
    held: list[Message] = []

    def hold_echoes(m: Message) -> bool:
        if m.type is MT.HEARTBEAT_RESP and m.to == lead:
            held.append(m)
            return False
        return True

    net.filter = hold_echoes
    net.tick(lead, LEASE.heartbeat_tick)  # a heartbeat round; its echoes wait in the socket
    assert len(held) == 2
    net.filter = lambda m: True
    core.lose_lease(3 * LEASE.election_tick)  # the ticks the stall skipped (the driver fires at most 3)
    for m in held:
        core.step(m)
    assert not core.in_lease()
    assert core.read_index(b"after-the-stall")
    net.isolate(lead)  # the others have moved on: nobody answers this round
    net.settle()
    assert _heartbeats_with(net, b"after-the-stall") == 2
    assert b"after-the-stall" not in [context for context, _ in net.reads[lead]]


def _partition_the_leader(net: Net, lead: str, restart_follower: bool = False) -> tuple[int, int, int]:
    """Cut the leader off; every tick it is asked for a read while another replica times out
    as early as any can. With `restart_follower`, that candidate had been cut off from the
    leader for a while already (its elections failed: the third replica stuck to the leader),
    and the third replica crashes and restarts just as the leader is cut off. Returns (the last
    tick a read was served at once, the tick another replica won, the tick the old leader
    stepped down)."""
    old = net.cores[lead]
    candidate, third = (i for i in net.ids if i != lead)
    if restart_follower:
        net.cut |= {(lead, candidate), (candidate, lead)}
        net.tick_all(3 * LEASE.election_tick)
        assert old.role is Role.LEADER and old.in_lease()
    net.isolate(lead)
    eager = net.cores[candidate]
    if restart_follower:
        net.cores[third] = Raft(third, net.membership, net.stores[third].load(), random.Random(9), LEASE)
        eager.election_elapsed = eager.randomized_timeout - 1  # its timer fires at the next tick
    last_served = won = stepped_down = -1
    for t in range(1, 4 * LEASE.election_tick):
        if eager.role is not Role.LEADER:  # only one eager candidate: two would split the vote
            eager.randomized_timeout = LEASE.election_tick
        net.tick_all()
        if won < 0 and any(net.cores[i].role is Role.LEADER for i in (candidate, third)):
            won = t
        if old.role is Role.LEADER:
            before = len(net.reads[lead])
            old.read_index(f"read-{t}".encode())
            net.settle()
            if len(net.reads[lead]) > before:
                last_served = t
        elif stepped_down < 0:
            stepped_down = t
    return last_served, won, stepped_down


@pytest.mark.parametrize("restart_follower", [False, True])
def test_a_partitioned_leader_stops_lease_reads_before_another_can_be_elected(restart_follower: bool) -> None:
    net, lead = _lease_group()
    last_served, won, stepped_down = _partition_the_leader(net, lead, restart_follower)
    assert last_served >= 1  # it did serve lease reads while cut off (the test is not vacuous)
    assert won > last_served  # but none once another replica could lead
    assert 0 < stepped_down <= 2 * LEASE.election_tick  # and check-quorum deposed it


def test_without_the_quiet_start_a_restarted_follower_lets_a_stale_lease_serve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Why a fresh replica refuses votes for an election timeout: a follower that restarts
    forgets it heard from the leader, and could elect a new leader inside the old one's lease."""
    real_init = Raft.__init__

    def forgetful(self: Raft, *args: object, **kwargs: object) -> None:
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]
        self._quiet_ticks = 0

    net, lead = _lease_group()
    monkeypatch.setattr(Raft, "__init__", forgetful)
    last_served, won, _ = _partition_the_leader(net, lead, restart_follower=True)
    assert 0 < won <= last_served  # a stale read: served after another replica won


def test_lease_reads_need_check_quorum() -> None:
    with pytest.raises(ValueError):
        CoreConfig(lease_reads=True, check_quorum=False)
    assert LEASE.lease_ticks() == 8
