"""The placement service's logic between the RPC layer and the replicated state machine.

It turns heartbeats, operator commands and timer expiries into deterministic commands, proposes
them through the Replicator (Raft), and answers reads from the local replica's map.

Heartbeat rule (to avoid one Raft write per heartbeat): the leader keeps each node's last
heartbeat time in memory only. It proposes a `Heartbeat` command when the node is new, was `down`
(or auto-`out`), changed address, labels or capacity, or when its usage moved by at least
`usage_report_min_change` of capacity and its last usage update is `usage_report_interval_s` old.
Heartbeats to a follower are refused with NotLeader (the client follows the leader).

Timer rule: every `tick_interval_s` the leader marks `down` each up/draining node whose last
heartbeat is older than `down_after_s`, and takes `out` each down node whose last heartbeat is older
than `out_after_s`. Heartbeat times are leader memory, so a new leader starts every node's clock at
the moment it became leader (a failover can delay, never hasten, a down or out decision).

Creation rule: while the map has no PG table and `auto_create` is on, the leader proposes
`CreateCluster` (with its configured k, m, pg_count and shards per host) as soon as the up nodes
span `auto_create_hosts` (default k+m) distinct hosts; an operator can also ask for it (the CreateCluster RPC), which is refused with
InsufficientDomains before then.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from cairn.placement.cluster_map import (
    BlobPlacement,
    ClusterMap,
    HeartbeatReply,
    LeaseGrant,
    NodeAction,
    NodeReport,
    NodeState,
    RepairWork,
    ReplicaState,
    is_full,
    repair_work,
)
from cairn.placement.commands import (
    AcquireLease,
    Applied,
    AutoOut,
    Command,
    CreateCluster,
    Heartbeat,
    MarkDown,
    NodeCommand,
    ReleaseLease,
    SetRepairPaused,
    SlotSynced,
    decode_result,
    encode,
)
from cairn.placement.config import PlacementConfig
from cairn.placement.errors import BadRequest, NodeRemoved, PlacementError
from cairn.placement.pg_assignment import count_domains
from cairn.placement.state_machine import AdminState, Health, NodeRecord, PlacementStateMachine
from cairn.replication import NoQuorum, NotLeader, ReplicaStatus, ReplicationError, Replicator

log = logging.getLogger(__name__)


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def wall_ms(self) -> int: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wall_ms(self) -> int:
        return int(time.time() * 1000)


@dataclass(slots=True)
class _Seen:
    at: float  # monotonic time of the last heartbeat
    wall_ms: int
    usage_reported_at: float  # monotonic time of the last usage update proposed


class PlacementService:
    """One replica's placement logic; `run()` drives the leader's timers until cancelled."""

    def __init__(
        self,
        config: PlacementConfig,
        machine: PlacementStateMachine,
        replicator: Replicator,
        peers: Mapping[str, str],
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.machine = machine
        self.replicator = replicator
        self.peers = dict(peers)
        self.clock: Clock = clock or SystemClock()
        self._seen: dict[str, _Seen] = {}
        self._leading = False
        self._changed = asyncio.Event()
        machine.on_change(self._notify)

    # -- reads ----------------------------------------------------------------------------------

    def cluster_map(self) -> ClusterMap:
        """The local replica's map (maybe stale on a follower), with the freshest heartbeat times known."""
        current = self.machine.cluster_map()
        if not self._seen:
            return current
        nodes = dict(current.nodes)
        for node_id, seen in self._seen.items():
            node = nodes.get(node_id)
            if node is not None and seen.wall_ms > node.last_heartbeat_ms:
                nodes[node_id] = dataclasses.replace(node, last_heartbeat_ms=seen.wall_ms)
        return dataclasses.replace(current, nodes=nodes)

    async def wait_for_epoch(self, min_epoch: int, wait_s: float) -> ClusterMap:
        """The map once its epoch reaches `min_epoch`, or the current one after `wait_s` seconds."""
        deadline = asyncio.get_running_loop().time() + max(0.0, wait_s)
        while self.machine.epoch < min_epoch:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            event = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)
        return self.cluster_map()

    def placement_of(self, blob_id: bytes) -> BlobPlacement:
        """A blob's PG and its nodes in the local map (MapNotCreated before the map exists)."""
        cmap = self.cluster_map()
        pg = cmap.pg_of(blob_id)
        return BlobPlacement(cmap.epoch, pg, cmap.nodes_of(pg))

    def leader_addr(self, status: ReplicaStatus | None = None) -> str | None:
        status = status or self.replicator.status()
        return self.peers.get(status.leader_id) if status.leader_id else None

    def replica_state(self) -> ReplicaState:
        """This replica's Raft status, map epoch and configured layout (what GetStatus answers)."""
        status = self.replicator.status()
        return ReplicaState(
            addr=self.peers.get(status.id, ""),
            reachable=True,
            id=status.id,
            role=status.role,
            term=status.term,
            leader_id=status.leader_id or "",
            leader_addr=self.leader_addr(status) or "",
            commit_index=status.commit_index,
            applied_index=status.applied_index,
            epoch=self.machine.epoch,
            map_created=self.machine.created,
            config_k=self.config.k,
            config_m=self.config.m,
            config_pg_count=self.config.pg_count,
            peers=status.peers,
        )

    # -- writes ---------------------------------------------------------------------------------

    async def heartbeat(self, report: NodeReport) -> HeartbeatReply:
        """Record a data node's heartbeat; proposes a change only under the heartbeat rule."""
        self._require_leader()
        now = self.clock.monotonic()
        wall = self.clock.wall_ms()
        if report.node_id in self.machine.removed:  # refused without a Raft write
            raise NodeRemoved(f"node {report.node_id} was removed from the cluster")
        node = self.machine.nodes.get(report.node_id) if report.node_id else None
        seen = self._seen.get(report.node_id) if report.node_id else None
        if node is None or self._needs_update(node, report, seen, now):
            result = await self._propose(Heartbeat(report, wall))
            if result.node_id is None:
                raise PlacementError("the heartbeat's result names no node")
            self._seen[result.node_id] = _Seen(now, wall, now)
            await self._maybe_create()
            return HeartbeatReply(result.node_id, result.epoch)
        if seen is None:
            self._seen[node.id] = _Seen(now, wall, now)
        else:
            seen.at, seen.wall_ms = now, wall
        return HeartbeatReply(node.id, self.machine.epoch)

    def _needs_update(self, node: NodeRecord, report: NodeReport, seen: _Seen | None, now: float) -> bool:
        if node.health is Health.DOWN or (node.admin is AdminState.OUT and node.auto_out):
            return True
        if (node.addr, node.zone, node.rack, node.host, node.capacity_bytes) != (
            report.addr,
            report.zone,
            report.rack,
            report.host,
            report.capacity_bytes,
        ):
            return True
        if is_full(report.capacity_bytes, report.used_bytes) != is_full(node.capacity_bytes, node.used_bytes):
            return True  # a disk that filled up (or has room again) changes where new slots may go
        if seen is not None and now - seen.usage_reported_at < self.config.usage_report_interval_s:
            return False
        moved = abs(report.used_bytes - node.used_bytes)
        return moved >= self.config.usage_report_min_change * max(report.capacity_bytes, 1)

    def repair_work(self, limit: int = 0) -> RepairWork:
        """PGs needing repair (fewest healthy slots first), the pause flag and the lease, as this
        replica knows them."""
        machine = self.machine
        lease = machine.lease
        return RepairWork(
            machine.epoch,
            machine.repair_paused,
            LeaseGrant(lease.holder, lease.token, lease.expires_ms),
            repair_work(machine.cluster_map(), limit),
        )

    async def node_command(self, node_id: str, action: NodeAction, force: bool = False) -> int:
        """Apply an operator command (drain, out, in, remove); returns the new epoch. A remove of a
        node still holding data is refused (NodeHoldsData) unless `force`."""
        result = await self._propose(NodeCommand(node_id, action, self.clock.wall_ms(), force))
        return result.epoch

    async def acquire_lease(self, holder: str, ttl_s: float) -> LeaseGrant:
        """Take or renew the background-service lease (LeaseHeld while another holder's is valid)."""
        if not holder or ttl_s <= 0:
            raise BadRequest("a lease needs a holder id and a positive ttl")
        result = await self._propose(AcquireLease(holder, int(ttl_s * 1000), self.clock.wall_ms()))
        if result.token is None or result.expires_ms is None:
            raise PlacementError("the lease result carries no token")
        return LeaseGrant(holder, result.token, result.expires_ms)

    async def release_lease(self, holder: str, token: int) -> None:
        """Give the lease up (LeaseLost if `holder`/`token` is not the current lease)."""
        await self._propose(ReleaseLease(holder, token, self.clock.wall_ms()))

    async def slot_synced(self, pg: int, slot: int, node_id: str, since_epoch: int, token: int) -> int:
        """End a slot's migration (LeaseLost, StaleMigration); returns the new epoch."""
        result = await self._propose(SlotSynced(pg, slot, node_id, since_epoch, token, self.clock.wall_ms()))
        return result.epoch

    async def set_repair_paused(self, paused: bool) -> None:
        await self._propose(SetRepairPaused(paused, self.clock.wall_ms()))

    async def create_cluster(self) -> int:
        """Create the PG table now (refused with InsufficientDomains or AlreadyCreated)."""
        config = self.config
        command = CreateCluster(
            config.k, config.m, config.pg_count, self.clock.wall_ms(), config.shards_per_host
        )
        result = await self._propose(command)
        return result.epoch

    # -- leader duties --------------------------------------------------------------------------

    async def run(self) -> None:
        """Check leadership and timers every tick, forever (cancel to stop)."""
        while True:
            try:
                await self.tick()
            except (ReplicationError, PlacementError, TimeoutError) as exc:
                log.info("placement tick: %s", exc)
            except Exception:  # noqa: BLE001 - the timer loop must survive a failed proposal
                log.exception("placement tick failed")
            await asyncio.sleep(self.config.tick_interval_s)

    async def tick(self) -> None:
        """One pass of the leader's duties: down/out timers and automatic cluster creation."""
        status = self.replicator.status()
        if status.role != "leader":
            self._leading = False
            self._seen = {}  # heartbeat times are the leader's business; a new term starts afresh
            return
        now = self.clock.monotonic()
        if not self._leading:
            await self.replicator.read_barrier(self.config.propose_timeout_s)
            self._leading = True
            self._seen = {i: _Seen(now, n.last_heartbeat_ms, now) for i, n in self.machine.nodes.items()}
        for node_id, node in sorted(self.machine.nodes.items()):
            seen = self._seen.setdefault(node_id, _Seen(now, node.last_heartbeat_ms, now))
            silent = now - seen.at
            if (
                node.health is Health.UP
                and node.admin is not AdminState.OUT
                and silent > self.config.down_after_s
            ):
                log.warning("node %s silent for %.1fs: marking it down", node_id, silent)
                await self._propose(MarkDown(node_id, self.clock.wall_ms()))
            elif (
                node.health is Health.DOWN
                and node.state is not NodeState.OUT
                and silent > self.config.out_after_s
            ):
                log.warning("node %s silent for %.1fs: taking it out", node_id, silent)
                await self._propose(AutoOut(node_id, self.clock.wall_ms()))
        await self._maybe_create()

    async def _maybe_create(self) -> None:
        if self.machine.created or not self.config.auto_create:
            return
        infos = self.machine.cluster_map().nodes
        if count_domains(infos) >= (self.config.auto_create_hosts or self.config.k + self.config.m):
            with contextlib.suppress(PlacementError):
                await self.create_cluster()

    # -- plumbing -------------------------------------------------------------------------------

    def _require_leader(self) -> None:
        status = self.replicator.status()
        if status.role != "leader":
            raise NotLeader(status.leader_id, self.leader_addr(status))

    async def _propose(self, command: Command) -> Applied:
        """Commit `command` and return its result; raises its refusal, NotLeader or NoQuorum."""
        try:
            data = await self.replicator.propose(encode(command), self.config.propose_timeout_s)
        except NotLeader as exc:
            if exc.leader_addr is None and exc.leader_id:  # name the leader's address for clients
                raise NotLeader(exc.leader_id, self.peers.get(exc.leader_id)) from None
            raise
        except TimeoutError as exc:
            raise NoQuorum(f"placement change not committed in time: {exc}") from None
        return decode_result(data)

    def _notify(self, epoch: int) -> None:
        # Called where the state machine applies (the event loop thread). Wakes every long-poll
        # waiting for a newer epoch; waiters re-check the epoch and wait on the fresh event.
        event, self._changed = self._changed, asyncio.Event()
        event.set()
