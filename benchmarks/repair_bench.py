"""Time to rebuild a wiped data node, its MiB/s, and foreground GET/PUT latency while it runs.

Starts its own `cairn up` (12 data nodes, 8+4) in a temporary directory (or `--data-dir`), fills
it through S3 with `--object-mib` objects until one data node holds about `--node-gib` GiB of
shards (the cluster then holds 8x that of object bytes), measures 1 MiB GET and PUT latency for
`--probe-s` seconds (baseline), wipes one data node's directory (SIGSTOP, empty it, SIGKILL:
`cairn up` restarts it empty and it re-registers under its id), then runs one pass of the
background service's repair worker (`RunOnce(["repair"])` as the cluster's admin identity: the
internal gRPC calls are mutual TLS; throttle from `--mb-per-s`, 0: none)
while the same GET/PUT probe runs, and reports:
- repair wall time, shards and bytes rebuilt, MiB/s of rebuilt shard bytes;
- CPU seconds of the gc process and of the data nodes during the pass (from /proc), and the
  machine's load average before the fill and after the pass;
- GET/PUT latency p50/p99/max before and during the pass;
- with `--profile DIR`: `py-spy record` of the gc process during the pass (raw collapsed stacks),
  and the functions with the most samples of their own.

`python benchmarks/repair_bench.py --node-gib 0.5 [--mb-per-s 0] [--profile /tmp/repair-prof]`
prints a table, then the JSON document (also to `--json-out FILE`). Every loop is bounded by a
count or a duration; the cluster is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cairn import rpc  # noqa: E402
from cairn.gc.client import GcClient  # noqa: E402
from cairn.mtls import ClusterPki  # noqa: E402
from cairn.placement.client import PlacementClient  # noqa: E402

MiB = 1 << 20
WIPED = "dn-0001"
READY_TIMEOUT_S = 300.0


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--node-gib", type=float, default=0.5, help="GiB of shards on the wiped node (default 0.5)"
    )
    p.add_argument("--object-mib", type=int, default=64, help="object size for the fill (default 64)")
    p.add_argument("--fill-concurrency", type=int, default=4)
    p.add_argument("--mb-per-s", type=float, default=0.0, help="repair throttle, MiB/s (default 0: none)")
    p.add_argument("--concurrency", type=int, default=4, help="repair worker concurrency (default 4)")
    p.add_argument("--probe-s", type=float, default=10.0, help="baseline latency probe seconds")
    p.add_argument("--data-dir", type=Path, help="cluster directory (default: a temporary one)")
    p.add_argument("--profile", type=Path, metavar="DIR", help="py-spy the gc process during repair")
    p.add_argument("--json-out", type=Path)
    return p.parse_args()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Cluster:
    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cairn", "up", "--data-dir", str(data_dir), "--port", str(free_port())],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=open(data_dir.parent / f"{data_dir.name}-up.log", "w"),  # noqa: SIM115
            start_new_session=True,
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self._ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("cairn up did not become ready")
            time.sleep(0.5)

    def _ready(self) -> bool:
        try:
            return bool(self.doc().get("ready"))
        except (OSError, ValueError):
            return False

    def doc(self) -> dict[str, Any]:
        return json.loads((self.data_dir / "cluster.json").read_text())

    def procs(self, role: str) -> list[dict[str, Any]]:
        return [p for p in self.doc()["processes"] if p["role"] == role]

    def s3(self) -> Any:
        import boto3
        from botocore.config import Config

        doc = self.doc()
        creds = json.loads(Path(doc["credentials_file"]).read_text())
        return boto3.client(
            "s3",
            endpoint_url=doc["endpoint"],
            aws_access_key_id=creds["access_key_id"],
            aws_secret_access_key=creds["secret_access_key"],
            region_name=doc.get("region", "us-east-1"),
            config=Config(retries={"max_attempts": 1}, max_pool_connections=16, read_timeout=300),
        )

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


def node_states(cluster: Cluster) -> dict[str, str]:
    async def read() -> dict[str, str]:
        client = PlacementClient([p["addr"] for p in cluster.procs("placement")])
        try:
            cmap = await client.cluster_map()
            return {n.id: str(n.state) for n in cmap.nodes.values()}
        finally:
            await client.close()

    return asyncio.run(read())


def wipe(cluster: Cluster, name: str) -> None:
    proc = next(p for p in cluster.procs("datanode") if p["name"] == name)
    os.kill(proc["pid"], signal.SIGSTOP)
    for entry in Path(proc["data_dir"]).iterdir():
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    os.kill(proc["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        now = next(p for p in cluster.procs("datanode") if p["name"] == name)
        if now["pid"] != proc["pid"] and (Path(proc["data_dir"]) / "node_id").exists():
            if node_states(cluster).get(name) == "up":
                return
        time.sleep(0.5)
    raise RuntimeError(f"{name} did not come back")


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class Probe:
    """GET of a 1 MiB object and PUT of a `put_bytes` one (over `put_keys` keys), one after the
    other, in a thread, while entered (each `with` starts the figures afresh)."""

    def __init__(self, s3: Any, bucket: str, put_bytes: int = MiB, put_keys: int = 16) -> None:
        self.s3, self.bucket = s3, bucket
        self.body = os.urandom(MiB)
        self.put_body = os.urandom(put_bytes)
        self.put_keys = put_keys
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
                if got != self.body:
                    self.errors += 1
                t0 = time.perf_counter()
                self.s3.put_object(
                    Bucket=self.bucket, Key=f"probe-put-{n % self.put_keys}", Body=self.put_body
                )
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

        return {"get": q(self.get), "put": q(self.put), "errors": self.errors}


def top_frames(raw: Path, limit: int = 15) -> list[tuple[str, int]]:
    """Functions with the most samples of their own in py-spy's raw (collapsed stacks) output."""
    own: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            own[stack.split(";")[-1]] += int(count)
    return own.most_common(limit)


def main() -> int:
    args = parse_args()
    tmp = None
    data_dir = args.data_dir
    if data_dir is None:
        tmp = tempfile.mkdtemp(prefix="repair-bench-")
        data_dir = Path(tmp) / "cluster"
    env = {
        "CAIRN_GC_REPAIR_INTERVAL_S": "86400",
        "CAIRN_GC_INTERVAL_S": "86400",
        "CAIRN_GC_REPAIR_MB_PER_S": str(args.mb_per_s),
        "CAIRN_GC_REPAIR_CONCURRENCY": str(args.concurrency),
    }
    cluster = Cluster(data_dir, env)
    rpc.set_identity(ClusterPki(data_dir).identity("admin"))  # the cluster speaks mutual TLS
    doc: dict[str, Any] = {
        "node_gib_target": args.node_gib,
        "mb_per_s_limit": args.mb_per_s,
        "load_before": os.getloadavg(),
    }
    try:
        s3 = cluster.s3()
        bucket = "repair-bench"
        s3.create_bucket(Bucket=bucket)
        body = os.urandom(args.object_mib * MiB)
        count = max(1, int(args.node_gib * 8 * 1024 / args.object_mib))
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(args.fill_concurrency) as pool:
            list(
                pool.map(lambda i: s3.put_object(Bucket=bucket, Key=f"fill-{i:05d}", Body=body), range(count))
            )
        fill_s = time.monotonic() - t0
        wiped_dir = Path(next(p for p in cluster.procs("datanode") if p["name"] == WIPED)["data_dir"])
        doc["fill"] = {
            "objects": count,
            "object_mib": args.object_mib,
            "seconds": round(fill_s, 1),
            "mib_per_s": round(count * args.object_mib / fill_s, 1),
            "wiped_node_bytes": dir_bytes(wiped_dir),
        }
        with Probe(s3, bucket) as probe:
            time.sleep(args.probe_s)
        doc["latency_before"] = probe.summary()

        wipe(cluster, WIPED)
        (gc,) = cluster.procs("gc")
        nodes = {p["name"]: p["pid"] for p in cluster.procs("datanode")}
        cpu_before = {"gc": cpu_s(gc["pid"]), **{n: cpu_s(pid) for n, pid in nodes.items()}}
        spy = None
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
            spy = subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(gc["pid"]),
                    "--format",
                    "raw",
                    "--nonblocking",
                    "--rate",
                    "50",
                ]
                + ["-o", str(args.profile / "gc.txt")],
                stdout=subprocess.DEVNULL,
                stderr=open(args.profile / "py-spy.log", "w"),  # noqa: SIM115
            )
            time.sleep(2)

        async def repair() -> Any:
            client = GcClient(gc["addr"])
            try:
                return await client.run_once(["repair"], timeout=7200)
            finally:
                await client.close()

        with Probe(s3, bucket) as probe:
            t0 = time.monotonic()
            (result,) = asyncio.run(repair())
            repair_s = time.monotonic() - t0
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=120)
        cpu = {"gc": cpu_s(gc["pid"]) - cpu_before["gc"]}
        cpu["datanodes"] = sum(cpu_s(pid) - cpu_before[n] for n, pid in nodes.items() if n != WIPED)
        rebuilt = result.counters.get("bytes_rebuilt", 0) + result.counters.get("bytes_copied", 0)
        doc["repair"] = {
            "seconds": round(repair_s, 1),
            "counters": result.counters,
            "error": result.error,
            "bytes_rebuilt": rebuilt,
            "mib_per_s": round(rebuilt / MiB / repair_s, 1),
            "cpu_s": {k: round(v, 1) for k, v in cpu.items()},
            "wiped_node_bytes_after": dir_bytes(wiped_dir),
            "load_after": os.getloadavg(),
        }
        doc["latency_during"] = probe.summary()
        if args.profile and (args.profile / "gc.txt").exists():
            doc["gc_top_own_samples"] = top_frames(args.profile / "gc.txt")
    finally:
        cluster.stop()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    r = doc["repair"]
    print(f"fill: {doc['fill']['objects']} x {args.object_mib} MiB in {doc['fill']['seconds']}s")
    print(f"wiped node held {doc['fill']['wiped_node_bytes'] / MiB:.0f} MiB on disk")
    print(
        f"repair: {r['bytes_rebuilt'] / MiB:.0f} MiB of shards in {r['seconds']}s = {r['mib_per_s']} MiB/s; "
        f"CPU gc {r['cpu_s']['gc']}s, data nodes {r['cpu_s']['datanodes']}s; "
        f"load average {doc['load_before'][0]:.1f} before, {r['load_after'][0]:.1f} after"
    )
    for phase in ("latency_before", "latency_during"):
        lat = doc[phase]
        print(f"{phase}: GET {lat['get']}  PUT {lat['put']}  errors {lat['errors']}")
    print(json.dumps(doc, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(doc, indent=2))
    return 0 if not r["error"] else 1


if __name__ == "__main__":
    sys.exit(main())
