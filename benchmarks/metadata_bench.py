#!/usr/bin/env python3
"""Metadata service benchmark: PUTs/s (write intent + version commit) and ListObjectsV2 pages/s on 1M keys.

    .venv/bin/python benchmarks/metadata_bench.py [--keys 1000000] [--shards 8] [--seconds 5]

Runs against on-disk shards (WAL, synchronous=FULL unless --synchronous) in a temporary
directory (or --data-dir). A PUT is what the API asks of the metadata service for one
single-blob object: record the blob's write intent, then commit the version (two shard
transactions), measured through the service API in-process and through the gRPC client; the bucket of --keys keys is populated with bulk inserts through the
store API (`put_objects_bulk`, one transaction per shard per batch), laid out as
`dir<NNNN>/file<NNNN>` (2000 directories) so a delimiter listing rolls up 1000 directories per
page. Every loop is bounded by --seconds and a count. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from cairn.blobs import BlobRef
from cairn.metadata.client import MetadataClient
from cairn.metadata.config import MetadataConfig
from cairn.metadata.models import ObjectAttrs
from cairn.metadata.rpc_server import start_server
from cairn.metadata.service import MetadataService

DIRS = 2000


def attrs(i: int) -> ObjectAttrs:
    return ObjectAttrs(
        size=1024,
        etag=hashlib.md5(str(i).encode()).hexdigest(),
        content_type="application/octet-stream",
        blobs=(BlobRef(uuid.uuid4().bytes, i % 256, 1024, 1 << 20, 8, 4),),
    )


async def put(meta: MetadataService | MetadataClient, key: str, i: int) -> None:
    """One PUT's metadata work, as the API does it: the blob's write intent, then the commit."""
    a = attrs(i)
    await meta.record_write_intent("commits", key, a.blobs[0].blob_id, a.blobs[0].pg)
    await meta.put_object("commits", key, a)


async def timed(
    label: str, seconds: float, limit: int, op: Callable[[int], Awaitable[object]], workers: int = 1
) -> float:
    count = 0
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()

    async def worker() -> None:
        nonlocal count
        while time.perf_counter() < deadline and count < limit:
            count += 1
            await op(count)

    async with asyncio.TaskGroup() as tg:
        for _ in range(workers):
            tg.create_task(worker())
    elapsed = time.perf_counter() - start
    rate = count / elapsed
    print(f"{label:<58} {rate:10.1f}/s  ({count} in {elapsed:.2f}s)", flush=True)
    return rate


async def populate(svc: MetadataService, keys: int) -> None:
    per_dir = max(1, keys // DIRS)
    batch: list[tuple[str, ObjectAttrs]] = []
    start = time.perf_counter()
    done = 0
    for i in range(keys):
        batch.append((f"dir{i // per_dir:04d}/file{i % per_dir:04d}", attrs(i)))
        if len(batch) == 20_000 or i == keys - 1:
            done += await svc.put_objects_bulk("big", batch)
            batch = []
            if done % 200_000 == 0 or done == keys:
                print(f"  populated {done} keys in {time.perf_counter() - start:.0f}s", flush=True)


async def walk(
    list_page: Callable[[str | None], Awaitable[tuple[int, str | None]]],
    seconds: float,
    limit: int,
    label: str,
) -> None:
    token: str | None = None
    pages = entries = 0
    start = time.perf_counter()
    while pages < limit and time.perf_counter() - start < seconds:
        n, token = await list_page(token)
        pages += 1
        entries += n
    elapsed = time.perf_counter() - start
    print(
        f"{label:<58} {pages / elapsed:10.1f}/s  ({pages} pages, {entries} entries, {elapsed:.2f}s)",
        flush=True,
    )


async def main(args: argparse.Namespace) -> None:
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="cairn-meta-bench-"))
    config = MetadataConfig(data_dir=data_dir, shards=args.shards, synchronous=args.synchronous)
    svc = await MetadataService.open(config)
    server, port = await start_server(svc, "127.0.0.1", 0)
    client = MetadataClient(f"127.0.0.1:{port}", deadline_s=60)
    print(f"data dir {data_dir}, {args.shards} shards, synchronous={args.synchronous}")
    try:
        if "commits" not in {b.name for b in await svc.list_buckets()}:
            await svc.create_bucket("commits", "bench")
        s, cap = args.seconds, 100_000
        await timed("put, service API, sequential", s, cap, lambda i: put(svc, f"s/{i}", i))
        await timed("put, service API, 64 concurrent", s, cap, lambda i: put(svc, f"c/{i}", i), workers=64)
        await timed("put, gRPC client, sequential", s, cap, lambda i: put(client, f"gs/{i}", i))
        await timed(
            "put, gRPC client, 64 concurrent", s, cap, lambda i: put(client, f"gc/{i}", i), workers=64
        )

        if "big" not in {b.name for b in await svc.list_buckets()}:
            await svc.create_bucket("big", "bench")
            t0 = time.perf_counter()
            await populate(svc, args.keys)
            print(f"populate {args.keys} keys: {time.perf_counter() - t0:.0f}s")

        async def v2(token: str | None, delimiter: str = "", prefix: str = "") -> tuple[int, str | None]:
            page = await svc.list_objects_v2(
                "big", prefix=prefix, delimiter=delimiter, max_keys=1000, continuation_token=token
            )
            return page.key_count, page.next_continuation_token

        async def v2_grpc(token: str | None) -> tuple[int, str | None]:
            page = await client.list_objects_v2("big", max_keys=1000, continuation_token=token)
            return page.key_count, page.next_continuation_token

        s, cap = args.seconds, 10_000
        await walk(v2, s, cap, "ListObjectsV2 1000 keys/page, no delimiter, service API")
        await walk(v2_grpc, s, cap, "ListObjectsV2 1000 keys/page, no delimiter, gRPC client")
        await walk(lambda t: v2(t, "/"), s, cap, "ListObjectsV2 delimiter '/', 1000 prefixes/page (service)")
        await walk(
            lambda t: v2(t, "/", "dir1234/"), s, cap, "ListObjectsV2 prefix dir1234/ + delimiter (service)"
        )
        for where in ("dir0000/", "dir1000/", "dir1999/"):

            async def deep(token: str | None, where: str = where) -> tuple[int, str | None]:
                page = await svc.list_objects_v2("big", max_keys=1000, start_after=where)
                return page.key_count, None

            await walk(deep, min(s, 2), cap, f"ListObjectsV2 one page starting after {where}")
    finally:
        await client.close()
        await server.stop(0)
        await svc.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--synchronous", default="FULL")
    parser.add_argument("--data-dir", default="")
    asyncio.run(main(parser.parse_args()))
