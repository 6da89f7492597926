"""The API's blob read path alone: CPU per MiB of `BlobReader.read` over in-memory data nodes.

A blob is encoded once (8 + 4, 1 MiB stripes by default) and its shards kept in memory; each
twin node serves `read_shard` as the real data node does, in messages of `--message-bytes` that
ignore piece boundaries, with one event loop turn per message. The reader then reads the whole
blob once, checked, then `--reads` times, timed, and the process CPU seconds per MiB are printed, with every data slot
healthy and, with `--lose N`, with the first N data slots empty (every stripe decoded). No gRPC,
sockets or disks: this is the reader's own Python work (framing pieces, waiting for them, joining
or decoding stripes), the part `s3_compare.py` cannot separate from the rest of the API.

Run: .venv/bin/python benchmarks/blob_read_bench.py [--blob-mib 64] [--reads 8] [--lose 0]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator

from cairn.api_service.blob_io import DataNodeLike, DataNodePool
from cairn.api_service.blob_reader import BlobReader
from cairn.blobs import BlobRef
from cairn.datanode.shards import ShardKey
from cairn.erasure import ErasureCodec, StripeLayout, encode_blob


class _TwinNode:
    """Serves one shard's bytes the way `DataNodeClient.read_shard` yields them."""

    def __init__(self, shards: dict[ShardKey, bytes], message_bytes: int) -> None:
        self._shards = shards
        self._message_bytes = message_bytes

    async def read_shard(
        self, key: ShardKey, offset: int = 0, length: int | None = None, timeout: float = 30.0
    ) -> AsyncIterator[bytes]:
        shard = self._shards[key]
        end = len(shard) if length is None else min(len(shard), offset + length)
        for i in range(offset, end, self._message_bytes):
            await asyncio.sleep(0)
            yield shard[i : min(end, i + self._message_bytes)]

    async def close(self) -> None:
        pass


async def _run(args: argparse.Namespace) -> None:
    layout = StripeLayout(k=args.k, m=args.m, stripe_size=args.stripe_size)
    data = os.urandom(args.blob_mib << 20)
    blob_id = b"\x01" * 16
    shards = {ShardKey(blob_id, i): s for i, s in enumerate(encode_blob(ErasureCodec(layout), data))}
    twin = _TwinNode(shards, args.message_bytes)

    def factory(addr: str) -> DataNodeLike:
        return twin  # type: ignore[return-value]  # only read_shard is called

    pool = DataNodePool(factory)
    reader = BlobReader(pool)
    blob = BlobRef(blob_id, 0, len(data), layout.stripe_size, layout.k, layout.m)
    nodes: list[str | None] = [f"node-{i}" for i in range(layout.n)]
    for i in range(args.lose):
        nodes[i] = None
    got = hashlib.md5()
    async for chunk in reader.read(blob, nodes):  # once checked, then timed without hashing
        got.update(chunk)
    if got.digest() != hashlib.md5(data).digest():
        raise SystemExit("read returned wrong bytes")
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(args.reads):
        async for _chunk in reader.read(blob, nodes):
            pass
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    mib = args.reads * args.blob_mib
    print(
        f"{mib} MiB read, {args.lose} data slots lost: {cpu * 1e3 / mib:.3f} ms CPU per MiB, {mib / wall:.0f} MiB/s"
    )
    await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--blob-mib", type=int, default=64)
    parser.add_argument("--reads", type=int, default=8)
    parser.add_argument("--lose", type=int, default=0, help="data slots left empty (decoded reads)")
    parser.add_argument("--message-bytes", type=int, default=1 << 20)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--m", type=int, default=4)
    parser.add_argument("--stripe-size", type=int, default=1 << 20)
    asyncio.run(_run(parser.parse_args()))


if __name__ == "__main__":
    main()
