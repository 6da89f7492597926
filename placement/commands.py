"""The placement state machine's commands and results: typed values with one byte encoding each.

The leader builds a command *before* proposing it, with every input inside (the wall-clock time
`now_ms`, the node's labels and usage), so every replica applying the same bytes gets the same
map. A command is encoded as one JSON object, keys sorted, no spaces:

    {"op": <name>, "v": 1, <fields>}

- `heartbeat`: node_id (null on a node's first heartbeat), addr, zone, rack, host, capacity,
  used (the node's `NodeReport`), now_ms (`Heartbeat`);
- `mark_down` / `auto_out`: node_id, now_ms (`MarkDown`, `AutoOut`: the leader's timers);
- `node`: node_id, action (drain | out | in | remove), now_ms (`NodeCommand`);
- `create`: k, m, pg_count, now_ms (`CreateCluster`).

`v` is the format version. Entries written before it existed carry no `v` and are version 1
(the same shape), so a Raft log written by earlier code still applies; any other version, an
unknown `op` or a missing field is refused with `BadCommand` and changes nothing.

A result is `{"ok": true, "epoch": E[, "node_id": ID]}` (`Applied`) or
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
    NodeNotFound,
    NodeRemoved,
    PlacementError,
)

VERSION = 1


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
    """An operator's drain, out, in or remove."""

    node_id: str
    action: NodeAction
    now_ms: int


@dataclass(frozen=True, slots=True)
class CreateCluster:
    """Build the placement-group table (once)."""

    k: int
    m: int
    pg_count: int
    now_ms: int


Command = Heartbeat | MarkDown | AutoOut | NodeCommand | CreateCluster


@dataclass(frozen=True, slots=True)
class Applied:
    """A command was applied (or was a no-op): the map's epoch after it."""

    epoch: int
    node_id: str | None = None  # Heartbeat: the node's id


#: Refusals the state machine returns, by reason.
REFUSALS: dict[str, type[PlacementError]] = {
    cls.__name__: cls for cls in (NodeNotFound, NodeRemoved, AlreadyCreated, InsufficientDomains, BadCommand)
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
        case CreateCluster():
            fields = {"op": "create", "k": command.k, "m": command.m, "pg_count": command.pg_count}
    return _json({**fields, "now_ms": command.now_ms, "v": VERSION})


def decode(data: bytes) -> Command:
    """The command encoded in `data`; raises BadCommand for anything else."""
    try:
        doc = json.loads(data)
        if not isinstance(doc, dict):
            raise BadCommand("a placement command is a JSON object")
        version = doc.get("v", 1)
        if version != VERSION:
            raise BadCommand(f"unsupported placement command version {version!r}")
        return _decode(doc)
    except (ValueError, KeyError, TypeError) as exc:  # includes JSON and UTF-8 errors
        raise BadCommand(f"malformed command: {exc}") from None


def _decode(doc: dict[str, Any]) -> Command:
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
            return NodeCommand(str(doc["node_id"]), NodeAction(doc["action"]), int(doc["now_ms"]))
        case "create":
            return CreateCluster(int(doc["k"]), int(doc["m"]), int(doc["pg_count"]), int(doc["now_ms"]))
        case op:
            raise BadCommand(f"unknown placement command {op!r}")


def encode_result(result: Applied | PlacementError) -> bytes:
    if isinstance(result, PlacementError):
        return _json({"ok": False, "error": result.reason, "message": str(result)})
    fields: dict[str, Any] = {"ok": True, "epoch": result.epoch}
    if result.node_id is not None:
        fields["node_id"] = result.node_id
    return _json(fields)


def decode_result(data: bytes) -> Applied:
    """The result of a command; raises the refusal's PlacementError class for a refused one."""
    doc = json.loads(data)
    if not doc.get("ok"):
        refusal = REFUSALS.get(doc.get("error", ""), PlacementError)
        raise refusal(doc.get("message", "command refused"))
    node_id = doc.get("node_id")
    return Applied(int(doc["epoch"]), str(node_id) if node_id is not None else None)


def _json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
