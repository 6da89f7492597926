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
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from repair_bench import Cluster  # the same `cairn up` wrapper (adds the repository to sys.path)

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


class Probe:
    """GET of a 1 MiB object and PUT of a 64 KiB one, one after the other, until stopped (the
    PUTs overwrite 4 keys: their old versions are little garbage next to the GiB measured)."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3, self.bucket = s3, bucket
        self.body = os.urandom(MiB)
        self.small = os.urandom(64 * 1024)
        s3.put_object(Bucket=bucket, Key="probe-get", Body=self.body)
        self.get: list[float] = []
        self.put: list[float] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set() and n < 100_000:
            n += 1
            try:
                t0 = time.perf_counter()
                got = self.s3.get_object(Bucket=self.bucket, Key="probe-get")["Body"].read()
                self.get.append(time.perf_counter() - t0)
                self.errors += got != self.body
                t0 = time.perf_counter()
                self.s3.put_object(Bucket=self.bucket, Key=f"probe-put-{n % 4}", Body=self.small)
                self.put.append(time.perf_counter() - t0)
            except Exception:  # noqa: BLE001 - counted; the probe measures, it does not stop
                self.errors += 1
            time.sleep(0.05)

    def __enter__(self) -> Probe:
        self.get, self.put, self.errors = [], [], 0
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)

    def summary(self) -> dict[str, Any]:
        def q(xs: list[float]) -> dict[str, float | int]:
            if not xs:
                return {"n": 0}
            xs = sorted(xs)
            return {
                "n": len(xs),
                "p50_ms": round(1000 * statistics.median(xs), 1),
                "p99_ms": round(1000 * xs[min(len(xs) - 1, int(0.99 * len(xs)))], 1),
                "max_ms": round(1000 * xs[-1], 1),
            }

        return {"get_1mib": q(self.get), "put_64kib": q(self.put), "errors": self.errors}


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
        probe = Probe(s3, bucket)
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
        print(f"{phase}: GET 1 MiB {lat['get_1mib']}  PUT 64 KiB {lat['put_64kib']}  errors {lat['errors']}")
    print(json.dumps(doc, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(doc, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
