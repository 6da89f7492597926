"""Errors of the data node, shared by the store (raised) and the typed client (re-raised).

Plain Python classes: nothing here knows about gRPC. The RPC edge (`client.ERRORS`, a
`cairn.rpc.ErrorTable`) gives each a status code and sends the class name as the reason, so a
client re-raises exactly the class the store raised, never classifying by message text.
"""

from __future__ import annotations


class DataNodeError(Exception):
    """Base of every data node error; also what an unexpected server failure becomes."""


class ShardNotFound(DataNodeError):
    """No shard is stored under the key."""


class ShardCorrupt(DataNodeError):
    """A checksum failed on disk or on the wire."""


class PieceChecksumMismatch(ShardCorrupt):
    """A piece of a write arrived with a wrong crc32c; the write stored nothing."""


class ShardConflict(DataNodeError):
    """The key exists with different bytes."""


class ShardDeleted(ShardConflict):
    """The key was deleted on this node; it is never written again (no resurrection)."""


class BadShardRequest(DataNodeError):
    """A malformed request: a missing header, a wrong length, a range past the end."""


class LengthMismatch(BadShardRequest):
    """The bytes that arrived are not as many as the header or trailer said."""


class InvalidRange(BadShardRequest):
    """A read's offset lies past the shard's end."""


class NodeFull(DataNodeError):
    """The write would take the node past its configured capacity."""


class DataNodeUnavailable(DataNodeError):
    """Connection failed, deadline exceeded, or the node is stopping."""


class StreamBroken(DataNodeUnavailable):
    """A write stream ended before its trailer (the writer went away); nothing was stored."""


class VolumeNotCompactable(BadShardRequest):
    """Compaction was asked for a volume that is not a sealed volume of this node."""


class CompactionBusy(DataNodeError):
    """A compaction pass is already running (one at a time); this one was not started."""


class UpkeepUnavailable(DataNodeError):
    """This node runs no compaction or scrub (a store without volume files)."""
