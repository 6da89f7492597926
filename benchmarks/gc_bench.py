"""Space comes back: PUT `--gib` GiB, delete it, run GC and compaction; disk usage, times, MB/s, latency.

Starts its own `cairn up` (12 data nodes, 8+4) in a temporary directory (or `--data-dir`) with the
gc service's timers and the data nodes' compaction timer off, so only this script's passes act,
compaction of any volume with dead bytes (`min_dead_bytes` 0; a pass seals a mostly dead
read-write volume first), and the data nodes' volume size (1 GiB) unless `--volume-mib` sets
it. Then:
1. data node disk usage at the start: the volume files' bytes (each node's Stat) and the bytes
   the data node directories take on disk (allocated blocks, index and all);
2. PUT of `--gib` GiB in `--object-mib` MiB objects, `--concurrency` at a time (time, MiB/s),
   and the usage then;
3. foreground latency for `--probe-s` seconds with nothing else running (baseline): a GET of a
   1 MiB object and a PUT of a 64 KiB one, one after the other, in a thread;
4. DELETE of every object (time);
5. one GC pass (`RunOnce(["reclaim"])`: the shards of every deleted blob on every node) while
   the probe runs: time, object MiB/s reclaimed, shards deleted;
6. one compaction pass (`RunOnce(["compaction"])`: every data node, one at a time) while the
   probe runs: time, MiB/s of volume bytes given back;
7. the usage at the end, and whether it is within `--tolerance` (5%) of the bytes the PUTs
   added above the start, for both measures.

`python benchmarks/gc_bench.py [--gib 1] [--object-mib 16] [--volume-mib N]` prints a table and
the JSON document (also to `--json-out FILE`); exit status 1 when usage did not come back within
the tolerance or a pass failed. Every loop is bounded; the cluster is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from repair_bench import (
    Cluster,
    Probe,
)  # the same `cairn up` wrapper and probe (adds the repository to sys.path)

from cairn import rpc
from cairn.datanode.client import DataNodeClient
from cairn.gc.client import GcClient
from cairn.gc.worker import PassResult
from cairn.mtls import ClusterPki
from cairn.placement.client import PlacementClient

MiB = 1 << 20


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gib", type=float, default=1.0, help="GiB of objects to PUT (default 1)")
    p.add_argument("--object-mib", type=int, default=16, help="object size (default 16)")
    p.add_argument("--concurrency", type=int, default=4, help="PUTs and DELETEs at a time (default 4)")
    p.add_argument(
        "--volume-mib", type=float, help="data node volume size limit (default: the node's, 1 GiB)"
    )
    p.add_argument("--probe-s", type=float, default=10.0, help="baseline latency probe seconds (default 10)")
    p.add_argument("--tolerance", type=float, default=0.05, help="allowed usage left, of what the PUTs added")
    p.add_argument("--data-dir", type=Path, help="cluster directory (default: a temporary one)")
    p.add_argument("--json-out", type=Path)
    return p.parse_args()


def disk_bytes(path: Path) -> int:
    """Bytes the files under `path` take on disk (allocated blocks)."""
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file())


def usage(cluster: Cluster) -> dict[str, int]:
    async def volume_bytes() -> int:
        placement = PlacementClient([p["addr"] for p in cluster.procs("placement")])
        try:
            cmap = await placement.cluster_map()
        finally:
            await placement.close()

        async def one(addr: str) -> int:
            client = DataNodeClient(addr)
            try:
                return (await client.stat(timeout=60)).used_bytes
            finally:
                await client.close()

        return sum(await asyncio.gather(*(one(n.addr) for n in cmap.nodes.values())))

    on_disk = sum(disk_bytes(Path(p["data_dir"])) for p in cluster.procs("datanode"))
    return {"volume_bytes": asyncio.run(volume_bytes()), "disk_bytes": on_disk}


def run_pass(cluster: Cluster, worker: str) -> PassResult:
    (gc,) = cluster.procs("gc")

    async def once() -> PassResult:
        client = GcClient(gc["addr"])
        try:
            (result,) = await client.run_once([worker], timeout=7200)
            return result
        finally:
            await client.close()

    return asyncio.run(once())


def timed_pass(cluster: Cluster, probe: Probe, worker: str) -> tuple[PassResult, float, dict[str, Any]]:
    with probe:
        t0 = time.monotonic()
        result = run_pass(cluster, worker)
        took = time.monotonic() - t0
    return result, took, probe.summary()


def main() -> int:
    args = parse_args()
    tmp = None
    data_dir = args.data_dir
    if data_dir is None:
        tmp = tempfile.mkdtemp(prefix="gc-bench-")
        data_dir = Path(tmp) / "cluster"
    env = {
        "CAIRN_GC_INTERVAL_S": "86400",
        "CAIRN_GC_REPAIR_INTERVAL_S": "86400",
        "CAIRN_DATANODE_COMPACTION_ENABLED": "0",
        "CAIRN_DATANODE_COMPACTION_MIN_DEAD_BYTES": "0",
    }
    if args.volume_mib:
        env["CAIRN_DATANODE_STORAGE_VOLUME_SIZE_LIMIT_BYTES"] = str(int(args.volume_mib * MiB))
    cluster = Cluster(data_dir, env)
    rpc.set_identity(ClusterPki(data_dir).identity("admin"))  # the cluster speaks mutual TLS
    count = max(1, round(args.gib * 1024 / args.object_mib))
    doc: dict[str, Any] = {
        "objects": count,
        "object_mib": args.object_mib,
        "volume_mib": args.volume_mib,
        "load_before": os.getloadavg(),
    }
    failed = False
    try:
        s3 = cluster.s3()
        bucket = "gc-bench"
        s3.create_bucket(Bucket=bucket)
        # the probe's PUTs overwrite 4 keys of 64 KiB: little garbage next to the GiB measured
        probe = Probe(s3, bucket, put_bytes=64 * 1024, put_keys=4)
        doc["usage_start"] = start = usage(cluster)

        body = os.urandom(args.object_mib * MiB)
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(lambda i: s3.put_object(Bucket=bucket, Key=f"o{i:05d}", Body=body), range(count)))
        put_s = time.monotonic() - t0
        doc["put"] = {"seconds": round(put_s, 1), "mib_per_s": round(count * args.object_mib / put_s, 1)}
        doc["usage_full"] = full = usage(cluster)

        with probe:
            time.sleep(args.probe_s)
        doc["latency_idle"] = probe.summary()

        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(lambda i: s3.delete_object(Bucket=bucket, Key=f"o{i:05d}"), range(count)))
        doc["delete"] = {"seconds": round(time.monotonic() - t0, 1)}

        gc, gc_s, doc["latency_during_gc"] = timed_pass(cluster, probe, "reclaim")
        doc["gc"] = {
            "seconds": round(gc_s, 1),
            "counters": gc.counters,
            "error": gc.error,
            "object_mib_per_s": round(gc.counters.get("bytes_reclaimed", 0) / MiB / gc_s, 1),
            "shards_per_s": round(gc.counters.get("shards_deleted", 0) / gc_s, 1),
        }
        doc["usage_after_gc"] = usage(cluster)
        compact, compact_s, doc["latency_during_compaction"] = timed_pass(cluster, probe, "compaction")
        doc["compaction"] = {
            "seconds": round(compact_s, 1),
            "counters": compact.counters,
            "error": compact.error,
            "mib_per_s": round(compact.counters.get("bytes_reclaimed", 0) / MiB / compact_s, 1),
        }
        doc["usage_end"] = end = usage(cluster)
        failed = bool(gc.error or compact.error)
        doc["within_tolerance"] = {}
        for measure in ("volume_bytes", "disk_bytes"):
            added = full[measure] - start[measure]
            left = end[measure] - start[measure]
            ok = left <= args.tolerance * added
            doc["within_tolerance"][measure] = {"added": added, "left": left, "ok": ok}
            failed |= not ok
        doc["load_after"] = os.getloadavg()
    finally:
        cluster.stop()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    def mib(n: int) -> str:
        return f"{n / MiB:.1f} MiB"

    print(f"PUT {count} x {args.object_mib} MiB: {doc['put']['seconds']}s, {doc['put']['mib_per_s']} MiB/s")
    print(f"DELETE: {doc['delete']['seconds']}s")
    print(
        f"GC pass: {doc['gc']['seconds']}s, {doc['gc']['object_mib_per_s']} MiB/s of objects,"
        f" {doc['gc']['shards_per_s']} shards/s {doc['gc']['counters']}"
    )
    print(
        f"compaction pass: {doc['compaction']['seconds']}s, {doc['compaction']['mib_per_s']} MiB/s given back"
        f" {doc['compaction']['counters']}"
    )
    for measure, row in doc["within_tolerance"].items():
        print(
            f"{measure}: start {mib(doc['usage_start'][measure])}, full {mib(doc['usage_full'][measure])},"
            f" after GC {mib(doc['usage_after_gc'][measure])}, end {mib(doc['usage_end'][measure])};"
            f" left {100 * row['left'] / max(1, row['added']):.2f}% of what the PUTs added"
            f" ({'ok' if row['ok'] else 'NOT within'} {100 * args.tolerance:g}%)"
        )
    for phase in ("latency_idle", "latency_during_gc", "latency_during_compaction"):
        lat = doc[phase]
        print(f"{phase}: GET 1 MiB {lat['get']}  PUT 64 KiB {lat['put']}  errors {lat['errors']}")
    print(json.dumps(doc, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(doc, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
