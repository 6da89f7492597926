"""What the placement service refuses, and what a client sees when it cannot be answered.

Plain exception classes: the state machine and the service raise them, `client.ERRORS` maps them
to gRPC status codes at the RPC edge, and the client raises the same class again. The class name
is the machine-readable reason (`PlacementError.reason`). Raft's `NotLeader` and `NoQuorum`
(`cairn.replication`) cross the same edge.
"""

from __future__ import annotations


class PlacementError(Exception):
    """The placement service refused a request; the class name is the reason."""

    @property
    def reason(self) -> str:
        return type(self).__name__


class NodeNotFound(PlacementError):
    """No node with this id is in the map."""


class NodeRemoved(PlacementError):
    """The node was removed from the cluster; its id is never used again."""


class AlreadyCreated(PlacementError):
    """The placement-group table exists already (it is created once)."""


class InsufficientDomains(PlacementError):
    """Fewer failure domains (distinct hosts among up nodes that are not full) than slots per placement group."""


class NodeHoldsData(PlacementError):
    """The node is still the verified holder of some slot (remove it with force, or wait for repair)."""


class LeaseHeld(PlacementError):
    """Another instance holds the background-service lease and it has not expired."""


class LeaseLost(PlacementError):
    """The caller's lease token is not the current one, or the lease expired (fencing)."""


class StaleMigration(PlacementError):
    """The slot's migration is not the one the caller worked on (target or epoch changed, or synced)."""


class MapNotCreated(PlacementError):
    """The cluster map has no placement groups yet (too few failure domains have heart-beaten)."""


class BadRequest(PlacementError):
    """A request the service cannot act on (e.g. a heartbeat without an address)."""


class BadCommand(PlacementError):
    """A replicated command that does not decode (a bug, or a newer command format)."""


class InternalError(PlacementError):
    """The service failed unexpectedly while answering (its log has the traceback)."""


class PlacementUnavailable(Exception):
    """No replica could be reached, or no leader (no quorum) took a write, within the timeout."""
