"""RaftNode: the asyncio runtime that drives the pure core (core.py) for one replica.

One driver task owns the core. It wakes on incoming messages, proposals, reads or the next
tick of the real clock, feeds them to the core, then handles each Ready in order:

1. send the leader's replication traffic (appends, heartbeats, snapshots: see
   messages.sendable_before_persist), then persist snapshot, entries and hard state in the
   storage thread (fsync when the Ready needs it) - before any other message of that Ready
   leaves, so no vote or acknowledgement ever depends on state that could still be lost; the
   leader counts its own entries towards commit only after this;
2. send the other messages (transport.py);
3. restore a received snapshot, apply committed entries to the state machine, and hand each
   proposer the result of its own entry (matched by index and term);
4. release confirmed reads once applied >= their read index;
5. advance the core; then, past `snapshot_threshold` applied entries and as many bytes of log
   as the last snapshot holds (`snapshot_log_ratio`, capped by `snapshot_max_log_bytes`: the
   copy of the state costs O(1) per logged byte however large it grows), start a snapshot: the
   machine fixes its state there and its files are written by the snapshot thread while
   applies go on; once they are staged, the driver switches the storage to them and compacts
   the log between two Readies (snapfiles.py).

The core is never touched while a Ready is being persisted: whatever arrives meanwhile waits in
the inbox and goes into the next Ready (group commit). Reads follow the read-index rule: the
leader records its commit index, confirms leadership with a heartbeat round answered by a
quorum (or at once while its lease holds, with `lease_reads`), and the read proceeds once this
replica has applied that index. The driver runs due ticks before it takes reads from the inbox,
and after a stall longer than the ticks it fires it drops the lease and moves the lease clock
on by the ticks it skipped (`Raft.lose_lease`), so heartbeat echoes queued during the stall
cannot renew it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import shutil
from collections import deque
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc.aio

from cairn.raft import rpc_server
from cairn.raft.config import RaftConfig
from cairn.raft.core import Raft
from cairn.raft.errors import RaftStopped, WrongReplica
from cairn.raft.messages import (
    EntryType,
    Membership,
    Message,
    Ready,
    Role,
    Snapshot,
    SoftState,
    sendable_before_persist,
)
from cairn.raft.snapfiles import SnapshotIO, SnapshotWriter
from cairn.raft.storage import FileLogStore
from cairn.raft.transport import Transport
from cairn.replication import Leadership, NoQuorum, NotLeader, PeerStatus, ReplicaStatus, StateMachine

__all__ = ["RaftConfig", "RaftNode", "NotLeader", "NoQuorum"]

log = logging.getLogger(__name__)

_MAX_INBOX = 100_000

#: Largest command `propose` accepts: one entry must fit an append message on the wire.
MAX_COMMAND_BYTES = 16 << 20


class RaftNode:
    def __init__(
        self,
        node_id: str,
        peers: Mapping[str, str],
        data_dir: Path,
        machine: StateMachine,
        config: RaftConfig = RaftConfig(),  # noqa: B008 - frozen, never mutated
    ) -> None:
        if node_id not in peers:
            raise ValueError(f"node id {node_id!r} is not among the peers {sorted(peers)}")
        self._id = node_id
        self._peers = dict(peers)
        self._data_dir = Path(data_dir)
        self._machine = machine
        self._config = config
        self._store = FileLogStore(self._data_dir)
        self._servicer: rpc_server.RaftServicer | None = None
        self._io = SnapshotIO(machine)
        self._building: asyncio.Task[None] | None = None  # a snapshot being written (thread)
        self._built: Snapshot | None = None  # written and staged, waiting for the compaction
        self._core: Raft | None = None
        self._transport: Transport | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._snap_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"raft-snap-{node_id}")
        self._task: asyncio.Task[None] | None = None
        self._inbox: deque[tuple[str, object, asyncio.Future[bytes] | None]] = deque()
        self._wake = asyncio.Event()
        self._proposals: dict[int, tuple[int, asyncio.Future[bytes]]] = {}
        self._reads: dict[bytes, asyncio.Future[bytes]] = {}
        self._confirmed_reads: list[tuple[int, asyncio.Future[bytes]]] = []
        self._read_ids = itertools.count(1)
        self._applied = 0
        self._applied_bytes = 0  # entry bytes applied since the snapshot point (`_snapshot_due`)
        self._running = False
        self._failure: BaseException | None = None
        self._logged_role: SoftState | None = None

    # ------------------------------------------------------------ public API

    @property
    def node_id(self) -> str:
        return self._id

    def add_to_server(self, server: grpc.aio.Server) -> None:
        """Register the Raft peer servicer on the host service's gRPC server."""
        self._servicer = rpc_server.add_to_server(server, self._deliver, self._store.dirs)

    def end_incoming_streams(self) -> None:
        """Before the host server's graceful stop: end the peers' message streams into it (they
        never end by themselves, so the drain would wait its whole grace). A stopping server
        refuses new calls anyway, the peers' next streams included."""
        if self._servicer is not None:
            self._servicer.end_streams()

    async def start(self) -> None:
        """Recover from disk and start the driver (call after the gRPC server started).

        A RaftNode runs once: to restart a replica, build a new one with a fresh state machine
        (the machine is rebuilt from the snapshot and the log). Raises CorruptFile, and does not
        start, when `raft.wal` or `snapshot` is damaged anywhere but a torn last record."""
        if self._task is not None:
            raise RuntimeError("a RaftNode can be started only once")
        loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"raft-{self._id}")
        try:
            state = await loop.run_in_executor(self._executor, self._store.load)
        except BaseException:
            # e.g. CorruptFile: a damaged log must not be run on (it may have lost our vote).
            self._executor.shutdown(wait=True)
            self._executor = None
            raise
        if state.snapshot is not None:
            await self._io.restore(self._store.snapshot_dir(state.snapshot), state.snapshot.files)
        rng = random.Random(self._config.seed)
        membership = Membership(frozenset(self._peers))
        self._core = Raft(self._id, membership, state, rng, self._config.core())
        self._applied = self._core.log.applied
        self._applied_bytes = sum(len(e.data) for e in self._core.log.entries if e.index <= self._applied)
        if membership.voters == {self._id}:
            self._core.campaign()  # a one-replica group need not wait out an election timeout
        self._transport = Transport(
            self._id, self._peers, self._config, self._report_unreachable, self._store.snapshot_dir
        )
        self._transport.start()
        self._running = True
        self._task = asyncio.create_task(self._run(), name=f"raft-{self._id}")
        log.info(
            "raft %s started: term %d, commit %d, snapshot %d, %d entries",
            self._id,
            state.hard_state.term,
            state.hard_state.commit,
            state.snapshot.index if state.snapshot else 0,
            len(state.entries),
        )

    async def stop(self) -> None:
        """Stop the driver and the transport; pending proposals and reads fail with NoQuorum."""
        if self._task is None or self._executor is None:
            return
        self._running = False
        self._wake.set()
        for task in (self._task, self._building):
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        if self._transport is not None:
            await self._transport.stop()
        self._fail_all(NoQuorum("the replica is stopping"))
        executor, self._executor = self._executor, None
        await asyncio.get_running_loop().run_in_executor(executor, self._store.close)
        executor.shutdown(wait=True)
        self._snap_executor.shutdown(wait=True)

    async def propose(self, command: bytes, timeout: float) -> bytes:
        """Replicate `command`; return the state machine's result for it once applied here."""
        if len(command) > MAX_COMMAND_BYTES:
            raise ValueError(f"a command is limited to {MAX_COMMAND_BYTES} bytes (got {len(command)})")
        self._check_leader()
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._enqueue("propose", command, future)
        return await self._wait(future, timeout, "the command was not committed")

    async def read_barrier(self, timeout: float) -> None:
        """Return once reads of the local state are linearizable (lease or read index, see module doc)."""
        self._check_leader()
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._enqueue("read", next(self._read_ids).to_bytes(8, "big"), future)
        await self._wait(future, timeout, "leadership was not confirmed by a quorum")

    def leadership(self) -> Leadership:
        core = self._core
        if core is None:
            return Leadership(Role.FOLLOWER.value, 0, None)
        return Leadership(core.role.value, core.term, core.lead)

    def status(self) -> ReplicaStatus:
        core = self._core
        if core is None:
            return ReplicaStatus(self._id, 0, Role.FOLLOWER.value, None, 0, 0, ())
        peers = []
        for peer_id, addr in sorted(self._peers.items()):
            pr = core.progress.get(peer_id)
            reachable = self._transport.reachable(peer_id) if self._transport else peer_id == self._id
            peers.append(PeerStatus(peer_id, addr, reachable, pr.match if pr else 0))
        return ReplicaStatus(
            self._id, core.term, core.role.value, core.lead, core.log.committed, self._applied, tuple(peers)
        )

    # -------------------------------------------------------------- plumbing

    def _not_leader(self) -> NotLeader:
        lead = self._core.lead if self._core else None
        return NotLeader(lead, self._peers.get(lead) if lead else None)

    def _check_leader(self) -> None:
        if not self._running or self._core is None:
            why = f": failed on {self._failure!r}" if self._failure is not None else ""
            raise NoQuorum(f"raft replica {self._id} is not running{why}")
        if self._core.role is not Role.LEADER:
            raise self._not_leader()

    def _enqueue(self, kind: str, payload: object, future: asyncio.Future[bytes] | None) -> None:
        self._inbox.append((kind, payload, future))
        self._wake.set()

    async def _wait(self, future: asyncio.Future[bytes], timeout: float, what: str) -> bytes:
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise NoQuorum(f"{what} within {timeout}s") from None

    def _deliver(self, message: Message) -> None:
        """Queue a message from a peer for the core (the transport's servicer calls this)."""
        if not self._running:
            raise RaftStopped(f"raft replica {self._id} is not running")
        if message.to != self._id:
            raise WrongReplica(f"a message for {message.to!r} reached replica {self._id!r}")
        if self._transport is not None:
            self._transport.heard_from(message.frm)
        if len(self._inbox) < _MAX_INBOX:
            self._enqueue("msg", message, None)

    def _report_unreachable(self, peer: str) -> None:
        self._enqueue("unreachable", peer, None)

    def _fail_all(self, exc: Exception) -> None:
        futures = [f for _, f in self._proposals.values()] + list(self._reads.values())
        futures += [f for _, f in self._confirmed_reads] + [f for _, _, f in self._inbox if f is not None]
        for future in futures:
            if not future.done():
                future.set_exception(exc)
        self._proposals.clear()
        self._reads.clear()
        self._confirmed_reads.clear()
        self._inbox.clear()

    # ---------------------------------------------------------------- driver

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        tick = self._config.tick_s
        next_tick = loop.time() + tick
        try:
            while self._running:
                if not self._inbox:
                    self._wake.clear()
                    try:
                        async with asyncio.timeout(max(0.0, next_tick - loop.time())):
                            await self._wake.wait()
                    except TimeoutError:
                        pass
                # Ticks before the inbox: a read taken after a stall must see the clock moved.
                now = loop.time()
                if now >= next_tick:
                    ticks = int((now - next_tick) / tick) + 1
                    if ticks > 3:  # the ticks not fired would have aged the lease: drop it
                        self._core_or_fail().lose_lease(ticks - 3)
                    for _ in range(min(ticks, 3)):  # after a long stall, do not fire a burst
                        self._core_or_fail().tick()
                    next_tick += ticks * tick
                self._drain_inbox(loop)
                while self._core_or_fail().has_ready():
                    await self._handle_ready(self._core_or_fail().ready())
                if self._built is not None:
                    await self._compact(self._built)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # a storage failure: this replica cannot continue safely
            log.exception("raft %s stopped on an unrecoverable error", self._id)
            self._failure = exc
            self._running = False
            self._fail_all(NoQuorum(f"raft replica {self._id} failed: {exc}"))

    def _core_or_fail(self) -> Raft:
        if self._core is None:
            raise RuntimeError("raft core not started")
        return self._core

    def _drain_inbox(self, loop: asyncio.AbstractEventLoop) -> None:
        core = self._core_or_fail()
        while self._inbox:
            kind, payload, future = self._inbox.popleft()
            if kind == "msg":
                core.step(payload)  # type: ignore[arg-type]
            elif kind == "unreachable":
                core.report_unreachable(payload)  # type: ignore[arg-type]
            elif future is None or future.done():
                continue
            elif kind == "propose":
                placed = core.propose(payload)  # type: ignore[arg-type]
                if placed is None:
                    future.set_exception(self._not_leader())
                else:
                    self._proposals[placed[0]] = (placed[1], future)
            elif kind == "read":
                if core.read_index(payload):  # type: ignore[arg-type]
                    self._reads[payload] = future  # type: ignore[index]
                else:
                    future.set_exception(self._not_leader())
        del loop

    def _log_role(self, soft: SoftState, term: int) -> None:
        """One INFO line per change of role or known leader: elections show in every log."""
        if soft == self._logged_role:
            return
        self._logged_role = soft
        if soft.role is Role.LEADER:
            log.info("raft %s is leader at term %d", self._id, term)
        elif soft.role is Role.FOLLOWER:
            log.info("raft %s follows %s at term %d", self._id, soft.lead or "no known leader", term)
        else:
            log.info("raft %s is %s at term %d: election started", self._id, soft.role.value, term)

    async def _handle_ready(self, rd: Ready) -> None:
        core = self._core_or_fail()
        self._log_role(rd.soft_state, core.term)
        early = [m for m in rd.messages if sendable_before_persist(m)]
        if self._transport is not None and early:
            self._transport.send(early)  # replicate while our own fsync runs
        if rd.snapshot is not None or rd.entries or rd.hard_state is not None:
            await asyncio.get_running_loop().run_in_executor(
                self._executor, self._store.save, rd.hard_state, rd.entries, rd.snapshot, rd.must_sync
            )
        if self._transport is not None:
            self._transport.send([m for m in rd.messages if not sendable_before_persist(m)])
        if rd.snapshot is not None:
            await self._io.restore(self._store.snapshot_dir(rd.snapshot), rd.snapshot.files)
            self._applied = rd.snapshot.index
            self._applied_bytes = 0
            log.info(
                "raft %s installed a snapshot at index %d (%d files, %d bytes) from %s",
                self._id,
                rd.snapshot.index,
                len(rd.snapshot.files),
                sum(f.size for f in rd.snapshot.files),
                rd.soft_state.lead or "the leader",
            )
            for index in [i for i in self._proposals if i <= rd.snapshot.index]:
                _, future = self._proposals.pop(index)
                if not future.done():
                    future.set_exception(self._not_leader())
        batch = getattr(self._machine, "apply_batch", None)  # cairn.replication.BatchStateMachine
        batched: dict[int, bytes] = {}
        if batch is not None and rd.committed:
            normal = [(e.index, e.data) for e in rd.committed if e.type is EntryType.NORMAL]
            batched = dict(zip((i for i, _ in normal), batch(normal), strict=True))
        for n, entry in enumerate(rd.committed):
            if batch is not None:
                result = batched.get(entry.index, b"")
            else:
                result = (
                    self._machine.apply(entry.index, entry.data) if entry.type is EntryType.NORMAL else b""
                )
            self._applied = entry.index
            self._applied_bytes += len(entry.data)
            waiter = self._proposals.pop(entry.index, None)
            if waiter is not None and not waiter[1].done():
                if waiter[0] == entry.term:
                    waiter[1].set_result(result)
                else:
                    waiter[1].set_exception(self._not_leader())
            if n % 512 == 511:
                await asyncio.sleep(0)
        for rs in rd.read_states:
            read = self._reads.pop(rs.context, None)
            if read is not None:
                self._confirmed_reads.append((rs.index, read))
        if rd.soft_state.role is not Role.LEADER:
            self._fail_lost_work(core)
        core.advance(rd)
        self._release_reads()
        if self._snapshot_due(core):
            self._snapshot()

    def _snapshot_due(self, core: Raft) -> bool:
        """Past `snapshot_threshold` entries, and past `snapshot_log_ratio` times the last
        snapshot's bytes of log (or `snapshot_max_log_bytes`), with no snapshot being built."""
        config = self._config
        if self._building is not None or self._applied - core.log.snap_index < config.snapshot_threshold:
            return False
        if self._applied_bytes >= config.snapshot_max_log_bytes:
            return True
        last = core.log.snapshot
        if last is None:
            return True
        return self._applied_bytes >= config.snapshot_log_ratio * sum(f.size for f in last.files)

    def _fail_lost_work(self, core: Raft) -> None:
        """After losing leadership: unconfirmed reads fail, and so do proposals whose entry is no
        longer in our log (overwritten by the new leader); others may still commit and wait."""
        for future in self._reads.values():
            if not future.done():
                future.set_exception(self._not_leader())
        self._reads.clear()
        for index, (term, future) in list(self._proposals.items()):
            if index > core.log.snap_index and core.log.term(index) != term:
                del self._proposals[index]
                if not future.done():
                    future.set_exception(self._not_leader())

    def _release_reads(self) -> None:
        if not self._confirmed_reads:
            return
        waiting = []
        for index, future in self._confirmed_reads:
            if index <= self._applied:
                if not future.done():
                    future.set_result(b"")
            else:
                waiting.append((index, future))
        self._confirmed_reads = waiting

    def _snapshot(self) -> None:
        """Snapshot the state machine at the applied index: the machine fixes that state now,
        between two applies (`SnapshotIO.prepare`), and its files are written, fsynced and
        staged in a thread while applies go on; `_compact` then switches to it."""
        core = self._core_or_fail()
        index = self._applied
        term = core.log.term(index)
        if term is None:
            return
        writer = self._io.prepare()
        self._applied_bytes = 0
        want = Snapshot(index, term, core.membership)
        self._building = asyncio.create_task(self._build(writer, want), name=f"raft-snapshot-{self._id}")

    async def _build(self, writer: SnapshotWriter, want: Snapshot) -> None:
        try:
            built = await asyncio.get_running_loop().run_in_executor(
                self._snap_executor, self._store.dirs.build, writer, want
            )
        except Exception:
            log.exception("raft %s could not write its snapshot at index %d", self._id, want.index)
            self._building = None
            return
        self._built = built
        self._wake.set()

    async def _compact(self, snap: Snapshot) -> None:
        """Switch the storage to the staged snapshot `snap` and compact the log (driver only)."""
        core = self._core_or_fail()
        self._built, self._building = None, None
        if snap.index <= core.log.snap_index:  # a snapshot from the leader was installed meanwhile
            await asyncio.to_thread(shutil.rmtree, self._store.dirs.staged(snap), True)
            return
        after = [e for e in core.log.entries if e.index > snap.index]
        await asyncio.get_running_loop().run_in_executor(self._executor, self._store.compact, snap, after)
        core.compact(snap)
        log.info(
            "raft %s compacted its log at index %d (snapshot: %d files, %d bytes)",
            self._id,
            snap.index,
            len(snap.files),
            sum(f.size for f in snap.files),
        )
