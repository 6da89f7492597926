"""A deterministic simulator for the pure Raft core: simulated network, clock, disks and crashes.

One `Simulation(seed, n)` owns a seeded `random.Random`; every choice (delays, loss,
duplication, partitions, crashes, client requests, each replica's election timeouts) flows from
it, so a seed replays exactly. Each time unit: deliver due messages (random delays reorder them),
tick the replicas whose clock fires, let clients propose and read, let some replicas handle their
Ready (persist to a MemoryLogStore, send, apply, advance: between two Readys a replica keeps
unpersisted state that a crash loses), inject faults, then check the safety properties:

- election safety: at most one leader per term;
- log matching: an (index, term) pair always names the same command and the same previous term;
- leader completeness: a new leader's log holds every entry known committed;
- state machine safety: no two replicas apply different commands at an index (digest chain);
- read safety: a confirmed read index covers everything committed before the read started;
- lease safety (lease reads): no leader holds its lease while a newer term has a leader.
`heal_and_check_liveness()` then repairs everything and requires a new command to be applied on
every replica within a bounded time.
"""

from __future__ import annotations

import hashlib
import heapq
import random
import struct
from dataclasses import dataclass, field

from cairn.raft.core import CoreConfig, Raft
from cairn.raft.messages import (
    EntryType,
    Membership,
    Message,
    Ready,
    Role,
    Snapshot,
    sendable_before_persist,
)
from cairn.raft.storage import MemoryLogStore


class SafetyViolation(AssertionError):
    pass


@dataclass
class Faults:
    loss: float = 0.08
    duplicate: float = 0.05
    max_delay: int = 5
    crash: float = 0.006
    leader_crash: float = 0.01  # extra: crash whoever leads (loses its unpersisted tail)
    restart: float = 0.03
    partition: float = 0.01
    heal: float = 0.03
    reads: float = 0.05  # chance per time unit that a client starts a read


#: The two fault mixes CI runs: "calm" lets many commands commit between faults; "stormy" keeps
#: elections, crashes and partitions coming (more terms, fewer commits).
WEATHER = {
    "calm": Faults(),
    "stormy": Faults(
        loss=0.15,
        duplicate=0.1,
        max_delay=6,
        crash=0.01,
        leader_crash=0.02,
        restart=0.04,
        partition=0.02,
        heal=0.03,
    ),
    # Long partitions and many reads: a cut-off leader keeps reading while the others elect a
    # new one and commit, so a lease held too long (lease reads) shows up as a stale read.
    "split": Faults(crash=0.003, leader_crash=0.005, partition=0.02, heal=0.004, reads=0.3),
}


@dataclass
class Machine:
    """A state machine whose whole state is a digest chain over the applied commands."""

    index: int = 0
    digest: bytes = b""

    def apply(self, index: int, data: bytes) -> None:
        if index != self.index + 1:
            raise SafetyViolation(f"applied index {index} after {self.index}")
        self.index = index
        self.digest = hashlib.blake2b(self.digest + data, digest_size=16).digest()

    def applied_all(self) -> None:
        """Every committed entry of one Ready went through `apply` (a machine that applies
        entries in batches applies them now)."""

    def snapshot(self) -> bytes:
        return struct.pack(">Q", self.index) + self.digest

    def restore(self, data: bytes) -> None:
        (self.index,) = struct.unpack_from(">Q", data)
        self.digest = data[8:]


@dataclass
class Replica:
    id: str
    store: MemoryLogStore = field(default_factory=MemoryLogStore)
    core: Raft | None = None
    machine: Machine = field(default_factory=Machine)
    seen_commit: int = 0
    restarts: int = 0
    pending: Ready | None = None  # a Ready being persisted: the core must not be touched

    @property
    def usable(self) -> bool:
        return self.core is not None and self.pending is None


class Simulation:
    """Subclasses may run another state machine (`new_machine`, with the same digest chain
    in `index`/`digest`) on other commands (`next_command`, `liveness_command`)."""

    def __init__(
        self, seed: int, n: int, faults: Faults | None = None, snap_every: int = 12, lease: bool = False
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.faults = faults or Faults()
        self.chaos = True
        self.cfg = CoreConfig(
            election_tick=10, heartbeat_tick=2, max_inflight=4, max_batch_entries=4, lease_reads=lease
        )
        self.ids = [f"n{i}" for i in range(1, n + 1)]
        self.membership = Membership(frozenset(self.ids))
        self.snap_every = snap_every
        self.now = 0
        self.seq = 0
        self.net: list[tuple[int, int, Message]] = []
        self.side: dict[str, int] = dict.fromkeys(self.ids, 0)
        self.replicas = {i: Replica(i) for i in self.ids}
        self.tick_phase = {i: self.rng.randrange(3) for i in self.ids}
        self.leaders: dict[int, str] = {}
        self.entries_seen: dict[tuple[int, int], tuple[int, bytes, int | None]] = {}
        self.committed: dict[int, tuple[int, bytes]] = {}
        self.digest_at: dict[int, bytes] = {}
        self.reads: dict[bytes, int] = {}
        self.proposed = 0
        self.complete_checked: set[int] = set()
        self.trace: list[str] = []
        self.clients_on = True
        for r in self.replicas.values():
            self._boot(r)

    # ---------------------------------------------------------------- driving

    def run(self, steps: int) -> None:
        for _ in range(steps):
            self.step()

    def step(self) -> None:
        self.now += 1
        self._deliver()
        for rid in self.ids:
            r = self.replicas[rid]
            if r.core is not None and r.usable and (self.now + self.tick_phase[rid]) % 3 == 0:
                r.core.tick()
        self._clients()
        for rid in self.ids:
            r = self.replicas[rid]
            if r.pending is not None:
                if self.rng.random() < 0.6:
                    self._finish_ready(r)
            elif r.core is not None and r.core.has_ready() and self.rng.random() < 0.7:
                self._begin_ready(r)
                if self.rng.random() < 0.5:
                    self._finish_ready(r)
        if self.chaos:
            self._inject_faults()
        self.check()

    def heal_and_check_liveness(self, budget: int = 800) -> None:
        """Stop all faults, restart everything, and require progress within `budget` time units."""
        self.chaos = False
        self.faults = Faults(
            loss=0.0, duplicate=0.0, max_delay=self.faults.max_delay, reads=self.faults.reads
        )
        self.side = dict.fromkeys(self.ids, 0)
        for r in self.replicas.values():
            if r.core is None:
                self._boot(r)
        target = self.liveness_command()
        proposed_to: tuple[str, int] | None = None
        waiting: list[tuple[int, int]] = []
        for _ in range(budget):
            self.step()
            leader = self.leader()
            if leader is not None and leader.core is not None and leader.usable:
                # Re-propose to each new leader: a deposed leader's proposal may be lost.
                if proposed_to != (leader.id, leader.core.term):
                    proposed_to = (leader.id, leader.core.term)
                    placed = leader.core.propose(target)
                    if placed is not None:
                        waiting.append(placed)
            for index, term in waiting:
                if self.committed.get(index) == (term, target) and all(
                    r.machine.index >= index for r in self.replicas.values()
                ):
                    return
        raise SafetyViolation(f"no progress within {budget} time units after healing")

    def new_machine(self, r: Replica) -> Machine:
        """The state machine of replica `r` (re)booting; it restores the snapshot, if any."""
        return Machine()

    def next_command(self) -> bytes:
        return f"cmd-{self.seed}-{self.proposed}".encode()

    def liveness_command(self) -> bytes:
        return f"liveness-{self.seed}".encode()

    def leader(self) -> Replica | None:
        for r in self.replicas.values():
            if r.core is not None and r.core.role is Role.LEADER:
                return r
        return None

    def _usable(self, r: Replica) -> Raft | None:
        return r.core if r.usable else None

    # --------------------------------------------------------------- internals

    def _log(self, text: str) -> None:
        self.trace.append(f"t={self.now} {text}")
        if len(self.trace) > 300:
            del self.trace[:100]

    def _boot(self, r: Replica) -> None:
        state = r.store.load()
        r.restarts += 1
        rng = random.Random(self.seed * 7919 + self.ids.index(r.id) * 131 + r.restarts)
        r.core = Raft(r.id, self.membership, state, rng, self.cfg)
        r.machine = self.new_machine(r)
        if state.snapshot is not None:
            r.machine.restore(state.snapshot.data)
            self._check_snapshot(r, state.snapshot)
        r.seen_commit = r.core.log.snap_index
        self._log(f"boot {r.id} term={state.hard_state.term} commit={state.hard_state.commit}")

    def _send(self, m: Message) -> None:
        self.seq += 1
        heapq.heappush(self.net, (self.now + self.rng.randint(1, self.faults.max_delay), self.seq, m))

    def _deliver(self) -> None:
        while self.net and self.net[0][0] <= self.now:
            _, _, m = heapq.heappop(self.net)
            dest = self.replicas[m.to]
            if dest.core is None or self.side[m.frm] != self.side[m.to]:
                continue
            if dest.pending is not None:  # busy persisting: the message waits in its inbox
                heapq.heappush(self.net, (self.now + 1, m_seq := self.seq + 1, m))
                self.seq = m_seq
                continue
            if self.rng.random() < self.faults.loss:
                continue
            if self.rng.random() < self.faults.duplicate:
                self._send(m)
            dest.core.step(m)

    def _clients(self) -> None:
        if not self.clients_on:
            return
        if self.rng.random() < 0.4:
            r = self.leader() if self.rng.random() < 0.7 else None
            r = r or self.replicas[self.rng.choice(self.ids)]
            core = self._usable(r)
            if core is not None:
                self.proposed += 1
                core.propose(self.next_command())
        if self.rng.random() < self.faults.reads:
            core = self._usable(self.replicas[self.rng.choice(self.ids)])
            if core is not None:
                ctx = f"read-{self.now}".encode()
                if core.read_index(ctx):
                    self.reads[ctx] = max(self.committed, default=0)

    def _begin_ready(self, r: Replica) -> None:
        """Take a Ready and send what may leave before the fsync; a crash now loses the rest."""
        core = r.core
        if core is None:
            raise RuntimeError("ready on a stopped replica")
        rd: Ready = core.ready()
        for e in rd.entries:
            self._check_entry(e.index, e.term, e.type, e.data, core.log.term(e.index - 1))
        for m in rd.messages:
            if sendable_before_persist(m):
                self._send(m)
        r.pending = rd

    def _finish_ready(self, r: Replica) -> None:
        core, rd = r.core, r.pending
        if core is None or rd is None:
            raise RuntimeError("no Ready in progress")
        r.pending = None
        r.store.save(rd.hard_state, rd.entries, rd.snapshot, rd.must_sync)
        for m in rd.messages:
            if not sendable_before_persist(m):
                self._send(m)
        if rd.snapshot is not None:
            r.machine.restore(rd.snapshot.data)
            self._check_snapshot(r, rd.snapshot)
        for e in rd.committed:
            r.machine.apply(e.index, e.data)
            known = self.digest_at.setdefault(e.index, r.machine.digest)
            if known != r.machine.digest:
                raise SafetyViolation(f"{r.id} applied a different command at {e.index}")
        r.machine.applied_all()
        for rs in rd.read_states:
            started = self.reads.pop(rs.context, 0)
            if rs.index < started:
                raise SafetyViolation(f"read index {rs.index} misses commit {started} before the read")
        core.advance(rd)
        log = core.log
        if log.applied - log.snap_index >= self.snap_every and self.rng.random() < 0.5:
            self._record_commits(r)  # before the entries disappear into the snapshot
            index = log.applied
            snap = Snapshot(index, log.term(index) or 0, core.membership, r.machine.snapshot())
            r.store.compact(snap, [e for e in log.entries if e.index > index])
            core.compact(snap)

    def _check_snapshot(self, r: Replica, snap: Snapshot) -> None:
        known = self.digest_at.get(snap.index)
        if known is not None and known != r.machine.digest:
            raise SafetyViolation(f"{r.id} restored a snapshot at {snap.index} with a different state")
        if known is None:
            self.digest_at[snap.index] = r.machine.digest

    def _check_entry(self, index: int, term: int, etype: EntryType, data: bytes, prev: int | None) -> None:
        value = (int(etype), data, prev)
        known = self.entries_seen.setdefault((index, term), value)
        if known != value:
            raise SafetyViolation(f"log matching: ({index}, {term}) is {value} and also {known}")

    def _inject_faults(self) -> None:
        f = self.rng.random
        for r in self.replicas.values():
            leading = r.core is not None and r.core.role is Role.LEADER
            if r.core is not None and f() < self.faults.crash + (self.faults.leader_crash if leading else 0):
                self._log(f"crash {r.id}")
                r.store.crash()
                r.core = None
                r.pending = None
            elif r.core is None and f() < self.faults.restart:
                self._boot(r)
        if f() < self.faults.partition:
            self.side = {i: self.rng.randrange(2) for i in self.ids}
            self._log(f"partition {self.side}")
        elif f() < self.faults.heal:
            self.side = dict.fromkeys(self.ids, 0)

    def check(self) -> None:
        for r in self.replicas.values():
            core = r.core
            if core is None:
                continue
            if core.role is Role.LEADER:
                holder = self.leaders.setdefault(core.term, r.id)
                if holder != r.id:
                    raise SafetyViolation(f"two leaders in term {core.term}: {holder} and {r.id}")
                if core.term not in self.complete_checked:
                    self.complete_checked.add(core.term)
                    self._check_leader_completeness(r)
            self._record_commits(r)
        self._check_leases()

    def _check_leases(self) -> None:
        """Lease safety: while a leader holds its lease, nobody leads a newer term (else its
        lease reads could miss the newer leader's commits)."""
        leading = [
            r.core for r in self.replicas.values() if r.core is not None and r.core.role is Role.LEADER
        ]
        newest = max((c.term for c in leading), default=0)
        for core in leading:
            if core.term < newest and core.in_lease():
                raise SafetyViolation(
                    f"{core.id} holds a lease in term {core.term} while term {newest} has a leader"
                )

    def _record_commits(self, r: Replica) -> None:
        """Every entry a replica considers committed must match what anyone else committed."""
        if r.core is None:
            return
        log = r.core.log
        for index in range(max(r.seen_commit, log.snap_index) + 1, log.committed + 1):
            entry = log.entries[index - log.snap_index - 1]
            known = self.committed.setdefault(index, (entry.term, entry.data))
            if known != (entry.term, entry.data):
                raise SafetyViolation(f"{r.id} committed ({index}, {entry.term}) over committed {known}")
        r.seen_commit = max(r.seen_commit, log.committed)

    def _check_leader_completeness(self, r: Replica) -> None:
        core = r.core
        if core is None:
            return
        log = core.log
        top = max(self.committed, default=0)
        if log.last_index() < top:
            raise SafetyViolation(f"leader {r.id} (term {core.term}) lacks committed index {top}")
        for index in range(log.snap_index + 1, top + 1):
            if index in self.committed and log.term(index) != self.committed[index][0]:
                raise SafetyViolation(f"leader {r.id} (term {core.term}) differs at committed {index}")
