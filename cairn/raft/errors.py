"""Errors of the Raft peer transport: plain classes, mapped to gRPC status codes only at its edge.

`PeerUnavailable` is everything a sender sees when a batch or snapshot did not get through (Raft
re-sends what matters). The receiving replica refuses with one of its subclasses, which
`cairn.raft.client.ERRORS` carries across the wire as the reason: `RaftStopped` (UNAVAILABLE)
while the replica is not running, `WrongReplica` (FAILED_PRECONDITION) for a message addressed to
another replica id (a peers-map mistake), `SnapshotMissing` (INVALID_ARGUMENT) for a snapshot
stream without its header, `SnapshotCorrupt` (DATA_LOSS) when a streamed file fails its size or
crc32c check. `SnapshotGone` never crosses the wire: the sender's own snapshot was replaced.
"""

from __future__ import annotations


class PeerUnavailable(Exception):
    """A batch or snapshot was not delivered to a peer (it may or may not have arrived)."""


class RaftStopped(PeerUnavailable):
    """The receiving replica is not running."""


class WrongReplica(PeerUnavailable):
    """The message is addressed to another replica id than the one that received it."""


class SnapshotMissing(PeerUnavailable):
    """A snapshot stream whose first chunk does not describe the snapshot."""


class SnapshotCorrupt(PeerUnavailable):
    """The streamed snapshot data does not match its declared size or crc32c."""


class SnapshotGone(PeerUnavailable):
    """The sender's snapshot was replaced by a newer one before its transfer began (the leader
    sends the newer one on its next try)."""
