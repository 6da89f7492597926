"""The Raft peer client and servicer agree: every RPC of the contract, called through the typed
PeerClient against the real servicer in-process, delivers exactly the messages sent, and every
refusal crosses the wire as its own class."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cairn.proto import raft_pb2, raft_pb2_grpc
from cairn.raft import rpc_server
from cairn.raft.client import ERRORS, PeerClient, message_to_pb
from cairn.raft.errors import PeerUnavailable, RaftStopped, SnapshotCorrupt, SnapshotMissing, WrongReplica
from cairn.raft.messages import Entry, EntryType, Membership, Message, MessageType, Snapshot
from cairn.rpc import channel
from tests.support.rpc_contract import Recorder, recording_server, rpc_names

SERVICE = raft_pb2.DESCRIPTOR.services_by_name["Raft"]


class Inbox:
    """The replica side: keeps what arrives, or refuses it with `refusal`."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.refusal: Exception | None = None

    def deliver(self, message: Message) -> None:
        if self.refusal is not None:
            raise self.refusal
        self.messages.append(message)


@pytest.fixture
async def peer() -> AsyncIterator[tuple[Inbox, Recorder, str]]:
    inbox, recorder = Inbox(), Recorder()
    server = recording_server(recorder)
    rpc_server.add_to_server(server, inbox.deliver)
    addr = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
    await server.start()
    yield inbox, recorder, addr
    await server.stop(None)


BATCH = [
    Message(
        MessageType.APPEND,
        "r1",
        "r2",
        term=7,
        log_term=6,
        index=41,
        entries=(Entry(42, 7, EntryType.NORMAL, b"cmd"), Entry(43, 7, EntryType.NOOP)),
        commit=40,
        context=b"\x00\x01",
    ),
    Message(MessageType.HEARTBEAT_RESP, "r1", "r2", term=7, reject=True, reject_hint=39, hint_term=5),
]
SNAPSHOT = Message(
    MessageType.SNAPSHOT,
    "r1",
    "r2",
    term=8,
    snapshot=Snapshot(50, 7, Membership(frozenset({"r1", "r2", "r3"})), bytes(range(256)) * 9),
)


async def test_every_rpc_delivers_exactly_what_was_sent(peer: tuple[Inbox, Recorder, str]) -> None:
    inbox, recorder, addr = peer
    client = PeerClient(addr)
    try:
        await client.send(BATCH, timeout=5)
        await client.send([], timeout=5)  # a ping
        await client.install_snapshot(SNAPSHOT, timeout=5, chunk_bytes=1000)  # 3 data chunks
    finally:
        await client.close()
    assert inbox.messages == [*BATCH, SNAPSHOT]
    assert recorder.served == rpc_names(SERVICE)


@pytest.mark.parametrize(
    "refusal", [RaftStopped("raft replica r2 is not running"), WrongReplica("a message for 'r9'")]
)
async def test_a_refused_message_raises_its_own_class(
    peer: tuple[Inbox, Recorder, str], refusal: PeerUnavailable
) -> None:
    inbox, _, addr = peer
    inbox.refusal = refusal
    client = PeerClient(addr)
    try:
        for call in (client.send(BATCH, timeout=5), client.install_snapshot(SNAPSHOT, 5, 1000)):
            with pytest.raises(type(refusal), match=str(refusal)):
                await call
    finally:
        await client.close()


async def test_a_damaged_or_headless_snapshot_stream_is_refused(peer: tuple[Inbox, Recorder, str]) -> None:
    inbox, _, addr = peer
    snap = SNAPSHOT.snapshot
    assert snap is not None
    meta = raft_pb2.SnapshotMeta(index=snap.index, term=snap.term, size=len(snap.data), crc32c=0)

    async def corrupt() -> AsyncIterator[raft_pb2.SnapshotChunk]:
        yield raft_pb2.SnapshotChunk(message=message_to_pb(SNAPSHOT), snapshot=meta)
        yield raft_pb2.SnapshotChunk(data=snap.data)

    async def headless() -> AsyncIterator[raft_pb2.SnapshotChunk]:
        yield raft_pb2.SnapshotChunk(data=snap.data)

    ch = channel(addr)
    stub = raft_pb2_grpc.RaftStub(ch)
    try:
        with pytest.raises(SnapshotCorrupt), ERRORS.translated():
            await stub.InstallSnapshot(corrupt(), timeout=5)
        with pytest.raises(SnapshotMissing), ERRORS.translated():
            await stub.InstallSnapshot(headless(), timeout=5)
    finally:
        await ch.close()
    assert inbox.messages == []


async def test_an_unreachable_peer_raises_peer_unavailable() -> None:
    client = PeerClient("127.0.0.1:1")
    try:
        with pytest.raises(PeerUnavailable):
            await client.send(BATCH, timeout=1)
    finally:
        await client.close()
