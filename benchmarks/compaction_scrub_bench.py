#!/usr/bin/env python3
"""Compaction and scrub throughput of one data node store, and foreground read latency meanwhile.

Run: `.venv/bin/python benchmarks/compaction_scrub_bench.py [--total-mib 256] [--shard-kib 1024]
[--dead 0.5] [--volume-mib 32] [--dir D]`.

In process, on a real disk with real fsync: opens a `DiskShardStore` in a temporary directory
(or `--dir`), writes `--total-mib` of random shards of `--shard-kib` into volumes of
`--volume-mib`, deletes the fraction `--dead` of them (a seeded random sample, so each sealed
volume is about that dead), then times, with the rate limits off:
- one compaction pass (threshold 0): MB/s of source volume bytes walked, and of live bytes copied;
- one scrub pass: MB/s of bytes read and verified.
Meanwhile one reader reads random live shards in full (latency p50/p99 in ms, also measured
alone first, as the baseline). Every live shard is read back and compared at the end. MB = 10^6
bytes. Prints a table and a JSON document (`--json-out FILE` also writes it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any, TypeVar

from cairn.checksums import crc32c
from cairn.datanode.compaction import Compactor
from cairn.datanode.config import CompactionConfig, ScrubConfig, StorageConfig
from cairn.datanode.scrub import Scrubber
from cairn.datanode.shards import ShardKey
from cairn.datanode.store import DiskShardStore

T = TypeVar("T")
MIB = 2**20


async def pieces(data: bytes, size: int = 256 * 1024) -> AsyncIterator[tuple[bytes, int]]:
    for i in range(0, len(data), size):
        yield data[i : i + size], crc32c(data[i : i + size])


async def read(store: DiskShardStore, k: ShardKey) -> bytes:
    opened = await store.open_read(k)
    return b"".join([c async for c in opened.chunks])


async def timed_with_reader(
    store: DiskShardStore, live: list[ShardKey], work: Awaitable[T] | None, seconds: float = 0.0
) -> tuple[T | None, float, list[float]]:
    """Run `work` (or sleep `seconds`) while one reader reads random live shards."""
    latencies: list[float] = []
    stop = asyncio.Event()
    rng = random.Random(1)

    async def reader() -> None:
        while not stop.is_set():
            start = time.perf_counter()
            await read(store, rng.choice(live))
            latencies.append((time.perf_counter() - start) * 1000)

    task = asyncio.create_task(reader())
    start = time.perf_counter()
    result = await work if work is not None else await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - start
    stop.set()
    await task
    return result, elapsed, latencies


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def run(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    storage = StorageConfig(
        volume_size_limit_bytes=args.volume_mib * MIB, writer_lanes=2, group_commit_window_ms=0.0
    )
    store = await DiskShardStore.open(directory, storage, 1 << 40)
    shard = args.shard_kib * 1024
    count = max(1, args.total_mib * MIB // shard)
    datas: dict[ShardKey, bytes] = {}
    for i in range(count):
        k = ShardKey(os.urandom(16), i % 12)
        datas[k] = os.urandom(shard)
        await store.write(k, i % 64, pieces(datas[k]))
    dead = random.Random(2).sample(list(datas), round(args.dead * count))
    await store.delete(dead)
    live = [k for k in datas if k not in set(dead)]
    used_before = store.used_bytes

    _, _, baseline = await timed_with_reader(store, live, None, seconds=2.0)

    compactor = Compactor(store, CompactionConfig(dead_fraction=0.0, min_dead_bytes=0, rate_mib_s=0))
    results, compact_s, during_compaction = await timed_with_reader(store, live, compactor.run_pass())
    assert results is not None
    walked = sum(r.source_bytes for r in results)
    copied = sum(r.target_bytes for r in results)

    scrubber = Scrubber(store, ScrubConfig(rate_mib_s=0))
    scrubbed, scrub_s, during_scrub = await timed_with_reader(store, live, scrubber.run_pass())
    assert scrubbed is not None
    scrub_bytes = sum(v.bytes for v in scrubbed.volumes)

    for k in live:
        if await read(store, k) != datas[k]:
            raise SystemExit(f"shard {k} read back wrong after compaction")
    report = {
        "shards": count,
        "shard_bytes": shard,
        "dead_fraction": len(dead) / count,
        "volumes_compacted": len(results),
        "outcomes": sorted({r.outcome for r in results}),
        "used_bytes_before": used_before,
        "used_bytes_after": store.used_bytes,
        "compaction_seconds": round(compact_s, 3),
        "compaction_source_MBps": round(walked / compact_s / 1e6, 1),
        "compaction_copied_MBps": round(copied / compact_s / 1e6, 1),
        "scrub_seconds": round(scrub_s, 3),
        "scrub_MBps": round(scrub_bytes / scrub_s / 1e6, 1),
        "scrub_findings": scrubbed.findings,
        "read_ms_p50_p99": {
            "alone": [round(pct(baseline, 50), 2), round(pct(baseline, 99), 2)],
            "during_compaction": [round(pct(during_compaction, 50), 2), round(pct(during_compaction, 99), 2)],
            "during_scrub": [round(pct(during_scrub, 50), 2), round(pct(during_scrub, 99), 2)],
        },
    }
    await store.close()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--total-mib", type=int, default=256, help="MiB of shards written (default 256)")
    parser.add_argument("--shard-kib", type=int, default=1024, help="shard size in KiB (default 1024)")
    parser.add_argument("--dead", type=float, default=0.5, help="fraction of shards deleted (default 0.5)")
    parser.add_argument("--volume-mib", type=int, default=32, help="volume size limit in MiB (default 32)")
    parser.add_argument("--dir", type=Path, help="data directory (default: a temporary one)")
    parser.add_argument("--json-out", type=Path, help="also write the JSON report here")
    args = parser.parse_args()
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
        report = asyncio.run(run(args, args.dir))
    else:
        with tempfile.TemporaryDirectory(prefix="cairn-compaction-bench-") as tmp:
            report = asyncio.run(run(args, Path(tmp)))
    width = max(len(k) for k in report)
    for name, value in report.items():
        print(f"{name:<{width}}  {value}")
    text = json.dumps(report, indent=2)
    print(text)
    if args.json_out is not None:
        args.json_out.write_text(text + "\n")


if __name__ == "__main__":
    main()
