"""The Raft peer client (gRPC, proto/raft.proto) and the message <-> protobuf translation.

This module and rpc_server.py are the only Raft modules that touch generated stubs. A peer
client sends one batch of messages per unary `Send` call, and a snapshot as a stream of chunks
(`InstallSnapshot`): the first chunk names the message and the snapshot (size and crc32c of the
data), the data follows in `chunk_bytes` pieces. Every call has a deadline; any failure is
reported as `PeerUnavailable` (Raft itself retries by re-sending).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import grpc

from cairn import rpc
from cairn.checksums import crc32c
from cairn.proto import raft_pb2, raft_pb2_grpc
from cairn.raft.messages import Entry, EntryType, Membership, Message, MessageType, Snapshot

#: gRPC's default reconnect backoff grows to 120 s (cairn.rpc caps it at 2 s); a peer that
#: comes back must hear from the leader well within an election timeout.
_CHANNEL_OVERRIDES = (("grpc.max_reconnect_backoff_ms", 1000),)


class PeerUnavailable(Exception):
    """A batch or snapshot could not be delivered to a peer (it may or may not have arrived)."""


def membership_to_pb(m: Membership) -> raft_pb2.Membership:
    return raft_pb2.Membership(voters=sorted(m.voters), outgoing=sorted(m.outgoing))


def membership_from_pb(pb: raft_pb2.Membership) -> Membership:
    return Membership(frozenset(pb.voters), frozenset(pb.outgoing))


def message_to_pb(m: Message) -> raft_pb2.Message:
    return raft_pb2.Message(
        type=int(m.type),  # type: ignore[arg-type]
        to=m.to,
        term=m.term,
        log_term=m.log_term,
        index=m.index,
        entries=[
            raft_pb2.Entry(index=e.index, term=e.term, type=int(e.type), data=e.data)  # type: ignore[arg-type]
            for e in m.entries
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


class PeerClient:
    def __init__(self, addr: str) -> None:
        self.addr = addr
        self._channel = rpc.channel(addr, _CHANNEL_OVERRIDES)
        self._stub = raft_pb2_grpc.RaftStub(self._channel)

    async def send(self, messages: Sequence[Message], timeout: float) -> None:
        request = raft_pb2.SendRequest(messages=[message_to_pb(m) for m in messages])
        try:
            await self._stub.Send(request, timeout=timeout)
        except grpc.RpcError as err:
            raise PeerUnavailable(f"{self.addr}: {rpc.status_of(err)} {rpc.reason_of(err) or ''}") from err

    async def install_snapshot(self, message: Message, timeout: float, chunk_bytes: int) -> None:
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

        try:
            await self._stub.InstallSnapshot(chunks(), timeout=timeout)
        except grpc.RpcError as err:
            raise PeerUnavailable(f"{self.addr}: {rpc.status_of(err)} {rpc.reason_of(err) or ''}") from err

    async def close(self) -> None:
        await self._channel.close()
