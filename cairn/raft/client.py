"""The Raft peer client (gRPC, proto/raft.proto), the message <-> protobuf conversions, and ERRORS.

This module and rpc_server.py are the only Raft modules that touch generated code; the
conversions and `ERRORS` (the transport's domain errors and their status codes, `errors.py`)
live here and serve both sides. A peer client writes batches of messages on one long-lived
`Stream` call per peer (a unary call per batch costs the sender and the receiver several times
more CPU), pings with an empty unary `Send`, and sends a snapshot as a stream of chunks
(`InstallSnapshot`): the first chunk names the message and the snapshot (its manifest: name,
size and crc32c of each file), the files follow in `chunk_bytes` pieces read from disk, and the
receiver writes them to disk as they arrive. Every call (every stream write) has a deadline;
every failure raises `PeerUnavailable` or one of its subclasses (Raft itself retries by
re-sending).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Generator, Sequence
from pathlib import Path

import grpc

from cairn import rpc
from cairn.proto import raft_pb2, raft_pb2_grpc
from cairn.raft.errors import (
    PeerUnavailable,
    RaftStopped,
    SnapshotCorrupt,
    SnapshotGone,
    SnapshotMissing,
    WrongReplica,
)
from cairn.raft.messages import Entry, EntryType, Membership, Message, MessageType, Snapshot, SnapshotFile
from cairn.raft.snapfiles import Receiver, SnapshotDirs, stream_chunks

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


def snapshot_meta_to_pb(snap: Snapshot) -> raft_pb2.SnapshotMeta:
    return raft_pb2.SnapshotMeta(
        index=snap.index,
        term=snap.term,
        membership=membership_to_pb(snap.membership),
        size=sum(f.size for f in snap.files),
        files=[raft_pb2.SnapshotFile(name=f.name, size=f.size, crc32c=f.crc32c) for f in snap.files],
    )


def snapshot_chunks(message: Message, blocks: Generator[bytes]) -> AsyncIterator[raft_pb2.SnapshotChunk]:
    """The InstallSnapshot stream of a SNAPSHOT message: its header chunk (the manifest), then
    the files' bytes as `blocks` reads them from disk (never whole in memory)."""
    snap = message.snapshot
    if snap is None:
        raise ValueError("install_snapshot needs a SNAPSHOT message")

    async def chunks() -> AsyncIterator[raft_pb2.SnapshotChunk]:
        yield raft_pb2.SnapshotChunk(message=message_to_pb(message), snapshot=snapshot_meta_to_pb(snap))
        try:
            while (block := await asyncio.to_thread(next, blocks, None)) is not None:
                yield raft_pb2.SnapshotChunk(data=block)
        finally:
            await asyncio.to_thread(blocks.close)

    return chunks()


async def snapshot_message(chunks: AsyncIterator[raft_pb2.SnapshotChunk], dirs: SnapshotDirs) -> Message:
    """The SNAPSHOT message an InstallSnapshot stream carries; its files are written to disk as
    they arrive, checked against the manifest and staged in `dirs`. Raises SnapshotMissing or
    SnapshotCorrupt (and leaves nothing behind)."""
    head: raft_pb2.SnapshotChunk | None = None
    receiver: Receiver | None = None
    try:
        async for chunk in chunks:
            if head is None:
                head = chunk
                if not head.HasField("snapshot"):
                    raise SnapshotMissing("the snapshot stream has no header chunk")
                receiver = await asyncio.to_thread(Receiver, dirs, _snapshot_from_pb(head.snapshot))
            elif chunk.data and receiver is not None:
                await asyncio.to_thread(receiver.write, chunk.data)
        if head is None or receiver is None:
            raise SnapshotMissing("the snapshot stream has no header chunk")
        snap = await asyncio.to_thread(receiver.finish)
    except BaseException:
        if receiver is not None:
            await asyncio.shield(asyncio.to_thread(receiver.abort))
        raise
    return message_from_pb(head.message, snap)


def _snapshot_from_pb(meta: raft_pb2.SnapshotMeta) -> Snapshot:
    files = tuple(SnapshotFile(f.name, f.size, f.crc32c) for f in meta.files)
    for f in files:
        if not f.name or "/" in f.name or f.name.startswith("."):
            raise SnapshotCorrupt(f"a snapshot file may not be named {f.name!r}")
    if sum(f.size for f in files) != meta.size:
        raise SnapshotCorrupt("the snapshot manifest's sizes do not add up to its size")
    return Snapshot(meta.index, meta.term, membership_from_pb(meta.membership), files=files)


class PeerClient:
    def __init__(self, addr: str) -> None:
        self.addr = addr
        self._channel = rpc.channel(addr, _CHANNEL_OVERRIDES, server_role=rpc.PEER)
        self._stub = raft_pb2_grpc.RaftStub(self._channel)
        self._stream: grpc.aio.StreamUnaryCall[raft_pb2.SendRequest, raft_pb2.SendResponse] | None = None

    async def ping(self, timeout: float) -> None:
        """An empty `Send` call: returns once the peer answered; raises PeerUnavailable or a subclass."""
        with ERRORS.translated():
            await self._stub.Send(raft_pb2.SendRequest(), timeout=timeout)

    async def send(self, messages: Sequence[Message], timeout: float) -> None:
        """Write a batch on the peer's stream (opened on first use): returns once gRPC took it,
        not once the peer did. Raises PeerUnavailable when the stream had ended (the batch is
        not sent; the next call opens a new stream), or the write fails or does not complete
        within `timeout` (the peer is gone, or stopped reading; the stream is dropped, with
        whatever it still held)."""
        request = raft_pb2.SendRequest(messages=[message_to_pb(m) for m in messages])
        call = self._stream
        if call is not None and call.done():  # the peer ended it (refused a batch, restarted)
            self._stream = None
            with ERRORS.translated():  # as the refusal's own class (RaftStopped, WrongReplica)
                await call
            raise PeerUnavailable(f"raft peer {self.addr} closed the stream")
        if call is None:
            call = self._stream = self._stub.Stream()
        try:
            async with asyncio.timeout(timeout):
                await call.write(request)
        except (grpc.RpcError, asyncio.InvalidStateError, TimeoutError) as exc:
            self._stream = None
            call.cancel()
            raise PeerUnavailable(f"raft stream to {self.addr} failed: {_why(exc)}") from None

    async def install_snapshot(
        self, message: Message, directory: Path, timeout: float, chunk_bytes: int
    ) -> None:
        """Stream a SNAPSHOT message with its files in `directory` to the peer; raises
        PeerUnavailable or a subclass (SnapshotGone when a newer snapshot replaced it)."""
        snap = message.snapshot
        if snap is None:
            raise ValueError("install_snapshot needs a SNAPSHOT message")
        blocks = await stream_chunks(directory, snap.files, chunk_bytes)
        if blocks is None:
            raise SnapshotGone(f"snapshot {snap.index}-{snap.term} was replaced before it could be sent")
        chunks = snapshot_chunks(message, blocks)
        with ERRORS.translated():
            await self._stub.InstallSnapshot(chunks, timeout=timeout)

    async def close(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
            self._stream = None
        await self._channel.close()


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "the write did not complete in time"
    if isinstance(exc, grpc.RpcError):
        return str(ERRORS.error_of(exc))
    return "the stream had ended"  # InvalidStateError: written after the call finished
