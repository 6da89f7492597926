"""The placement state machine's commands and results: typed values with one byte encoding each.

The leader builds a command *before* proposing it, with every input inside (the wall-clock time
`now_ms`, the node's labels and usage), so every replica applying the same bytes gets the same
map. A command is encoded as one JSON object, keys sorted, no spaces:

    {"op": <name>, "v": 1, <fields>}

- `heartbeat`: node_id (null on a node's first heartbeat), addr, zone, rack, host, capacity,
  used (the node's `NodeReport`), now_ms (`Heartbeat`);
- `mark_down` / `auto_out`: node_id, now_ms (`MarkDown`, `AutoOut`: the leader's timers);
- `node`: node_id, action (drain | out | in | remove), force (remove only; absent = false),
  now_ms (`NodeCommand`);
- `create`: k, m, pg_count, per_host (absent: 1, one shard per host), now_ms (`CreateCluster`);
- `slot_synced`: pg, slot, node_id, since_epoch, token, now_ms (`SlotSynced`);
- `lease`: holder, ttl_ms, now_ms (`AcquireLease`); `release`: holder, token, now_ms
  (`ReleaseLease`);
- `repair_paused`: paused, now_ms (`SetRepairPaused`).

`v` is the format version (2). Entries written before it existed carry no `v` and are version 1
(the same shape), so a Raft log written by earlier code still applies, with its meaning: a version-1
`node` command is `legacy` (a drain keeps the node's slots, a remove needs no force). Any other
version, an unknown `op` or a missing field is refused with `BadCommand` and changes nothing.

A result is `{"ok": true, "epoch": E[, "node_id": ID][, "token": T, "expires_ms": X]}` (`Applied`) or
`{"ok": false, "error": <reason>, "message": <text>}` for a refusal, which `decode_result`
raises again as its `PlacementError` class. Results go only to the proposer on the same replica
and are never persisted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cairn.placement.cluster_map import NodeAction, NodeReport
from cairn.placement.errors import (
    AlreadyCreated,
    BadCommand,
    InsufficientDomains,
    LeaseHeld,
    LeaseLost,
    NodeHoldsData,
    NodeNotFound,
    NodeRemoved,
    PlacementError,
    StaleMigration,
)

VERSION = 2


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Register the reporting node (no id, or an id the map does not know) or refresh a known one."""

    report: NodeReport
    now_ms: int


@dataclass(frozen=True, slots=True)
class MarkDown:
    """The leader's down-timer fired: the node missed its heartbeats."""

    node_id: str
    now_ms: int


@dataclass(frozen=True, slots=True)
class AutoOut:
    """The leader's out-timer fired: a down node gives up its slots."""

    node_id: str
    now_ms: int


@dataclass(frozen=True, slots=True)
class NodeCommand:
    """An operator's drain, out, in or remove (`force`: remove even a node that still holds data)."""

    node_id: str
    action: NodeAction
    now_ms: int
    force: bool = False
    legacy: bool = False  # a version-1 entry: drain keeps the slots, remove is always forced


@dataclass(frozen=True, slots=True)
class CreateCluster:
    """Build the placement-group table (once), at most `per_host` shards of a PG per host."""

    k: int
    m: int
    pg_count: int
    now_ms: int
    per_host: int = 1


@dataclass(frozen=True, slots=True)
class SlotSynced:
    """The repair service verified that `node_id`, the target of (pg, slot) since `since_epoch`,
    holds every shard of the slot: the old holders are dropped. `token` is its lease token."""

    pg: int
    slot: int
    node_id: str
    since_epoch: int
    token: int
    now_ms: int


@dataclass(frozen=True, slots=True)
class AcquireLease:
    """Take (or renew, for the same holder) the background-service lease for `ttl_ms`."""

    holder: str
    ttl_ms: int
    now_ms: int


@dataclass(frozen=True, slots=True)
class ReleaseLease:
    """Give the lease up before it expires (only with its current token)."""

    holder: str
    token: int
    now_ms: int


@dataclass(frozen=True, slots=True)
class SetRepairPaused:
    """The operator pauses or resumes repair (`cairn admin repair pause|resume`)."""

    paused: bool
    now_ms: int


Command = (
    Heartbeat
    | MarkDown
    | AutoOut
    | NodeCommand
    | CreateCluster
    | SlotSynced
    | AcquireLease
    | ReleaseLease
    | SetRepairPaused
)


@dataclass(frozen=True, slots=True)
class Applied:
    """A command was applied (or was a no-op): the map's epoch after it."""

    epoch: int
    node_id: str | None = None  # Heartbeat: the node's id
    token: int | None = None  # AcquireLease: the lease's fencing token
    expires_ms: int | None = None  # AcquireLease: when the lease expires (wall clock, ms)


#: Refusals the state machine returns, by reason.
REFUSALS: dict[str, type[PlacementError]] = {
    cls.__name__: cls
    for cls in (
        NodeNotFound,
        NodeRemoved,
        AlreadyCreated,
        InsufficientDomains,
        BadCommand,
        NodeHoldsData,
        LeaseHeld,
        LeaseLost,
        StaleMigration,
    )
}


def encode(command: Command) -> bytes:
    """The command's bytes in the current format (deterministic: sorted keys, no spaces)."""
    fields: dict[str, Any]
    match command:
        case Heartbeat(report=report):
            fields = {
                "op": "heartbeat",
                "node_id": report.node_id,
                "addr": report.addr,
                "zone": report.zone,
                "rack": report.rack,
                "host": report.host,
                "capacity": report.capacity_bytes,
                "used": report.used_bytes,
            }
        case MarkDown():
            fields = {"op": "mark_down", "node_id": command.node_id}
        case AutoOut():
            fields = {"op": "auto_out", "node_id": command.node_id}
        case NodeCommand():
            fields = {"op": "node", "node_id": command.node_id, "action": command.action.value}
            if command.legacy:
                return _json({**fields, "now_ms": command.now_ms, "v": 1})
            fields["force"] = command.force
        case CreateCluster():
            fields = {"op": "create", "k": command.k, "m": command.m, "pg_count": command.pg_count}
            if command.per_host != 1:
                fields["per_host"] = command.per_host
        case SlotSynced():
            fields = {
                "op": "slot_synced",
                "pg": command.pg,
                "slot": command.slot,
                "node_id": command.node_id,
                "since_epoch": command.since_epoch,
                "token": command.token,
            }
        case AcquireLease():
            fields = {"op": "lease", "holder": command.holder, "ttl_ms": command.ttl_ms}
        case ReleaseLease():
            fields = {"op": "release", "holder": command.holder, "token": command.token}
        case SetRepairPaused():
            fields = {"op": "repair_paused", "paused": command.paused}
    return _json({**fields, "now_ms": command.now_ms, "v": VERSION})


def decode(data: bytes) -> Command:
    """The command encoded in `data`; raises BadCommand for anything else."""
    try:
        doc = json.loads(data)
        if not isinstance(doc, dict):
            raise BadCommand("a placement command is a JSON object")
        version = doc.get("v", 1)
        if version not in (1, VERSION):
            raise BadCommand(f"unsupported placement command version {version!r}")
        return _decode(doc, legacy=version == 1)
    except (ValueError, KeyError, TypeError) as exc:  # includes JSON and UTF-8 errors
        raise BadCommand(f"malformed command: {exc}") from None


def _decode(doc: dict[str, Any], legacy: bool) -> Command:
    match doc.get("op"):
        case "heartbeat":
            node_id = doc.get("node_id")
            report = NodeReport(
                str(node_id) if node_id else None,
                str(doc["addr"]),
                str(doc["zone"]),
                str(doc["rack"]),
                str(doc["host"]),
                int(doc["capacity"]),
                int(doc["used"]),
            )
            return Heartbeat(report, int(doc["now_ms"]))
        case "mark_down":
            return MarkDown(str(doc["node_id"]), int(doc["now_ms"]))
        case "auto_out":
            return AutoOut(str(doc["node_id"]), int(doc["now_ms"]))
        case "node":
            if doc["action"] not in set(NodeAction):
                raise BadCommand(f"unknown node action {doc['action']!r}")
            force = legacy or bool(doc["force"])
            return NodeCommand(
                str(doc["node_id"]), NodeAction(doc["action"]), int(doc["now_ms"]), force, legacy
            )
        case "create":
            return CreateCluster(
                int(doc["k"]),
                int(doc["m"]),
                int(doc["pg_count"]),
                int(doc["now_ms"]),
                int(doc.get("per_host", 1)),
            )
        case "slot_synced":
            return SlotSynced(
                int(doc["pg"]),
                int(doc["slot"]),
                str(doc["node_id"]),
                int(doc["since_epoch"]),
                int(doc["token"]),
                int(doc["now_ms"]),
            )
        case "lease":
            return AcquireLease(str(doc["holder"]), int(doc["ttl_ms"]), int(doc["now_ms"]))
        case "release":
            return ReleaseLease(str(doc["holder"]), int(doc["token"]), int(doc["now_ms"]))
        case "repair_paused":
            return SetRepairPaused(bool(doc["paused"]), int(doc["now_ms"]))
        case op:
            raise BadCommand(f"unknown placement command {op!r}")


def encode_result(result: Applied | PlacementError) -> bytes:
    if isinstance(result, PlacementError):
        return _json({"ok": False, "error": result.reason, "message": str(result)})
    fields: dict[str, Any] = {"ok": True, "epoch": result.epoch}
    if result.node_id is not None:
        fields["node_id"] = result.node_id
    if result.token is not None:
        fields["token"] = result.token
    if result.expires_ms is not None:
        fields["expires_ms"] = result.expires_ms
    return _json(fields)


def decode_result(data: bytes) -> Applied:
    """The result of a command; raises the refusal's PlacementError class for a refused one."""
    doc = json.loads(data)
    if not doc.get("ok"):
        refusal = REFUSALS.get(doc.get("error", ""), PlacementError)
        raise refusal(doc.get("message", "command refused"))
    node_id, token, expires_ms = doc.get("node_id"), doc.get("token"), doc.get("expires_ms")
    return Applied(
        int(doc["epoch"]),
        str(node_id) if node_id is not None else None,
        int(token) if token is not None else None,
        int(expires_ms) if expires_ms is not None else None,
    )


def _json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
