"""The replicated placement state machine: applies deterministic commands to the cluster map.

Commands and results are typed values (`commands.py`, which also defines their bytes). Every
replica applies the same bytes to the same state and gets the same result: node ids come from a
counter in the state, timestamps are inside the command, the PG table is a pure function of the
previous table and the command. `apply` decodes, `execute`s and encodes the result; a refusal
(`PlacementError`: NodeNotFound, NodeRemoved, AlreadyCreated, InsufficientDomains, BadCommand)
changes nothing and becomes a refusal result, never an exception out of `apply`.

What each command does:
- `Heartbeat`: registers a new node (id `dn-NNNN`; a known address keeps its id; an id the map
  does not know is adopted) or refreshes a known one; marks it healthy; a node the out-timer
  took out comes back in.
- `MarkDown` / `AutoOut`: the leader's timers (health down; then admin out, remembered as
  automatic so the node's next heartbeat brings it back in).
- `NodeCommand`: the operator's drain, out, in or remove.
- `CreateCluster`: builds the PG table once; refused with InsufficientDomains.
- `SlotSynced`: the repair service (holding the lease whose token it names) verified the target
  of a migrating slot; refused with LeaseLost or StaleMigration (target or move epoch changed).
- `AcquireLease` / `ReleaseLease`: the background service's lease (LeaseHeld while another holder's
  lease has not expired at the command's `now_ms`); `SetRepairPaused`: the operator's flag.

Layout history: the PG table holds each slot's *target*. Whenever a command changes a slot's
target, the slot gets a migration (`SlotMigration`): its holders are the old target if the slot was
synced, else the holders it already had plus the old target (which got the shards written in its
time), minus removed nodes, and `since_epoch` is the new epoch.
`SlotSynced` ends it. `remove` of a node that is still a holder of some slot is refused with
NodeHoldsData unless forced; a forced remove drops it from every holder list.

Invariants: the map epoch grows by exactly one for every command that changes the map (nodes, PG
table, migrations), and never otherwise; lease and pause commands change service state outside
the map and keep the epoch. Removed node ids are never reused and their heartbeats are refused.
Each new epoch is logged at INFO with the command that made it, in a few words (`_describe`).

Snapshot (`version` 2; version 1 snapshots, without the last three fields, still restore): one
JSON object, keys sorted: epoch, k, m, pg_count, per_host (absent: 1), next_id, removed ids, node records (id, addr,
zone, rack, host, capacity_bytes, used_bytes, last_heartbeat_ms, health, admin, auto_out), the PG
table, `migrations` ([pg, slot, holders, since_epoch] rows), `lease` (holder, token, expires_ms)
and `repair_paused`.
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, assert_never

from cairn.placement.cluster_map import ClusterMap, NodeAction, NodeInfo, NodeState, SlotMigration
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
    decode,
    encode_result,
)
from cairn.placement.errors import (
    AlreadyCreated,
    BadCommand,
    LeaseHeld,
    LeaseLost,
    NodeHoldsData,
    NodeNotFound,
    NodeRemoved,
    PlacementError,
    StaleMigration,
)
from cairn.placement.pg_assignment import Table, create_table, rebalance

log = logging.getLogger(__name__)

SNAPSHOT_VERSION = 2


class Health(enum.StrEnum):
    """What heartbeats say about a node."""

    UP = "up"
    DOWN = "down"


class AdminState(enum.StrEnum):
    """What the operator (or the out-timer) decided about a node."""

    IN = "in"
    OUT = "out"
    DRAINING = "draining"


@dataclass(slots=True)
class NodeRecord:
    """A node as the state machine keeps it: health (heartbeats) and admin state (operator) apart."""

    id: str
    addr: str
    zone: str
    rack: str
    host: str
    capacity_bytes: int
    used_bytes: int
    last_heartbeat_ms: int
    health: Health = Health.UP
    admin: AdminState = AdminState.IN
    auto_out: bool = False  # taken out by the out-timer (comes back in on its own)
    drain_keeps_slots: bool = False  # drained by a version-1 command, which kept the slots

    @property
    def state(self) -> NodeState:
        if self.admin is AdminState.OUT:
            return NodeState.OUT
        if self.health is Health.DOWN:
            return NodeState.DOWN
        return NodeState.DRAINING if self.admin is AdminState.DRAINING else NodeState.UP

    def info(self) -> NodeInfo:
        return NodeInfo(
            self.id,
            self.addr,
            self.zone,
            self.rack,
            self.host,
            self.state,
            self.capacity_bytes,
            self.used_bytes,
            self.last_heartbeat_ms,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "addr": self.addr,
            "zone": self.zone,
            "rack": self.rack,
            "host": self.host,
            "capacity_bytes": self.capacity_bytes,
            "used_bytes": self.used_bytes,
            "last_heartbeat_ms": self.last_heartbeat_ms,
            "health": self.health.value,
            "admin": self.admin.value,
            "auto_out": self.auto_out,
            **({"drain_keeps_slots": True} if self.drain_keeps_slots else {}),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> NodeRecord:
        return cls(
            str(doc["id"]),
            str(doc["addr"]),
            str(doc["zone"]),
            str(doc["rack"]),
            str(doc["host"]),
            int(doc["capacity_bytes"]),
            int(doc["used_bytes"]),
            int(doc["last_heartbeat_ms"]),
            Health(doc["health"]),
            AdminState(doc["admin"]),
            bool(doc["auto_out"]),
            bool(doc.get("drain_keeps_slots", False)),
        )


@dataclass(frozen=True, slots=True)
class Lease:
    """The background service's lease: `token` grows with every new grant (fencing)."""

    holder: str = ""
    token: int = 0
    expires_ms: int = 0

    def valid_at(self, now_ms: int) -> bool:
        return bool(self.holder) and now_ms < self.expires_ms


#: The admin state each operator action (other than remove) sets.
_ADMIN_OF = {
    NodeAction.DRAIN: AdminState.DRAINING,
    NodeAction.OUT: AdminState.OUT,
    NodeAction.IN: AdminState.IN,
}


class PlacementStateMachine:
    """Implements cairn.replication.StateMachine over the cluster map."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[int], None]] = []
        self._reset()

    def _reset(self) -> None:
        self.epoch = 0
        self.k = 0
        self.m = 0
        self.pg_count = 0
        self.per_host = 1  # at most this many shards of a PG on one host
        self.nodes: dict[str, NodeRecord] = {}
        self.pgs: Table = ()
        self.next_id = 1
        self.removed: set[str] = set()
        self.migrations: dict[int, dict[int, SlotMigration]] = {}
        self.lease = Lease()
        self.repair_paused = False
        self._map: ClusterMap | None = None

    def on_change(self, listener: Callable[[int], None]) -> None:
        """Call `listener(epoch)` after every change (apply or restore)."""
        self._listeners.append(listener)

    @property
    def created(self) -> bool:
        return bool(self.pgs)

    def cluster_map(self) -> ClusterMap:
        """The current map (an immutable value, cached per epoch)."""
        if self._map is None or self._map.epoch != self.epoch:
            self._map = ClusterMap(
                self.epoch,
                self.k,
                self.m,
                self.pg_count,
                {i: n.info() for i, n in sorted(self.nodes.items())},
                self.pgs,
                {pg: dict(slots) for pg, slots in self.migrations.items()},
            )
        return self._map

    # -- StateMachine ---------------------------------------------------------------------------

    def apply(self, index: int, command: bytes) -> bytes:
        try:
            result: Applied | PlacementError = self.execute(decode(command))
        except PlacementError as refusal:
            result = refusal
        except (ValueError, KeyError, TypeError) as exc:  # a command the code cannot act on
            result = BadCommand(f"malformed command: {exc}")
        return encode_result(result)

    def execute(self, command: Command) -> Applied:
        """Apply one command; raises its refusal (a PlacementError) and then changes nothing."""
        node_id = None
        before = self.pgs
        match command:
            case Heartbeat():
                node_id = self._heartbeat(command)
                changed = True
            case MarkDown():
                changed = self._mark_down(command)
            case AutoOut():
                changed = self._auto_out(command)
            case NodeCommand():
                changed = self._node_command(command)
            case CreateCluster():
                changed = self._create(command)
            case SlotSynced():
                changed = self._slot_synced(command)
            case AcquireLease():
                lease = self._acquire(command)
                return Applied(self.epoch, token=lease.token, expires_ms=lease.expires_ms)
            case ReleaseLease():
                self._release(command)
                return Applied(self.epoch)
            case SetRepairPaused():
                self.repair_paused = command.paused
                return Applied(self.epoch)
        if changed:
            if before and self.pgs != before:
                self._track_moves(before, self.epoch + 1)
            self.epoch += 1
            log.info("cluster map epoch %d: %s", self.epoch, _describe(command, node_id))
            for listener in self._listeners:
                listener(self.epoch)
        return Applied(self.epoch, node_id)

    def snapshot(self) -> bytes:
        doc = {
            "version": SNAPSHOT_VERSION,
            "epoch": self.epoch,
            "k": self.k,
            "m": self.m,
            "pg_count": self.pg_count,
            "per_host": self.per_host,
            "next_id": self.next_id,
            "removed": sorted(self.removed),
            "nodes": [n.to_json() for _, n in sorted(self.nodes.items())],
            "pgs": [list(r) for r in self.pgs],
            "migrations": [
                [pg, slot, list(mig.holders), mig.since_epoch]
                for pg, slots in sorted(self.migrations.items())
                for slot, mig in sorted(slots.items())
            ],
            "lease": {
                "holder": self.lease.holder,
                "token": self.lease.token,
                "expires_ms": self.lease.expires_ms,
            },
            "repair_paused": self.repair_paused,
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    def restore(self, data: bytes) -> None:
        snap = json.loads(data)
        if snap.get("version") not in (1, SNAPSHOT_VERSION):
            raise ValueError(f"unsupported placement snapshot version {snap.get('version')!r}")
        self._reset()
        self.epoch, self.k, self.m = int(snap["epoch"]), int(snap["k"]), int(snap["m"])
        self.pg_count, self.next_id = int(snap["pg_count"]), int(snap["next_id"])
        self.per_host = int(snap.get("per_host", 1))
        self.removed = set(snap["removed"])
        self.nodes = {n["id"]: NodeRecord.from_json(n) for n in snap["nodes"]}
        if snap["version"] == 1:  # drained by version-1 commands, which kept the slots
            for node in self.nodes.values():
                node.drain_keeps_slots = node.admin is AdminState.DRAINING
        self.pgs = tuple(tuple(r) for r in snap["pgs"])
        for pg, slot, holders, since in snap.get("migrations", []):
            self.migrations.setdefault(int(pg), {})[int(slot)] = SlotMigration(tuple(holders), int(since))
        lease = snap.get("lease", {})
        self.lease = Lease(
            str(lease.get("holder", "")), int(lease.get("token", 0)), int(lease.get("expires_ms", 0))
        )
        self.repair_paused = bool(snap.get("repair_paused", False))
        log.info("cluster map restored from a snapshot at epoch %d", self.epoch)
        for listener in self._listeners:
            listener(self.epoch)

    # -- commands (each returns whether the map changed) ---------------------------------------

    def _node(self, node_id: str) -> NodeRecord:
        node = self.nodes.get(node_id)
        if node is None:
            if node_id in self.removed:
                raise NodeRemoved(f"node {node_id!r} is removed")
            raise NodeNotFound(f"node {node_id!r} is unknown")
        return node

    def _rebalance(self, joined: tuple[str, ...] = ()) -> None:
        if self.created:
            infos = {i: n.info() for i, n in self.nodes.items()}
            pinned = frozenset(
                i for i, n in self.nodes.items() if n.drain_keeps_slots and n.admin is AdminState.DRAINING
            )
            self.pgs = rebalance(self.pgs, self.k, self.m, infos, joined, pinned, self.per_host)

    def _heartbeat(self, cmd: Heartbeat) -> str:
        """Register or refresh the reporting node; returns its id."""
        report = cmd.report
        node_id = report.node_id
        if node_id in self.removed:
            raise NodeRemoved(f"node {node_id} was removed from the cluster")
        if node_id is None:
            node_id = next((n.id for n in self.nodes.values() if n.addr == report.addr), None)
        node = self.nodes.get(node_id) if node_id else None
        if node_id is None:
            node_id = f"dn-{self.next_id:04d}"
        if node is None:
            self.next_id = max(self.next_id, _id_number(node_id)) + 1
            self.nodes[node_id] = NodeRecord(
                node_id,
                report.addr,
                report.zone,
                report.rack,
                report.host,
                report.capacity_bytes,
                report.used_bytes,
                cmd.now_ms,
            )
            self._rebalance((node_id,))
            return node_id
        rejoined = node.admin is AdminState.OUT and node.auto_out
        eligible_before = node.state is NodeState.UP
        node.addr, node.zone, node.rack, node.host = report.addr, report.zone, report.rack, report.host
        node.capacity_bytes, node.used_bytes = report.capacity_bytes, report.used_bytes
        node.last_heartbeat_ms = cmd.now_ms
        node.health = Health.UP
        if rejoined:
            node.admin, node.auto_out = AdminState.IN, False
        if node.state is NodeState.UP and not eligible_before:
            self._rebalance((node_id,) if rejoined else ())
        return node_id

    def _mark_down(self, cmd: MarkDown) -> bool:
        node = self._node(cmd.node_id)
        if node.health is Health.DOWN:
            return False
        node.health = Health.DOWN
        return True

    def _auto_out(self, cmd: AutoOut) -> bool:
        node = self._node(cmd.node_id)
        if node.health is not Health.DOWN or node.admin is AdminState.OUT:
            return False
        node.admin, node.auto_out = AdminState.OUT, True
        self._rebalance()
        return True

    def _node_command(self, cmd: NodeCommand) -> bool:
        node = self._node(cmd.node_id)
        if cmd.action is NodeAction.REMOVE:
            held = self.slots_held(node.id)
            if held and not cmd.force:
                raise NodeHoldsData(
                    f"node {node.id} still holds the data of {held} PG slot(s); drain it and wait for "
                    "repair to move them, or remove it with force (the slots are then rebuilt from parity)"
                )
            del self.nodes[node.id]
            self.removed.add(node.id)
            for slots in self.migrations.values():
                for slot, mig in slots.items():
                    if node.id in mig.holders:
                        slots[slot] = SlotMigration(
                            tuple(h for h in mig.holders if h != node.id), mig.since_epoch
                        )
            self._rebalance()
            return True
        target = _ADMIN_OF[cmd.action]
        if node.admin is target and not node.auto_out:
            return False
        node.admin, node.auto_out = target, False
        node.drain_keeps_slots = cmd.legacy and target is AdminState.DRAINING
        self._rebalance((node.id,) if target is AdminState.IN else ())
        return True

    def slots_held(self, node_id: str) -> int:
        """How many PG slots name `node_id` as a verified holder of their data."""
        return self.cluster_map().slots_held(node_id)

    def _track_moves(self, before: Table, epoch: int) -> None:
        """Start (or restart) the migration of every slot whose target changed."""
        for pg, (old, new) in enumerate(zip(before, self.pgs, strict=True)):
            for slot, (was, now) in enumerate(zip(old, new, strict=True)):
                if was == now:
                    continue
                moving = self.migrations.setdefault(pg, {})
                mig = moving.get(slot)
                holders = mig.holders if mig is not None else ()
                if was and was not in holders:  # it holds the shards written while it was the target
                    holders += (was,)
                moving[slot] = SlotMigration(tuple(h for h in holders if h in self.nodes), epoch)

    def _slot_synced(self, cmd: SlotSynced) -> bool:
        if not self.lease.valid_at(cmd.now_ms) or cmd.token != self.lease.token:
            raise LeaseLost(f"lease token {cmd.token} is not the current one (or the lease expired)")
        if not 0 <= cmd.pg < len(self.pgs) or not 0 <= cmd.slot < len(self.pgs[cmd.pg]):
            raise StaleMigration(f"no slot {cmd.pg}/{cmd.slot} in the map")
        mig = self.migrations.get(cmd.pg, {}).get(cmd.slot)
        target = self.pgs[cmd.pg][cmd.slot]
        if mig is None:
            raise StaleMigration(f"slot {cmd.pg}/{cmd.slot} has no pending migration")
        if (target, mig.since_epoch) != (cmd.node_id, cmd.since_epoch):
            raise StaleMigration(
                f"slot {cmd.pg}/{cmd.slot} now moves to {target or 'no node'} since epoch {mig.since_epoch}, "
                f"not to {cmd.node_id} since epoch {cmd.since_epoch}"
            )
        del self.migrations[cmd.pg][cmd.slot]
        if not self.migrations[cmd.pg]:
            del self.migrations[cmd.pg]
        return True

    def _acquire(self, cmd: AcquireLease) -> Lease:
        current = self.lease
        if current.valid_at(cmd.now_ms) and current.holder != cmd.holder:
            raise LeaseHeld(f"the lease is held by {current.holder} until {current.expires_ms} ms")
        renew = current.valid_at(cmd.now_ms) and current.holder == cmd.holder
        token = current.token if renew else current.token + 1
        self.lease = Lease(cmd.holder, token, cmd.now_ms + max(cmd.ttl_ms, 0))
        return self.lease

    def _release(self, cmd: ReleaseLease) -> None:
        if (self.lease.holder, self.lease.token) != (cmd.holder, cmd.token):
            raise LeaseLost(f"{cmd.holder} with token {cmd.token} does not hold the lease")
        self.lease = Lease("", self.lease.token, 0)

    def _create(self, cmd: CreateCluster) -> bool:
        if self.created:
            raise AlreadyCreated(f"the cluster map already exists ({self.pg_count} PGs)")
        if cmd.k < 1 or cmd.m < 0 or cmd.pg_count < 1 or cmd.per_host < 1:
            raise BadCommand(
                f"invalid layout k={cmd.k} m={cmd.m} pg_count={cmd.pg_count} per_host={cmd.per_host}"
            )
        infos = {i: n.info() for i, n in self.nodes.items()}
        # may raise InsufficientDomains
        self.pgs = create_table(cmd.pg_count, cmd.k, cmd.m, infos, cmd.per_host)
        self.k, self.m, self.pg_count, self.per_host = cmd.k, cmd.m, cmd.pg_count, cmd.per_host
        return True


def _describe(command: Command, node_id: str | None) -> str:
    """A command that changed the map, in a few words, for the epoch log line."""
    match command:
        case Heartbeat():
            return f"heartbeat of {node_id} ({command.report.addr}) updated the map"
        case MarkDown():
            return f"node {command.node_id}: down (missed heartbeats)"
        case AutoOut():
            return f"node {command.node_id}: out (down too long; back in on its next heartbeat)"
        case NodeCommand():
            return f"node {command.node_id}: {command.action.value}" + (" (forced)" if command.force else "")
        case CreateCluster():
            return f"created {command.pg_count} placement groups, k={command.k} m={command.m}" + (
                f", at most {command.per_host} shards per host" if command.per_host != 1 else ""
            )
        case SlotSynced():
            return f"slot {command.pg}/{command.slot} synced on {command.node_id}"
        case AcquireLease() | ReleaseLease() | SetRepairPaused():
            return "lease or repair flag (the map is unchanged)"
        case _:
            assert_never(command)


def _id_number(node_id: str) -> int:
    """The counter value of an id of the form dn-NNNN (0 for other forms)."""
    _, _, digits = node_id.rpartition("-")
    return int(digits) if digits.isdigit() else 0
