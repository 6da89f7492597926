"""The Raft peer servicer: turns incoming batches and snapshot streams into core messages.

It only hands messages to the node's inbox (`deliver`), never waits for the core: answers
travel back as ordinary Raft messages over the sender's own connection. Batches arrive on a
peer's long-lived `Stream`; `Send` takes one batch (the transport's pings). `deliver` raises
RaftStopped or WrongReplica to refuse a message; the snapshot stream is written to a temp
directory as it arrives, each file checked against the manifest (SnapshotMissing,
SnapshotCorrupt), and staged before the message is delivered (snapfiles.py). Methods are wrapped with `cairn.rpc.edge(ERRORS)`, which
sends those errors as their status codes and reasons (`errors.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import grpc.aio

from cairn.proto import raft_pb2, raft_pb2_grpc
from cairn.raft.client import ERRORS, message_from_pb, snapshot_message
from cairn.raft.messages import Message
from cairn.raft.snapfiles import SnapshotDirs
from cairn.rpc import edge

#: Hands one message to the replica; raises RaftStopped or WrongReplica to refuse it.
Deliver = Callable[[Message], None]


class RaftServicer(raft_pb2_grpc.RaftServicer):
    def __init__(self, deliver: Deliver, dirs: SnapshotDirs) -> None:
        self._deliver = deliver
        self._dirs = dirs
        self._ending = asyncio.Event()

    def end_streams(self) -> None:
        """End every open `Stream` (OK) and each one opened later: a stopping server's graceful
        drain would otherwise wait its whole grace period for these calls, which never end."""
        self._ending.set()

    @edge(ERRORS)
    async def Send(
        self, request: raft_pb2.SendRequest, context: grpc.aio.ServicerContext
    ) -> raft_pb2.SendResponse:
        for pb in request.messages:
            self._deliver(message_from_pb(pb))
        return raft_pb2.SendResponse()

    @edge(ERRORS)
    async def Stream(
        self, request_iterator: AsyncIterator[raft_pb2.SendRequest], context: grpc.aio.ServicerContext
    ) -> raft_pb2.SendResponse:
        async def consume() -> None:
            async for request in request_iterator:
                for pb in request.messages:
                    self._deliver(message_from_pb(pb))

        reading = asyncio.ensure_future(consume())
        ending = asyncio.ensure_future(self._ending.wait())
        try:
            await asyncio.wait((reading, ending), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reading, ending):
                task.cancel()
            await asyncio.gather(reading, ending, return_exceptions=True)
        if reading.done() and not reading.cancelled() and reading.exception() is not None:
            raise reading.exception()  # type: ignore[misc]  # a refusal: rpc.edge sends it
        return raft_pb2.SendResponse()

    @edge(ERRORS)
    async def InstallSnapshot(
        self, request_iterator: AsyncIterator[raft_pb2.SnapshotChunk], context: grpc.aio.ServicerContext
    ) -> raft_pb2.InstallSnapshotResponse:
        self._deliver(await snapshot_message(request_iterator, self._dirs))
        return raft_pb2.InstallSnapshotResponse()


def add_to_server(server: grpc.aio.Server, deliver: Deliver, dirs: SnapshotDirs) -> RaftServicer:
    """Serve the Raft peer RPCs; received snapshots are written to disk in `dirs`."""
    servicer = RaftServicer(deliver, dirs)
    raft_pb2_grpc.add_RaftServicer_to_server(servicer, server)
    return servicer
