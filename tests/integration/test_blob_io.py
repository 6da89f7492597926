"""The S3 service's data path against 12 real data node processes (no placement service needed).

Blobs go through BlobWriter and come back through BlobReader over gRPC, whole and by range; a byte
flipped in a shard file is detected, reported and decoded around; then 4 nodes are killed with
SIGKILL and every blob still reads back byte-identical; a fifth kill makes the read fail with
ReadQuorumError, never with wrong or short bytes. Writes succeed with 3 nodes down, and a paused
(SIGSTOP) node is read around after the hedge delay; later reads avoid it while it is suspect.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from cairn.api_service.blob_io import BlobIOConfig, DataNodePool, ReadQuorumError, ShardFault
from cairn.api_service.blob_reader import BlobReader
from cairn.api_service.blob_writer import BlobWriter
from cairn.blobs import BlobRef
from cairn.datanode.shards import ShardKey
from cairn.erasure import StripeLayout
from tests.support.procs import ServiceProcess, free_port, port_open, wait_for

LAYOUT = StripeLayout(k=8, m=4, stripe_size=256 * 1024)
CONFIG = BlobIOConfig(read_piece_timeout_s=5.0, read_window_stripes=4)


def start_node(tmp: Path, i: int) -> tuple[ServiceProcess, str]:
    port = free_port()
    args = [
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(tmp / f"node{i}"),
        "--zone",
        f"zone{i}",
        "--node-host",
        f"host{i}",
        "--log-level",
        "WARNING",
    ]
    env = {"CAIRN_DATANODE_STORAGE_VOLUME_SIZE_LIMIT_BYTES": str(4 << 20)}  # several sealed volumes
    proc = ServiceProcess("cairn.datanode", args, tmp / f"node{i}.log", env=env).start()
    return proc, f"127.0.0.1:{port}"


@pytest.fixture
def nodes(tmp_path: Path, processes: list[ServiceProcess]) -> Iterator[list[tuple[ServiceProcess, str]]]:
    started = [start_node(tmp_path, i) for i in range(12)]
    processes.extend(proc for proc, _ in started)
    for proc, addr in started:
        port = int(addr.rsplit(":", 1)[1])

        def up(port: int = port, proc: ServiceProcess = proc) -> bool:
            return port_open(port) or not proc.alive()

        try:
            wait_for(up, 30, f"data node on {addr}")
        except TimeoutError:
            pytest.fail(f"data node {addr} did not start:\n{proc.log_tail()}")
        if not proc.alive():
            pytest.fail(f"data node {addr} exited:\n{proc.log_tail()}")
    yield started


async def body(data: bytes, chunk: int = 100_000) -> AsyncIterator[bytes]:
    for pos in range(0, len(data), chunk):
        yield data[pos : pos + chunk]


async def read(
    reader: BlobReader, ref: BlobRef, addrs: list[str | None], start: int = 0, end: int | None = None
) -> bytes:
    out = bytearray()
    async for part in reader.read(ref, addrs, start, end):
        out += part
    return bytes(out)


async def shard_sample(pool: DataNodePool, addr: str | None, ref: BlobRef, index: int) -> bytes:
    """64 bytes from the middle of a shard's second piece, as the node returns them."""
    if addr is None:
        raise ValueError("no node")
    offset = LAYOUT.piece_len(LAYOUT.stripe_size) + 1000
    out = b""
    async for chunk in pool.get(addr).read_shard(ShardKey(ref.blob_id, index), offset, 64):
        out += chunk
    return out


def flip_byte_on_disk(data_dir: Path, sample: bytes) -> None:
    """Flip one byte of the only place `sample` occurs under `data_dir`."""
    hits = [
        (path, raw.find(sample))
        for path in data_dir.rglob("*")
        if path.is_file()
        for raw in [path.read_bytes()]
        if sample in raw
    ]
    assert len(hits) == 1, hits
    path, pos = hits[0]
    with open(path, "r+b") as f:
        f.seek(pos + 10)
        byte = f.read(1)
        f.seek(pos + 10)
        f.write(bytes([byte[0] ^ 0x40]))
        f.flush()
        os.fsync(f.fileno())


async def test_blobs_round_trip_and_survive_four_killed_nodes(
    nodes: list[tuple[ServiceProcess, str]], tmp_path: Path
) -> None:
    addrs: list[str | None] = [addr for _, addr in nodes]
    pool = DataNodePool()
    faults: list[ShardFault] = []
    writer = BlobWriter(pool, LAYOUT, CONFIG)
    reader = BlobReader(pool, CONFIG, on_fault=faults.append)
    try:
        blobs: list[tuple[bytes, BlobRef]] = []
        for n, size in enumerate(
            [0, 1, 8 * 1024 - 1, LAYOUT.stripe_size, 3 * LAYOUT.stripe_size + 12345, 5 * 1024 * 1024 + 7]
        ):
            data = os.urandom(size)
            written = await writer.write(os.urandom(16), n, addrs, body(data))
            assert written.durable == tuple(range(12)), written
            assert written.ref.size == size
            blobs.append((data, written.ref))

        for data, ref in blobs:
            assert await read(reader, ref, addrs) == data
        data, ref = blobs[-1]
        s = LAYOUT.stripe_size
        for start, end in [
            (0, 0),
            (s - 1, s),
            (s, 2 * s - 1),
            (3 * s + 5, 9 * s + 17),
            (len(data) - 1, None),
        ]:
            assert (
                await read(reader, ref, addrs, start, end)
                == data[start : (end + 1 if end is not None else None)]
            )

        # A flipped byte in shard 3 of the largest blob on node 3's disk: detected, decoded around.
        flip_byte_on_disk(tmp_path / "node3", await shard_sample(pool, addrs[3], ref, 3))
        assert await read(reader, ref, addrs) == data
        assert [(f.key.index, f.kind) for f in faults] == [(3, "corrupt")]
        faults.clear()

        for i in (0, 3, 6, 9):  # data nodes 0 and 3 (its shard is corrupt anyway), 6, parity 9
            nodes[i][0].kill9()
        for data, ref in blobs:
            assert await read(reader, ref, addrs) == data
        assert await read(reader, ref, addrs, s - 1, 4 * s) == data[s - 1 : 4 * s + 1]

        nodes[11][0].kill9()
        with pytest.raises(ReadQuorumError):
            await read(reader, blobs[-1][1], addrs)
        assert faults == []  # dead nodes are unavailable, not corrupt or missing
    finally:
        await pool.close()


async def test_write_succeeds_with_three_nodes_down_and_reads_around_a_paused_node(
    nodes: list[tuple[ServiceProcess, str]],
) -> None:
    addrs: list[str | None] = [addr for _, addr in nodes]
    for i in (1, 5, 10):
        nodes[i][0].kill9()
    pool = DataNodePool()
    paused = nodes[0][0]
    try:
        data = os.urandom(2 * 1024 * 1024 + 3)
        written = await BlobWriter(pool, LAYOUT, CONFIG).write(os.urandom(16), 7, addrs, body(data))
        assert written.missing == (1, 5, 10)
        assert await read(BlobReader(pool, CONFIG), written.ref, addrs) == data
        other = os.urandom(1024 * 1024)
        second = await BlobWriter(pool, LAYOUT, CONFIG).write(os.urandom(16), 8, addrs, body(other))
        os.kill(paused.pid, signal.SIGSTOP)  # alive but silent: hedging and the health memory notice
        # A piece timeout far above any hedge delay, so "hedged" and "timed out" cannot be confused
        # on a loaded machine: a read that waited for the paused node would take 30 s.
        patient = dataclasses.replace(CONFIG, read_piece_timeout_s=30.0)
        reader = BlobReader(pool, patient)
        began = time.monotonic()
        assert await read(reader, written.ref, addrs) == data
        first = time.monotonic() - began
        assert first < patient.read_piece_timeout_s, first  # hedged, not timed out
        assert pool.health.suspect(addrs[0] or "")
        for ref, expected in [(written.ref, data), (second.ref, other), (written.ref, data)]:
            began = time.monotonic()
            assert await read(reader, ref, addrs) == expected
            assert time.monotonic() - began < patient.read_piece_timeout_s  # the paused node is skipped
            assert pool.health.suspect(addrs[0] or "")
    finally:
        os.kill(paused.pid, signal.SIGCONT)
        await pool.close()
