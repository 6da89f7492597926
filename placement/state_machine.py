"""The replicated placement state machine: applies deterministic commands to the cluster map.

Commands are JSON objects (UTF-8 bytes) built by the leader *before* proposing, so every replica
applies the same bytes to the same state and gets the same result: node ids come from a counter in
the state, timestamps (`now_ms`) are inside the command, the PG table is a pure function of the
previous table and the command. Results are JSON too: `{"ok": true, "epoch": E, ...}` or
`{"ok": false, "error": "<Reason>", "message": "..."}` (domain errors never raise).

Commands (`op`):
- `heartbeat` {node_id|null, addr, zone, rack, host, capacity, used, now_ms}: registers a new node
  (id `dn-NNNN`; a known address keeps its id) or refreshes a known one; marks it healthy; a node
  the out-timer took out comes back in.
- `mark_down` {node_id, now_ms} / `auto_out` {node_id, now_ms}: the leader's timers.
- `node` {node_id, action: drain|out|in|remove, now_ms}: operator commands.
- `create` {k, m, pg_count, now_ms}: builds the PG table once; refused with InsufficientDomains.

Invariants: the epoch grows by exactly one for every command that changes anything, and never
otherwise; removed node ids are never reused and their heartbeats are refused.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from cairn.placement.cluster_map import DOWN, DRAINING, OUT, UP, ClusterMap, NodeInfo
from cairn.placement.pg_assignment import InsufficientDomains, Table, create_table, rebalance

log = logging.getLogger(__name__)

SNAPSHOT_VERSION = 1
NODE_ACTIONS = ("drain", "out", "in", "remove")


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
    health: str = UP  # "up" | "down"
    admin: str = "in"  # "in" | "out" | "draining"
    auto_out: bool = False  # taken out by the out-timer (comes back in on its own)

    @property
    def state(self) -> str:
        if self.admin == "out":
            return OUT
        if self.health == DOWN:
            return DOWN
        return DRAINING if self.admin == "draining" else UP

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


class CommandFailed(Exception):
    """A command was refused by the state machine; `reason` is machine-readable."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def encode(command: dict[str, Any]) -> bytes:
    return json.dumps(command, sort_keys=True, separators=(",", ":")).encode()


def decode_result(data: bytes) -> dict[str, Any]:
    """The result of a command; raises CommandFailed for a refused one."""
    result: dict[str, Any] = json.loads(data)
    if not result.get("ok"):
        raise CommandFailed(result.get("error", "Refused"), result.get("message", "command refused"))
    return result


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
        self.nodes: dict[str, NodeRecord] = {}
        self.pgs: Table = ()
        self.next_id = 1
        self.removed: set[str] = set()
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
            )
        return self._map

    # -- StateMachine ---------------------------------------------------------------------------

    def apply(self, index: int, command: bytes) -> bytes:
        try:
            cmd = json.loads(command)
            handler = getattr(self, "_op_" + str(cmd["op"]), None)
            if handler is None:
                raise CommandFailed("UnknownCommand", f"unknown placement command {cmd['op']!r}")
            changed, result = handler(cmd)
        except CommandFailed as exc:
            return encode({"ok": False, "error": exc.reason, "message": exc.message})
        except (ValueError, KeyError, TypeError) as exc:
            return encode({"ok": False, "error": "BadCommand", "message": f"malformed command: {exc}"})
        if changed:
            self.epoch += 1
            log.info("cluster map epoch %d: %s", self.epoch, _describe(cmd, result))
            for listener in self._listeners:
                listener(self.epoch)
        return encode({"ok": True, "epoch": self.epoch, **result})

    def snapshot(self) -> bytes:
        return encode(
            {
                "version": SNAPSHOT_VERSION,
                "epoch": self.epoch,
                "k": self.k,
                "m": self.m,
                "pg_count": self.pg_count,
                "next_id": self.next_id,
                "removed": sorted(self.removed),
                "nodes": [asdict(n) for _, n in sorted(self.nodes.items())],
                "pgs": [list(r) for r in self.pgs],
            }
        )

    def restore(self, data: bytes) -> None:
        snap = json.loads(data)
        if snap.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unsupported placement snapshot version {snap.get('version')!r}")
        self._reset()
        self.epoch, self.k, self.m = int(snap["epoch"]), int(snap["k"]), int(snap["m"])
        self.pg_count, self.next_id = int(snap["pg_count"]), int(snap["next_id"])
        self.removed = set(snap["removed"])
        self.nodes = {n["id"]: NodeRecord(**n) for n in snap["nodes"]}
        self.pgs = tuple(tuple(r) for r in snap["pgs"])
        log.info("cluster map restored from a snapshot at epoch %d", self.epoch)
        for listener in self._listeners:
            listener(self.epoch)

    # -- commands -------------------------------------------------------------------------------

    def _node(self, node_id: str) -> NodeRecord:
        node = self.nodes.get(node_id)
        if node is None:
            reason = "NodeRemoved" if node_id in self.removed else "NodeNotFound"
            raise CommandFailed(
                reason, f"node {node_id!r} is {'removed' if node_id in self.removed else 'unknown'}"
            )
        return node

    def _rebalance(self, joined: tuple[str, ...] = ()) -> None:
        if self.created:
            infos = {i: n.info() for i, n in self.nodes.items()}
            self.pgs = rebalance(self.pgs, self.k, self.m, infos, joined)

    def _op_heartbeat(self, cmd: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        node_id: str | None = cmd.get("node_id") or None
        if node_id in self.removed:
            raise CommandFailed("NodeRemoved", f"node {node_id} was removed from the cluster")
        fields: dict[str, Any] = {
            "addr": str(cmd["addr"]),
            "zone": str(cmd["zone"]),
            "rack": str(cmd["rack"]),
            "host": str(cmd["host"]),
            "capacity_bytes": int(cmd["capacity"]),
            "used_bytes": int(cmd["used"]),
            "last_heartbeat_ms": int(cmd["now_ms"]),
        }
        if node_id is None:
            node_id = next((n.id for n in self.nodes.values() if n.addr == fields["addr"]), None)
        node = self.nodes.get(node_id) if node_id else None
        if node_id is None:
            node_id = f"dn-{self.next_id:04d}"
        if node is None:
            self.next_id = max(self.next_id, _id_number(node_id)) + 1
            self.nodes[node_id] = NodeRecord(node_id, **fields)
            self._rebalance((node_id,))
            return True, {"node_id": node_id}
        rejoined = node.admin == "out" and node.auto_out
        eligible_before = node.state == UP
        for name, value in fields.items():
            setattr(node, name, value)
        node.health = UP
        if rejoined:
            node.admin, node.auto_out = "in", False
        if node.state == UP and not eligible_before:
            self._rebalance((node_id,) if rejoined else ())
        return True, {"node_id": node_id}

    def _op_mark_down(self, cmd: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        node = self._node(cmd["node_id"])
        if node.health == DOWN:
            return False, {}
        node.health = DOWN
        return True, {}

    def _op_auto_out(self, cmd: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        node = self._node(cmd["node_id"])
        if node.health != DOWN or node.admin == "out":
            return False, {}
        node.admin, node.auto_out = "out", True
        self._rebalance()
        return True, {}

    def _op_node(self, cmd: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        action = cmd["action"]
        if action not in NODE_ACTIONS:
            raise CommandFailed("BadCommand", f"unknown node action {action!r}")
        node = self._node(cmd["node_id"])
        if action == "remove":
            del self.nodes[node.id]
            self.removed.add(node.id)
            self._rebalance()
            return True, {}
        target = {"drain": "draining", "out": "out", "in": "in"}[action]
        if node.admin == target and not node.auto_out:
            return False, {"node": asdict(node.info())}
        joined = target == "in"
        node.admin, node.auto_out = target, False
        self._rebalance((node.id,) if joined else ())
        return True, {"node": asdict(node.info())}

    def _op_create(self, cmd: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        if self.created:
            raise CommandFailed("AlreadyCreated", f"the cluster map already exists ({self.pg_count} PGs)")
        k, m, pg_count = int(cmd["k"]), int(cmd["m"]), int(cmd["pg_count"])
        if k < 1 or m < 0 or pg_count < 1:
            raise CommandFailed("BadCommand", f"invalid layout k={k} m={m} pg_count={pg_count}")
        infos = {i: n.info() for i, n in self.nodes.items()}
        try:
            self.pgs = create_table(pg_count, k, m, infos)
        except InsufficientDomains as exc:
            raise CommandFailed("InsufficientDomains", str(exc)) from None
        self.k, self.m, self.pg_count = k, m, pg_count
        return True, {}


def _describe(cmd: dict[str, Any], result: dict[str, Any]) -> str:
    """A command in a few words, for the epoch log line."""
    op = str(cmd["op"])
    if op == "create":
        return f"created {cmd['pg_count']} placement groups, k={cmd['k']} m={cmd['m']}"
    node = cmd.get("node_id") or result.get("node_id")
    if op == "node":
        return f"node {node}: {cmd['action']}"
    if op == "heartbeat":
        return f"heartbeat of {node} ({cmd['addr']}) updated the map"
    return f"{op} {node}"


def _id_number(node_id: str) -> int:
    """The counter value of an id of the form dn-NNNN (0 for other forms)."""
    _, _, digits = node_id.rpartition("-")
    return int(digits) if digits.isdigit() else 0
