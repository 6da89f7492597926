"""The Raft peer client (gRPC, proto/raft.proto), the message <-> protobuf conversions, and ERRORS.

This module and rpc_server.py are the only Raft modules that touch generated code; the
conversions and `ERRORS` (the transport's domain errors and their status codes, `errors.py`)
live here and serve both sides. A peer client sends one batch of messages per unary `Send` call,
and a snapshot as a stream of chunks (`InstallSnapshot`): the first chunk names the message and
the snapshot (size and crc32c of the data), the data follows in `chunk_bytes` pieces. Every call
has a deadline; every failure raises `PeerUnavailable` or one of its subclasses (Raft itself
retries by re-sending).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import grpc

from cairn import rpc
from cairn.checksums import crc32c
from cairn.proto import raft_pb2, raft_pb2_grpc
from cairn.raft.errors import PeerUnavailable, RaftStopped, SnapshotCorrupt, SnapshotMissing, WrongReplica
from cairn.raft.messages import Entry, EntryType, Membership, Message, MessageType, Snapshot

#: gRPC's default reconnect backoff grows to 120 s (cairn.rpc caps it at 2 s); a peer that
#: comes back must hear from the leader well within an election timeout.
_CHANNEL_OVERRIDES = (("grpc.max_reconnect_backoff_ms", 1000),)

ERRORS = rpc.ErrorTable(
    {
        RaftStopped: grpc.StatusCode.UNAVAILABLE,
        WrongReplica: grpc.StatusCode.FAILED_PRECONDITION,
        SnapshotMissing: grpc.StatusCode.INVALID_ARGUMENT,
        SnapshotCorrupt: grpc.StatusCode.DATA_LOSS,
    },
    unavailable=PeerUnavailable,
    internal=PeerUnavailable,
)


def membership_to_pb(m: Membership) -> raft_pb2.Membership:
    return raft_pb2.Membership(voters=sorted(m.voters), outgoing=sorted(m.outgoing))


def membership_from_pb(pb: raft_pb2.Membership) -> Membership:
    return Membership(frozenset(pb.voters), frozenset(pb.outgoing))


def message_to_pb(m: Message) -> raft_pb2.Message:
    return raft_pb2.Message(
        type=m.type.name,
        to=m.to,
        term=m.term,
        log_term=m.log_term,
        index=m.index,
        entries=[
            raft_pb2.Entry(index=e.index, term=e.term, type=e.type.name, data=e.data) for e in m.entries
        ],
        commit=m.commit,
        reject=m.reject,
        reject_hint=m.reject_hint,
        hint_term=m.hint_term,
        context=m.context,
        **{"from": m.frm},
    )


def message_from_pb(pb: raft_pb2.Message, snapshot: Snapshot | None = None) -> Message:
    return Message(
        type=MessageType(pb.type),
        frm=getattr(pb, "from"),
        to=pb.to,
        term=pb.term,
        log_term=pb.log_term,
        index=pb.index,
        entries=tuple(Entry(e.index, e.term, EntryType(e.type), e.data) for e in pb.entries),
        commit=pb.commit,
        reject=pb.reject,
        reject_hint=pb.reject_hint,
        hint_term=pb.hint_term,
        context=pb.context,
        snapshot=snapshot,
    )


def snapshot_chunks(message: Message, chunk_bytes: int) -> AsyncIterator[raft_pb2.SnapshotChunk]:
    """The InstallSnapshot stream of a SNAPSHOT message: its header chunk, then the data."""
    snap = message.snapshot
    if snap is None:
        raise ValueError("install_snapshot needs a SNAPSHOT message")

    async def chunks() -> AsyncIterator[raft_pb2.SnapshotChunk]:
        meta = raft_pb2.SnapshotMeta(
            index=snap.index,
            term=snap.term,
            membership=membership_to_pb(snap.membership),
            size=len(snap.data),
            crc32c=crc32c(snap.data),
        )
        yield raft_pb2.SnapshotChunk(message=message_to_pb(message), snapshot=meta)
        view = memoryview(snap.data)
        for pos in range(0, len(view), chunk_bytes):
            yield raft_pb2.SnapshotChunk(data=bytes(view[pos : pos + chunk_bytes]))

    return chunks()


async def snapshot_message(chunks: AsyncIterator[raft_pb2.SnapshotChunk]) -> Message:
    """The SNAPSHOT message an InstallSnapshot stream carries, its data checked against the header;
    raises SnapshotMissing or SnapshotCorrupt."""
    head: raft_pb2.SnapshotChunk | None = None
    parts: list[bytes] = []
    async for chunk in chunks:
        if head is None:
            head = chunk
        elif chunk.data:
            parts.append(chunk.data)
    if head is None or not head.HasField("snapshot"):
        raise SnapshotMissing("the snapshot stream has no header chunk")
    data = b"".join(parts)
    meta = head.snapshot
    if len(data) != meta.size or crc32c(data) != meta.crc32c:
        raise SnapshotCorrupt(f"snapshot data of {len(data)} bytes fails its size or crc32c check")
    return message_from_pb(
        head.message, Snapshot(meta.index, meta.term, membership_from_pb(meta.membership), data)
    )


class PeerClient:
    def __init__(self, addr: str) -> None:
        self.addr = addr
        self._channel = rpc.channel(addr, _CHANNEL_OVERRIDES, server_role=rpc.PEER)
        self._stub = raft_pb2_grpc.RaftStub(self._channel)

    async def send(self, messages: Sequence[Message], timeout: float) -> None:
        """Deliver a batch (an empty one is a ping); raises PeerUnavailable or a subclass."""
        request = raft_pb2.SendRequest(messages=[message_to_pb(m) for m in messages])
        with ERRORS.translated():
            await self._stub.Send(request, timeout=timeout)

    async def install_snapshot(self, message: Message, timeout: float, chunk_bytes: int) -> None:
        """Stream a SNAPSHOT message to the peer; raises PeerUnavailable or a subclass."""
        chunks = snapshot_chunks(message, chunk_bytes)
        with ERRORS.translated():
            await self._stub.InstallSnapshot(chunks, timeout=timeout)

    async def close(self) -> None:
        await self._channel.close()
