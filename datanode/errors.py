"""Errors of the data node, shared by the store (raised) and the typed client (re-raised).

The servicer maps each class to a gRPC status code plus a reason (cairn/rpc.py); the client
maps them back by reason, never by message text. `REASONS` is that one table.
"""

from __future__ import annotations


class DataNodeError(Exception):
    """Base of every data node error."""

    reason = "Internal"


class ShardNotFound(DataNodeError):
    """No shard is stored under the key."""

    reason = "ShardNotFound"


class ShardCorrupt(DataNodeError):
    """A checksum failed on disk or on the wire."""

    reason = "ShardCorrupt"


class PieceChecksumMismatch(ShardCorrupt):
    """A piece of a write arrived with a wrong crc32c; the write stored nothing."""

    reason = "PieceChecksumMismatch"


class ShardConflict(DataNodeError):
    """The key exists with different bytes."""

    reason = "ShardConflict"


class ShardDeleted(ShardConflict):
    """The key was deleted on this node; it is never written again (no resurrection)."""

    reason = "ShardDeleted"


class BadShardRequest(DataNodeError):
    """A malformed request: a missing header, a wrong length, a range past the end."""

    reason = "BadRequest"


class LengthMismatch(BadShardRequest):
    reason = "LengthMismatch"


class InvalidRange(BadShardRequest):
    reason = "InvalidRange"


class NodeFull(DataNodeError):
    """The write would take the node past its configured capacity."""

    reason = "NodeFull"


class DataNodeUnavailable(DataNodeError):
    """Connection failed, deadline exceeded, or the node is stopping."""

    reason = "NodeStopping"


class StreamBroken(DataNodeUnavailable):
    """A write stream ended before its trailer (the writer went away); nothing was stored."""

    reason = "StreamBroken"


#: reason string -> error class, for the client side of the wire.
REASONS: dict[str, type[DataNodeError]] = {
    cls.reason: cls
    for cls in (
        DataNodeError,
        ShardNotFound,
        ShardCorrupt,
        PieceChecksumMismatch,
        ShardConflict,
        ShardDeleted,
        BadShardRequest,
        LengthMismatch,
        InvalidRange,
        NodeFull,
        DataNodeUnavailable,
        StreamBroken,
    )
}
