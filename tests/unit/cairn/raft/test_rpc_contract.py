"""The Raft peer client and servicer agree: every RPC of the contract, called through the typed
PeerClient against the real servicer in-process, delivers exactly the messages sent, and every
refusal crosses the wire as its own class."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cairn.checksums import crc32c
from cairn.proto import raft_pb2, raft_pb2_grpc
from cairn.raft import rpc_server
from cairn.raft.client import ERRORS, PeerClient, message_to_pb, snapshot_meta_to_pb
from cairn.raft.errors import PeerUnavailable, RaftStopped, SnapshotCorrupt, SnapshotMissing, WrongReplica
from cairn.raft.messages import Entry, EntryType, Membership, Message, MessageType, Snapshot, SnapshotFile
from cairn.raft.snapfiles import SnapshotDirs
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
async def peer(tmp_path: Path) -> AsyncIterator[tuple[Inbox, Recorder, str]]:
    inbox, recorder = Inbox(), Recorder()
    server = recording_server(recorder)
    rpc_server.add_to_server(server, inbox.deliver, SnapshotDirs(tmp_path / "receiver"))
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
FILES = {"a.sqlite": bytes(range(256)) * 9, "empty": b"", "b.sqlite": b"x" * 1500}


@pytest.fixture
def sent(tmp_path: Path) -> tuple[Message, Path]:
    """A SNAPSHOT message and the directory of its three files (the sender's side)."""
    directory = tmp_path / "sender"
    directory.mkdir()
    for name, data in FILES.items():
        (directory / name).write_bytes(data)
    files = tuple(SnapshotFile(name, len(data), crc32c(data)) for name, data in FILES.items())
    snap = Snapshot(50, 7, Membership(frozenset({"r1", "r2", "r3"})), files=files)
    return Message(MessageType.SNAPSHOT, "r1", "r2", term=8, snapshot=snap), directory


async def test_every_rpc_delivers_exactly_what_was_sent(
    peer: tuple[Inbox, Recorder, str], sent: tuple[Message, Path], tmp_path: Path
) -> None:
    inbox, recorder, addr = peer
    message, directory = sent
    client = PeerClient(addr)
    try:
        await client.send(BATCH[:1], timeout=5)  # on the stream, in order
        await client.send(BATCH[1:], timeout=5)
        await client.ping(timeout=5)  # the stream's batches are not answered: poll
        for _ in range(500):
            if len(inbox.messages) >= len(BATCH):
                break
            await asyncio.sleep(0.01)
        await client.install_snapshot(message, directory, timeout=5, chunk_bytes=1000)  # 5 chunks
    finally:
        await client.close()
    assert inbox.messages == [*BATCH, message]
    assert recorder.served == rpc_names(SERVICE)
    assert message.snapshot is not None
    staged = SnapshotDirs(tmp_path / "receiver").staged(message.snapshot)  # the files, on disk
    assert {p.name: p.read_bytes() for p in staged.iterdir()} == FILES


@pytest.mark.parametrize(
    "refusal", [RaftStopped("raft replica r2 is not running"), WrongReplica("a message for 'r9'")]
)
async def test_a_refused_message_raises_its_own_class(
    peer: tuple[Inbox, Recorder, str], refusal: PeerUnavailable, sent: tuple[Message, Path]
) -> None:
    inbox, _, addr = peer
    inbox.refusal = refusal
    client = PeerClient(addr)
    try:
        # The stream takes the batch; the refusal ends it, and the next batch raises it.
        with pytest.raises(type(refusal), match=str(refusal)):
            for _ in range(500):
                await client.send(BATCH, timeout=5)
                await asyncio.sleep(0.01)
        with pytest.raises(type(refusal), match=str(refusal)):
            await client.install_snapshot(*sent, 5, 1000)
        await client.send(BATCH, timeout=5)  # a new stream
    finally:
        await client.close()


async def test_a_damaged_or_headless_snapshot_stream_is_refused(
    peer: tuple[Inbox, Recorder, str], sent: tuple[Message, Path], tmp_path: Path
) -> None:
    inbox, _, addr = peer
    message, directory = sent
    snap = message.snapshot
    assert snap is not None
    meta = snapshot_meta_to_pb(snap)
    data = b"".join(FILES.values())

    def stream(body: bytes, head: bool = True) -> AsyncIterator[raft_pb2.SnapshotChunk]:
        async def chunks() -> AsyncIterator[raft_pb2.SnapshotChunk]:
            if head:
                yield raft_pb2.SnapshotChunk(message=message_to_pb(message), snapshot=meta)
            for pos in range(0, len(body), 700):
                yield raft_pb2.SnapshotChunk(data=body[pos : pos + 700])

        return chunks()

    flipped = data[:100] + bytes([data[100] ^ 1]) + data[101:]
    ch = channel(addr)
    stub = raft_pb2_grpc.RaftStub(ch)
    try:
        for bad in (flipped, data[:-1], data + b"!"):  # a flipped bit, one byte short, one too many
            with pytest.raises(SnapshotCorrupt), ERRORS.translated():
                await stub.InstallSnapshot(stream(bad), timeout=5)
        with pytest.raises(SnapshotMissing), ERRORS.translated():
            await stub.InstallSnapshot(stream(data, head=False), timeout=5)
    finally:
        await ch.close()
    assert inbox.messages == []
    assert list((tmp_path / "receiver").iterdir()) == []  # nothing partial is left behind


async def test_an_unreachable_peer_raises_peer_unavailable() -> None:
    client = PeerClient("127.0.0.1:1")
    try:
        with pytest.raises(PeerUnavailable):
            await client.send(BATCH, timeout=1)
    finally:
        await client.close()


async def test_a_stopping_server_ends_the_streams_into_it(tmp_path: Path) -> None:
    """`end_streams` ends an open stream with OK (a graceful stop then drains at once instead
    of waiting out its grace); the sender's next batch says the stream was closed, and nothing
    after the end is delivered."""
    inbox = Inbox()
    server = recording_server(Recorder())
    servicer = rpc_server.add_to_server(server, inbox.deliver, SnapshotDirs(tmp_path / "receiver"))
    addr = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
    await server.start()
    client = PeerClient(addr)
    try:
        await client.send(BATCH, timeout=5)
        for _ in range(500):
            if inbox.messages:
                break
            await asyncio.sleep(0.01)
        assert inbox.messages == BATCH
        servicer.end_streams()
        with pytest.raises(PeerUnavailable, match="closed the stream"):
            for _ in range(500):
                await client.send(BATCH, timeout=5)
                await asyncio.sleep(0.01)
        assert inbox.messages == BATCH
    finally:
        await client.close()
        await server.stop(None)
