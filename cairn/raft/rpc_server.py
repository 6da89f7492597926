"""The Raft peer servicer: turns incoming batches and snapshot streams into core messages.

It only hands messages to the node's inbox (`deliver`), never waits for the core: answers
travel back as ordinary Raft messages over the sender's own connection. Errors carry a reason
(cairn.rpc): `RaftStopped` (UNAVAILABLE) while the node is not running, `WrongReplica`
(FAILED_PRECONDITION) for a message addressed to another replica id (a peers-map mistake),
`SnapshotCorrupt` (DATA_LOSS) when the streamed data fails its size or crc32c check.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import grpc
import grpc.aio

from cairn import rpc
from cairn.checksums import crc32c
from cairn.proto import raft_pb2, raft_pb2_grpc
from cairn.raft.client import membership_from_pb, message_from_pb
from cairn.raft.messages import Message, Snapshot

#: Returns None when accepted, else a reason: "RaftStopped" or "WrongReplica".
Deliver = Callable[[Message], str | None]

_CODES = {"RaftStopped": grpc.StatusCode.UNAVAILABLE, "WrongReplica": grpc.StatusCode.FAILED_PRECONDITION}


class RaftServicer(raft_pb2_grpc.RaftServicer):
    def __init__(self, deliver: Deliver) -> None:
        self._deliver = deliver

    async def _hand_over(self, message: Message, context: grpc.aio.ServicerContext) -> None:
        reason = self._deliver(message)
        if reason is not None:
            await rpc.abort(context, _CODES.get(reason, grpc.StatusCode.INTERNAL), reason)

    async def Send(  # noqa: N802 - gRPC method name
        self, request: raft_pb2.SendRequest, context: grpc.aio.ServicerContext
    ) -> raft_pb2.SendResponse:
        for pb in request.messages:
            await self._hand_over(message_from_pb(pb), context)
        return raft_pb2.SendResponse()

    async def InstallSnapshot(  # noqa: N802 - gRPC method name
        self, request_iterator: AsyncIterator[raft_pb2.SnapshotChunk], context: grpc.aio.ServicerContext
    ) -> raft_pb2.InstallSnapshotResponse:
        head: raft_pb2.SnapshotChunk | None = None
        parts: list[bytes] = []
        async for chunk in request_iterator:
            if head is None:
                head = chunk
            elif chunk.data:
                parts.append(chunk.data)
        if head is None or not head.HasField("snapshot"):
            await rpc.abort(context, grpc.StatusCode.INVALID_ARGUMENT, "SnapshotMissing")
            raise AssertionError("unreachable")
        data = b"".join(parts)
        meta = head.snapshot
        if len(data) != meta.size or crc32c(data) != meta.crc32c:
            await rpc.abort(context, grpc.StatusCode.DATA_LOSS, "SnapshotCorrupt")
        snap = Snapshot(meta.index, meta.term, membership_from_pb(meta.membership), data)
        await self._hand_over(message_from_pb(head.message, snap), context)
        return raft_pb2.InstallSnapshotResponse()


def add_to_server(server: grpc.aio.Server, deliver: Deliver) -> None:
    raft_pb2_grpc.add_RaftServicer_to_server(RaftServicer(deliver), server)
