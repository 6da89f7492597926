"""Read-index bookkeeping for the leader (Raft thesis section 6.4).

A read request records the leader's commit index when it arrives and is confirmed once a
quorum answers a heartbeat carrying the request's context: that proves nobody else led a newer
term when the request was taken. Requests are confirmed in arrival order: an answer to a later
heartbeat also vouches for every earlier request. A new leader defers requests until it has
committed an entry of its own term (before that its commit index may be stale). All state is
dropped on any change of term or role.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cairn.raft.messages import Membership, ReadState


@dataclass(slots=True)
class _Request:
    context: bytes
    index: int
    acks: set[str] = field(default_factory=set)


class ReadIndex:
    def __init__(self) -> None:
        self._queue: list[_Request] = []
        self._deferred: list[bytes] = []

    def defer(self, context: bytes) -> None:
        self._deferred.append(context)

    def take_deferred(self) -> list[bytes]:
        deferred, self._deferred = self._deferred, []
        return deferred

    def last_context(self) -> bytes:
        """The context to piggyback on periodic heartbeats (retries a lost confirmation round)."""
        return self._queue[-1].context if self._queue else b""

    def start(self, context: bytes, index: int, me: str, membership: Membership) -> list[ReadState]:
        """Register a read; returns it at once if our own ack is a quorum (a single voter)."""
        self._queue.append(_Request(context, index, {me}))
        return self.ack(context, me, membership)

    def ack(self, context: bytes, voter: str, membership: Membership) -> list[ReadState]:
        """Record `voter`'s answer to the heartbeat of `context`; return newly confirmed reads."""
        for pos, req in enumerate(self._queue):
            if req.context == context:
                req.acks.add(voter)
                if not membership.has_quorum(req.acks):
                    return []
                done, self._queue = self._queue[: pos + 1], self._queue[pos + 1 :]
                return [ReadState(r.context, r.index) for r in done]
        return []
