"""The data path (BlobWriter, BlobReader, DataNodePool) against in-memory data nodes with injected faults."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass

import pytest

from cairn.api_service.blob_health import NodeHealth
from cairn.api_service.blob_io import (
    BlobIOConfig,
    DataNodePool,
    ReadQuorumError,
    ShardFault,
    WriteQuorumError,
    WrittenBlob,
    slot_addrs,
)
from cairn.api_service.blob_reader import BlobReader
from cairn.api_service.blob_writer import BlobWriter
from cairn.blobs import BlobRef
from cairn.checksums import crc32c
from cairn.datanode.errors import DataNodeUnavailable, ShardConflict, ShardCorrupt, ShardNotFound
from cairn.datanode.shards import FailureDomain, NodeStat, NodeState, ShardInfo, ShardKey, ShardState
from cairn.erasure import StripeLayout

SMALL = StripeLayout(k=8, m=4, stripe_size=4096)
FAST = BlobIOConfig(
    write_stall_timeout_s=0.3, write_straggler_timeout_s=0.3, read_piece_timeout_s=0.3, read_window_stripes=3
)
ADDRS = [f"node{i}:7000" for i in range(12)]
BLOB = bytes(range(16))


class FakeNode:
    """An in-memory data node with the DataNodeClient methods and switchable faults.

    mode: "ok", "down" (every call fails), "hang" (never answers), "corrupt" (reads fail with
    ShardCorrupt at shard byte `fail_after`), "missing" (reads: ShardNotFound), "swap" (reads return
    another shard's bytes), "fail_write" (a write fails after `fail_after` pieces), "slow_write"
    (each write piece waits for `gate`), "sink" (writes keep only the length).
    """

    def __init__(self, addr: str, cluster: Cluster) -> None:
        self.addr = addr
        self.cluster = cluster
        self.mode = "ok"
        self.fail_after = 0
        self.gate = asyncio.Event()
        self.shards: dict[ShardKey, bytes] = {}
        self.sink_lengths: dict[ShardKey, int] = {}
        self.pieces_received = 0
        self.read_calls = 0
        self.read_timeouts: list[float] = []
        self.closed = False
        self.read_chunk = 1000  # deliberately unaligned with pieces
        self.delay_s = 0.0  # mode "slow": the wait before a read stream's first byte

    async def write_shard(
        self, key: ShardKey, pg: int, pieces: AsyncIterable[bytes], timeout: float = 60.0
    ) -> ShardInfo:
        if self.mode == "down":
            raise DataNodeUnavailable(f"{self.addr} is down")
        parts: list[bytes] = []
        length = 0
        async for piece in pieces:
            if self.mode == "fail_write" and self.pieces_received >= self.fail_after:
                raise DataNodeUnavailable(f"{self.addr} died mid-stream")
            if self.mode == "slow_write":
                await self.gate.wait()
                self.gate.clear()
            self.pieces_received += 1
            length += len(piece)
            if self.mode != "sink":
                parts.append(piece)
            await asyncio.sleep(0)
        data = b"".join(parts)
        if self.mode == "sink":
            self.sink_lengths[key] = length
        elif self.shards.get(key, data) != data:
            raise ShardConflict(str(key))
        else:
            self.shards[key] = data
        return ShardInfo(key=key, pg=pg, length=length, crc32c=crc32c(data), state=ShardState.LIVE)

    async def read_shard(
        self, key: ShardKey, offset: int = 0, length: int | None = None, timeout: float = 30.0
    ) -> AsyncIterator[bytes]:
        self.read_calls += 1
        self.read_timeouts.append(timeout)
        if self.mode == "down":
            raise DataNodeUnavailable(f"{self.addr} is down")
        if self.mode == "hang":
            await asyncio.Event().wait()
        if self.mode == "slow":
            await asyncio.sleep(self.delay_s)
        if self.mode == "missing" or key not in self.shards:
            raise ShardNotFound(str(key))
        source = self.shards[key]
        if self.mode == "swap":
            source = self.shards_of_other(key)
        data = source[offset : len(source) if length is None else offset + length]
        for pos in range(0, len(data), self.read_chunk):
            chunk = data[pos : pos + self.read_chunk]
            if self.mode == "corrupt" and offset + pos + len(chunk) > self.fail_after:
                if self.fail_after > offset + pos:
                    yield chunk[: self.fail_after - offset - pos]
                raise ShardCorrupt(f"{key} checksum mismatch at {self.fail_after}")
            yield chunk
            await asyncio.sleep(0)

    def shards_of_other(self, key: ShardKey) -> bytes:
        return self.cluster.all_shards[ShardKey(key.blob_id, (key.index + 1) % 12)]

    async def delete_shards(self, keys: Sequence[ShardKey], timeout: float = 10.0) -> int:
        return sum(1 for k in keys if self.shards.pop(k, None) is not None)

    async def list_shards(
        self, pg: int, after: ShardKey | None = None, limit: int = 1000, timeout: float = 10.0
    ) -> tuple[list[ShardInfo], ShardKey | None]:
        return [], None

    async def stat(self, timeout: float = 5.0) -> NodeStat:
        return NodeStat(
            node_id=self.addr,
            capacity_bytes=0,
            used_bytes=0,
            live_shards=len(self.shards),
            state=NodeState.UP,
            dead_shards=0,
            volumes=0,
            sealed_volumes=0,
            labels=FailureDomain("zone-1", "rack-1", self.addr),
        )

    async def close(self) -> None:
        self.closed = True


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Cluster:
    def __init__(self) -> None:
        self.nodes = {addr: FakeNode(addr, self) for addr in ADDRS}
        self.clock = FakeClock()
        self.pool = DataNodePool(self.nodes.__getitem__, NodeHealth(self.clock))

    @property
    def all_shards(self) -> dict[ShardKey, bytes]:
        merged: dict[ShardKey, bytes] = {}
        for node in self.nodes.values():
            merged.update(node.shards)
        return merged

    def node(self, i: int) -> FakeNode:
        return self.nodes[ADDRS[i]]


async def chunks(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for pos in range(0, len(data), size):
        yield data[pos : pos + size]
        await asyncio.sleep(0)


async def write(
    cluster: Cluster,
    data: bytes,
    layout: StripeLayout = SMALL,
    nodes: Sequence[str | None] = ADDRS,
    config: BlobIOConfig = FAST,
) -> WrittenBlob:
    writer = BlobWriter(cluster.pool, layout, config)
    return await writer.write(BLOB, 3, nodes, chunks(data))


async def read_all(
    cluster: Cluster,
    ref: BlobRef,
    start: int = 0,
    end: int | None = None,
    nodes: Sequence[str | None] = ADDRS,
    faults: list[ShardFault] | None = None,
) -> bytes:
    reader = BlobReader(cluster.pool, FAST, on_fault=faults.append if faults is not None else None)
    out = bytearray()
    async for part in reader.read(ref, nodes, start, end):
        out += part
    return bytes(out)


# --- writes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, 10 * 4096 + 5])
async def test_write_then_read_round_trip(size: int) -> None:
    cluster = Cluster()
    data = os.urandom(size)
    written = await write(cluster, data)
    assert written.durable == tuple(range(12)) and written.missing == ()
    assert written.ref == BlobRef(
        blob_id=BLOB, pg=3, size=size, stripe_size=4096, data_shards=8, parity_shards=4
    )
    assert all(len(cluster.node(i).shards[ShardKey(BLOB, i)]) == SMALL.shard_len(size) for i in range(12))
    assert await read_all(cluster, written.ref) == data


async def test_write_succeeds_with_three_nodes_failing() -> None:
    cluster = Cluster()
    cluster.node(2).mode = "down"
    cluster.node(5).mode, cluster.node(5).fail_after = "fail_write", 3
    nodes: list[str | None] = list(ADDRS)
    nodes[9] = None
    data = os.urandom(20 * 4096 + 7)
    written = await write(cluster, data, nodes=nodes)
    assert written.missing == (2, 5, 9)
    assert written.durable == (0, 1, 3, 4, 6, 7, 8, 10, 11)
    assert ShardKey(BLOB, 5) not in cluster.node(5).shards
    assert await read_all(cluster, written.ref) == data


async def test_write_fails_with_four_nodes_failing_and_stops_reading_the_body() -> None:
    cluster = Cluster()
    for i in (0, 4, 7):
        cluster.node(i).mode = "down"
    cluster.node(11).mode, cluster.node(11).fail_after = "fail_write", 2
    consumed = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal consumed
        for _ in range(100):
            consumed += 1
            yield os.urandom(4096)

    writer = BlobWriter(cluster.pool, SMALL, FAST)
    with pytest.raises(WriteQuorumError) as info:
        await writer.write(BLOB, 3, ADDRS, body())
    assert info.value.quorum == 9
    assert set(info.value.errors) == {0, 4, 7, 11}
    assert consumed < 20
    assert cluster.all_shards == {}  # every other stream was cancelled before it completed


async def test_write_with_too_few_slots_fails_before_reading_the_body() -> None:
    cluster = Cluster()
    nodes = [None] * 4 + ADDRS[4:]

    async def body() -> AsyncIterator[bytes]:
        raise AssertionError("the body must not be read")
        yield b""

    with pytest.raises(WriteQuorumError):
        await BlobWriter(cluster.pool, SMALL, FAST).write(BLOB, 3, nodes, body())


async def test_a_stalled_node_is_dropped_and_the_write_completes() -> None:
    cluster = Cluster()
    cluster.node(6).mode = "slow_write"  # its gate is never opened
    data = os.urandom(10 * 4096)
    written = await write(cluster, data)
    assert written.missing == (6,)
    assert await read_all(cluster, written.ref) == data


async def test_a_failing_body_cancels_every_stream() -> None:
    cluster = Cluster()

    async def body() -> AsyncIterator[bytes]:
        yield os.urandom(3 * 4096)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await BlobWriter(cluster.pool, SMALL, FAST).write(BLOB, 3, ADDRS, body())
    assert cluster.all_shards == {}


async def test_memory_stays_bounded_while_a_slow_node_applies_back_pressure() -> None:
    cluster = Cluster()
    for node in cluster.nodes.values():
        node.mode = "sink"
    slow = cluster.node(10)
    slow.mode = "slow_write"
    layout = StripeLayout(stripe_size=1 << 20)
    config = BlobIOConfig(write_queue_stripes=2)
    produced = 0
    max_lead = 0

    async def opener() -> None:
        while True:  # the slow node takes one piece every 50 turns of the event loop
            slow.gate.set()
            for _ in range(50):
                await asyncio.sleep(0)

    async def body() -> AsyncIterator[bytes]:
        nonlocal produced, max_lead
        chunk = os.urandom(1 << 20)
        for _ in range(64):
            lagging = min(n.pieces_received for n in cluster.nodes.values())
            max_lead = max(max_lead, produced - lagging)
            produced += 1
            yield chunk

    pacer = asyncio.create_task(opener())
    try:
        written = await BlobWriter(cluster.pool, layout, config).write(BLOB, 3, ADDRS, body())
    finally:
        pacer.cancel()
    assert written.ref.size == 64 << 20 and written.missing == ()
    assert all(n.pieces_received == 64 for n in cluster.nodes.values())
    assert max_lead <= config.write_queue_stripes + 3, max_lead


# --- reads ----------------------------------------------------------------------------------


async def written_blob(cluster: Cluster, size: int = 10 * 4096 + 123) -> tuple[bytes, BlobRef]:
    data = os.urandom(size)
    written = await write(cluster, data)
    return data, written.ref


def _slots(*counts: tuple[int, int]) -> list[int]:
    """Read calls expected per node: (slot, calls) pairs, every other slot 0."""
    calls = [0] * 12
    for slot, n in counts:
        calls[slot] = n
    return calls


@pytest.mark.parametrize(
    ("start", "end", "calls"),
    [
        # 11 stripes of 4096 bytes (the last 123), each 8 data pieces of 512 (the last's of 16),
        # read 3 stripes a window: a whole stripe costs each data node one stream per window
        (0, None, [4] * 8 + [0] * 4),
        (4096, 8191, [1] * 8 + [0] * 4),
        (4096, 3 * 4096 - 1, [1] * 8 + [0] * 4),
        (10 * 4096, 10 * 4096 + 122, [1] * 8 + [0] * 4),
        # a stripe read in part costs one call on each data piece holding the range's bytes
        (0, 0, _slots((0, 1))),
        (4095, 4096, _slots((7, 1), (0, 1))),
        (4096 + 1000, 4096 + 1600, _slots((1, 1), (2, 1), (3, 1))),
        # two stripes, each in part: a slot holding bytes of both (1) serves them in one call
        (4096 + 1000, 2 * 4096 + 999, [1] * 8 + [0] * 4),
        (4096 + 1000, 2 * 4096 + 2000, [1] * 8 + [0] * 4),
        (10 * 4096 + 122, 10 * 4096 + 122, _slots((7, 1))),
        # both: stripe 0 from byte 100 (all 8 pieces), stripes 1-8 whole, byte 0-2 of stripe 9
        (100, 9 * 4096 + 2, [5] + [4] * 7 + [0] * 4),
        (5, 4, [0] * 12),
    ],
)
async def test_ranges_read_only_their_stripes_and_pieces(
    start: int, end: int | None, calls: list[int]
) -> None:
    cluster = Cluster()
    data, ref = await written_blob(cluster)
    got = await read_all(cluster, ref, start, end)
    assert got == data[start : (len(data) if end is None else end + 1)]
    assert [cluster.node(i).read_calls for i in range(12)] == calls  # parity never touched


@pytest.mark.parametrize("mode", ["corrupt", "swap", "missing", "down", "hang"])
async def test_a_bad_piece_of_a_stripe_read_in_part_sends_the_stripe_to_the_whole_read(mode: str) -> None:
    cluster = Cluster()
    data, ref = await written_blob(cluster)
    cluster.node(2).mode = mode  # holds bytes 1024-1535 of each stripe
    reported: list[ShardFault] = []
    got = await read_all(cluster, ref, 4096 + 1030, 4096 + 1040, faults=reported)
    assert got == data[4096 + 1030 : 4096 + 1041]
    kind = {"corrupt": "corrupt", "swap": "corrupt", "missing": "missing"}.get(mode)
    assert [(f.key.index, f.kind) for f in reported] == ([(2, kind)] if kind else [])
    if mode != "hang":  # the piece alone, then the whole stripe: data pieces, and parity for slot 2
        assert [cluster.node(i).read_calls for i in range(12)] == [1, 1, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0]


@pytest.mark.parametrize("mode", ["corrupt", "missing", "down", "hang"])
async def test_a_bad_piece_of_two_stripes_read_in_part_sends_both_to_the_whole_read(mode: str) -> None:
    cluster = Cluster()
    data, ref = await written_blob(cluster)
    cluster.node(1).mode = mode  # holds bytes 512-1023 of each stripe: of both stripes below
    reported: list[ShardFault] = []
    got = await read_all(cluster, ref, 4096 + 1000, 2 * 4096 + 999, faults=reported)
    assert got == data[4096 + 1000 : 2 * 4096 + 1000]
    kind = {"corrupt": "corrupt", "missing": "missing"}.get(mode)
    assert [(f.key.index, f.kind) for f in reported] == ([(1, kind)] if kind else [])
    if mode != "hang":  # the pieces in part, then each stripe whole: slot 1 bad from the first on
        assert [cluster.node(i).read_calls for i in range(12)] == [3, 2, 3, 3, 3, 3, 3, 3, 2, 0, 0, 0]


@pytest.mark.parametrize(
    "faults",
    [
        {0: "down", 1: "down", 2: "down", 3: "down"},
        {7: "missing", 3: "corrupt", 5: "hang", 8: "down"},
        {0: "corrupt", 1: "swap", 2: "corrupt", 8: "missing"},
        {4: "slot", 9: "down", 10: "hang", 6: "corrupt"},
    ],
)
async def test_reads_survive_four_bad_nodes(faults: dict[int, str]) -> None:
    cluster = Cluster()
    data, ref = await written_blob(cluster)
    nodes: list[str | None] = list(ADDRS)
    for i, mode in faults.items():
        if mode == "slot":
            nodes[i] = None
        cluster.node(i).mode = mode
        cluster.node(i).fail_after = 4 * SMALL.piece_len(4096) + 10  # corrupt in the fifth stripe
    reported: list[ShardFault] = []
    assert await read_all(cluster, ref, nodes=nodes, faults=reported) == data
    assert await read_all(cluster, ref, 5000, 30000, nodes=nodes) == data[5000:30001]
    expected = {
        (i, "corrupt" if mode in ("corrupt", "swap") else "missing")
        for i, mode in faults.items()
        if mode in ("corrupt", "swap", "missing")
    }
    assert {(f.key.index, f.kind) for f in reported} == expected


async def test_five_bad_nodes_is_a_read_quorum_error_without_bytes() -> None:
    cluster = Cluster()
    data, ref = await written_blob(cluster)
    for i, mode in zip((0, 3, 8, 9, 11), ("down", "missing", "corrupt", "hang", "down"), strict=True):
        cluster.node(i).mode = mode
    cluster.node(8).fail_after = 0
    reader = BlobReader(cluster.pool, FAST)
    got = bytearray()
    with pytest.raises(ReadQuorumError) as info:
        async for part in reader.read(ref, ADDRS):
            got += part
    assert got == b""
    assert info.value.stripe == 0 and info.value.valid == 7 and info.value.needed == 8


async def test_losing_a_fifth_node_mid_read_stops_before_the_bad_stripe() -> None:
    cluster = Cluster()
    data, ref = await written_blob(cluster)
    for i in (0, 1, 2, 3):
        cluster.node(i).mode = "down"
    cluster.node(9).mode = "corrupt"
    cluster.node(9).fail_after = 2 * SMALL.piece_len(4096) + 1  # pieces of stripes 0, 1 arrive
    reader = BlobReader(cluster.pool, FAST)
    got = bytearray()
    with pytest.raises(ReadQuorumError) as info:
        async for part in reader.read(ref, ADDRS):
            got += part
    assert info.value.stripe == 2
    assert bytes(got) == data[: 2 * 4096]


async def test_an_abandoned_read_cancels_its_streams() -> None:
    cluster = Cluster()
    data, ref = await written_blob(cluster)
    reader = BlobReader(cluster.pool, FAST)
    stream = reader.read(ref, ADDRS)
    first = await anext(stream)  # type: ignore[arg-type]
    assert first == data[:4096]
    await stream.aclose()  # type: ignore[attr-defined]
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert others == []


async def test_pool_reuses_one_client_per_address_and_closes_them() -> None:
    made: list[str] = []
    cluster = Cluster()

    def factory(addr: str) -> FakeNode:
        made.append(addr)
        return cluster.nodes[addr]

    pool = DataNodePool(factory)
    assert pool.get(ADDRS[0]) is pool.get(ADDRS[0])
    pool.get(ADDRS[1])
    assert made == ADDRS[:2]
    await pool.close()
    assert cluster.node(0).closed and cluster.node(1).closed and not cluster.node(2).closed
    with pytest.raises(RuntimeError):
        pool.get(ADDRS[0])


def test_slot_addrs_skips_empty_slots_and_nodes_that_are_not_up() -> None:
    @dataclass(frozen=True)
    class Node:
        addr: str
        state: str

    nodes = [Node("a:1", "up"), None, Node("c:1", "down"), Node("d:1", "draining"), Node("e:1", "out")]
    assert slot_addrs(nodes) == ["a:1", None, None, None, None]
    assert slot_addrs(nodes, frozenset({"up", "draining"})) == ["a:1", None, None, "d:1", None]


async def test_read_stream_deadlines_grow_with_their_span() -> None:
    cluster = Cluster()
    data, ref = await written_blob(cluster)
    assert await read_all(cluster, ref) == data
    span = SMALL.shard_span(len(data), range(0, 3))[1]
    assert cluster.node(0).read_timeouts[0] == FAST.read_timeout_s + span / FAST.read_min_bytes_per_s
    assert FAST.read_deadline(100 << 20) > FAST.read_deadline(1 << 20) > FAST.read_timeout_s


# --- node health and hedging ----------------------------------------------------------------

PATIENT = BlobIOConfig(read_piece_timeout_s=5.0, read_window_stripes=3, read_hedge_min_s=0.02)


async def timed_read(
    cluster: Cluster, ref: BlobRef, config: BlobIOConfig = PATIENT, faults: list[ShardFault] | None = None
) -> tuple[bytes, float]:
    loop = asyncio.get_running_loop()
    began = loop.time()
    reader = BlobReader(cluster.pool, config, on_fault=faults.append if faults is not None else None)
    out = bytearray()
    async for part in reader.read(ref, ADDRS):
        out += part
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
    return bytes(out), loop.time() - began


def calls(cluster: Cluster) -> list[int]:
    return [cluster.node(i).read_calls for i in range(12)]


async def test_a_hung_node_is_hedged_then_avoided_then_tried_again_after_its_cool_down() -> None:
    cluster = Cluster()
    health = cluster.pool.health
    data, ref = await written_blob(cluster)  # 11 stripes: 4 windows of 3
    hung = cluster.node(2)
    hung.mode = "hang"

    got, took = await timed_read(cluster, ref)
    assert got == data
    assert took < 1.0  # the hedge delay, not read_piece_timeout_s (5 s)
    assert hung.read_calls == 1  # dropped for the rest of the read after losing the race
    assert health.suspect(hung.addr) and health.cooldown(hung.addr) == 2.0
    assert calls(cluster)[8] == 4 and sum(calls(cluster)[9:]) == 0  # one parity stream per window

    before = calls(cluster)
    got, took = await timed_read(cluster, ref)
    assert got == data and took < 0.5
    assert hung.read_calls == 1  # not touched while suspect: parity planned from the start
    assert [a - b for a, b in zip(calls(cluster), before, strict=True)] == [
        4,
        4,
        0,
        4,
        4,
        4,
        4,
        4,
        4,
        0,
        0,
        0,
    ]

    cluster.clock.now += 2.0  # cool-down over: the next read probes it, fails, the cool-down doubles
    got, took = await timed_read(cluster, ref)
    assert got == data and took < 1.0
    assert hung.read_calls == 2 and health.cooldown(hung.addr) == 4.0

    hung.mode = "ok"
    cluster.clock.now += 3.9
    got, _ = await timed_read(cluster, ref)
    assert got == data and hung.read_calls == 2  # still cooling down
    cluster.clock.now += 0.1
    before = calls(cluster)
    got, _ = await timed_read(cluster, ref)
    assert got == data and not health.suspect(hung.addr)  # a delivered piece clears the suspicion
    assert [a - b for a, b in zip(calls(cluster), before, strict=True)] == [4] * 8 + [0] * 4


async def test_a_node_that_refuses_connections_is_suspect_and_skipped() -> None:
    cluster = Cluster()
    data, ref = await written_blob(cluster)
    cluster.node(5).mode = "down"
    assert (await timed_read(cluster, ref))[0] == data
    assert cluster.node(5).read_calls == 1  # the first window's attempt only
    assert (await timed_read(cluster, ref))[0] == data
    assert cluster.node(5).read_calls == 1
    assert cluster.pool.health.suspect(ADDRS[5])


async def test_missing_or_corrupt_shards_do_not_make_their_node_suspect() -> None:
    cluster = Cluster()
    data, ref = await written_blob(cluster)
    cluster.node(1).mode = "missing"
    cluster.node(3).mode, cluster.node(3).fail_after = "corrupt", 0
    faults: list[ShardFault] = []
    assert (await timed_read(cluster, ref, faults=faults))[0] == data
    assert {(f.key.index, f.kind) for f in faults} == {(1, "missing"), (3, "corrupt")}
    assert not cluster.pool.health.suspect(ADDRS[1]) and not cluster.pool.health.suspect(ADDRS[3])


async def test_suspicion_never_fails_a_read_that_suspect_nodes_can_serve() -> None:
    cluster = Cluster()
    data, ref = await written_blob(cluster)
    for i in (0, 2, 4, 6, 8, 10):  # six suspects: only six healthy-looking slots remain
        cluster.pool.health.record_failure(ADDRS[i])
    got, _ = await timed_read(cluster, ref)
    assert got == data
    assert calls(cluster)[1::2] == [4] * 6  # every non-suspect slot, plus two suspect ones
    assert sum(calls(cluster)[0::2]) == 8
    assert not cluster.pool.health.suspect(ADDRS[0])  # the suspects it used delivered: cleared


async def test_a_slow_node_is_hedged_and_the_bytes_stay_identical() -> None:
    cluster = Cluster()
    data, ref = await written_blob(cluster, 30 * 4096 + 17)
    for i in (0, 7):
        cluster.node(i).mode, cluster.node(i).delay_s = "slow", 0.15
    got, took = await timed_read(cluster, ref)
    assert got == data and took < 1.0
    assert cluster.pool.health.suspect(ADDRS[0]) and cluster.pool.health.suspect(ADDRS[7])
    got, _ = await timed_read(cluster, ref, faults=[])
    assert got == data and cluster.node(0).read_calls == 1 and cluster.node(7).read_calls == 1


async def test_hedges_are_bounded_per_window_and_reads_still_meet_quorum() -> None:
    cluster = Cluster()
    data, ref = await written_blob(cluster)
    for i in (1, 3, 5, 6):  # four hung data nodes: every parity slot is needed
        cluster.node(i).mode = "hang"
    got, took = await timed_read(cluster, ref)
    assert got == data and took < 1.0
    assert calls(cluster)[8:] == [4, 4, 4, 4]
    config = BlobIOConfig(
        read_piece_timeout_s=0.3, read_window_stripes=3, read_hedge_min_s=0.02, read_hedge_max_streams=1
    )
    fresh = Cluster()
    data, ref = await written_blob(fresh)
    for i in (1, 3):
        fresh.node(i).mode = "hang"
    got, took = await timed_read(fresh, ref, config)  # one hedge, then the stall timeout
    assert got == data and 0.3 <= took < 2.0
    assert fresh.node(1).read_calls == 1 and fresh.node(3).read_calls == 1


async def test_a_hedged_read_abandoned_midway_leaves_no_tasks() -> None:
    cluster = Cluster()
    data, ref = await written_blob(cluster)
    cluster.node(4).mode = "hang"
    reader = BlobReader(cluster.pool, PATIENT)
    stream = reader.read(ref, ADDRS)
    assert await anext(stream) == data[:4096]  # type: ignore[arg-type]
    await stream.aclose()  # type: ignore[attr-defined]
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_a_cancelled_read_task_leaves_no_tasks() -> None:
    cluster = Cluster()
    data, ref = await written_blob(cluster)
    for i in range(8):
        cluster.node(i).mode = "hang"  # nothing can complete: the read waits

    async def consume() -> None:
        async for _ in BlobReader(cluster.pool, PATIENT).read(ref, ADDRS):
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


def test_hedge_config_is_validated() -> None:
    assert BlobIOConfig().hedges(SMALL) == 4
    assert BlobIOConfig(read_hedge_max_streams=9).hedges(SMALL) == 4
    assert BlobIOConfig(read_hedge_max_streams=0).hedges(SMALL) == 0
    for bad in ({"read_hedge_min_s": 0}, {"read_hedge_max_streams": -2}, {"read_hedge_p95_factor": -1}):
        with pytest.raises(ValueError):
            BlobIOConfig(**bad)  # type: ignore[arg-type]


async def test_a_hedge_that_fails_is_replaced_by_the_next_slot() -> None:
    cluster = Cluster()
    data, ref = await written_blob(cluster)
    cluster.node(0).mode = "hang"
    cluster.node(8).mode = "down"  # the first hedge target
    got, took = await timed_read(cluster, ref)
    assert got == data and took < 1.0
    assert cluster.node(9).read_calls == 4
