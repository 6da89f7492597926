"""The background service (cairn.gc) reclaims space on a real `cairn up` cluster.

Shards are counted on the data nodes themselves (ListShards of every PG on every node), and
the service is driven the way an operator does: `cairn admin gc run --once` / `gc status`.
The cluster runs with short write intents and a short multipart age, and the service's
timer is set far out so only the CLI's passes act:
- deleting objects and running one GC pass removes exactly their shards; the others read back;
- shards no metadata knows are deleted by the orphan sweep once seen for the grace, and only they;
- after deleting what was put, one pass (GC, then compaction on every node) brings the data
  nodes' disk usage back to within 5% of the bytes the PUTs added;
- two gc processes on one cluster: only the lease holder's workers act, the other's passes wait;
  after a kill -9 of the holder the other takes over within the lease's TTL;
- kill -9 of the gc service in the middle of a reclaim pass and of an orphan sweep (seen in
  progress on the data nodes): after the restart the next passes delete the rest and nothing else;
- kill -9 of the API in the middle of a 100 MiB PUT and of a multipart upload, plus a blob
  whose shards were written by an API that died before recording its commit: after the intent
  expiry and one GC pass, no shard written since is left on any node.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any, TypeVar

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cairn.datanode.client import DataNodeClient, ShardKey
from cairn.ids import new_blob_id
from cairn.metadata.client import MetadataClient
from cairn.mtls import ClusterPki
from tests.support import raw_http
from tests.support.cluster import RunningCluster, start_cluster
from tests.support.procs import ServiceProcess, free_port, port_open, wait_for
from tests.support.shards import cluster_map, live_shards, retrying, used_bytes

pytestmark = pytest.mark.slow

MiB = 1 << 20
INTENT_TTL_S = 8.0
MULTIPART_MAX_AGE_S = 8.0
ORPHAN_GRACE_S = 5.0
LEASE_TTL_S = 10.0  # the gc service's lease (renewed every third of it)
RECLAIM_BLOBS_PER_S = 12
ORPHAN_SHARDS_PER_S = 60

LiveShards = set[tuple[str, ShardKey]]
T = TypeVar("T")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCluster]:
    env = {
        "CAIRN_METADATA_INTENT_TTL_S": str(INTENT_TTL_S),
        "CAIRN_GC_MULTIPART_MAX_AGE_S": str(MULTIPART_MAX_AGE_S),
        "CAIRN_GC_INTERVAL_S": "3600",
        "CAIRN_GC_REPAIR_INTERVAL_S": "3600",
        "CAIRN_GC_ORPHAN_GRACE_S": str(ORPHAN_GRACE_S),
        "CAIRN_GC_REPAIR_LEASE_TTL_S": str(LEASE_TTL_S),
        # slow enough that a pass over the interruption tests' work is seen in progress
        "CAIRN_GC_MAX_BLOBS_PER_S": str(RECLAIM_BLOBS_PER_S),
        "CAIRN_GC_ORPHAN_SHARDS_PER_S": str(ORPHAN_SHARDS_PER_S),
        # small volumes, sealed soon, compacted by the GC's trigger only (no node timer)
        "CAIRN_DATANODE_STORAGE_VOLUME_SIZE_LIMIT_BYTES": str(256 * 1024),
        "CAIRN_DATANODE_COMPACTION_ENABLED": "0",
        "CAIRN_DATANODE_COMPACTION_DEAD_FRACTION": "0.5",
        "CAIRN_DATANODE_COMPACTION_MIN_DEAD_BYTES": "0",
        "CAIRN_DATANODE_COMPACTION_RATE_MIB_S": "0",
    }
    running = start_cluster(tmp_path_factory.mktemp("cairn-gc"), env=env)
    try:
        yield running
    finally:
        running.stop()


def admin(cluster: RunningCluster, *args: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "cairn", "admin", *args, "--json", "--data-dir", str(cluster.data_dir)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def reclaim_counters(doc: dict[str, Any]) -> dict[str, int]:
    return _worker(doc, "reclaim")


def test_deleted_objects_shards_are_reclaimed(cluster: RunningCluster) -> None:
    s3 = cluster.s3_client(read_timeout=60)
    bucket = f"gc-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    bodies = {f"k{i}": os.urandom(MiB + i) for i in range(4)}
    before = live_shards(cluster)
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    written = live_shards(cluster) - before
    blobs = {key.blob_id for _, key in written}
    assert len(blobs) == 4 and len(written) >= 4 * 9  # each PUT wrote at least its quorum

    for key in ("k0", "k1"):
        s3.delete_object(Bucket=bucket, Key=key)
    counters = reclaim_counters(admin(cluster, "gc", "run", "--once"))
    assert counters["blobs_reclaimed"] == 2 and counters.get("blobs_pending", 0) == 0

    left = live_shards(cluster) & written
    kept = {key.blob_id for _, key in left}
    assert len(kept) == 2  # the two deleted blobs lost every shard, the two others lost none
    assert left == {(n, k) for n, k in written if k.blob_id in kept}
    assert counters["shards_deleted"] == len(written - left)
    for key in ("k2", "k3"):
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == bodies[key]

    status = {w["name"]: w for w in admin(cluster, "gc", "status")["workers"]}
    assert status["reclaim"]["passes"] >= 1 and status["reclaim"]["totals"]["blobs_reclaimed"] >= 2
    assert status["reclaim"]["backlog"].get("queued_blobs", 0) == 0
    assert status["uploads"]["passes"] >= 1

    # the same on the gc service's ops endpoint, whose address cairn up keeps in cluster.json
    (gc,) = cluster.processes("gc")
    metrics = scrape(gc["ops_addr"])
    assert metrics[("cairn_gc_work_total", (("counter", "blobs_reclaimed"), ("worker", "reclaim")))] >= 2
    assert metrics[("cairn_gc_backlog", (("item", "queued_blobs"), ("worker", "reclaim")))] == 0
    assert metrics[("cairn_gc_bytes_reclaimed_total", ())] >= 2 * MiB
    assert metrics[("cairn_gc_passes_total", (("worker", "reclaim"),))] >= 1
    assert metrics[("cairn_gc_lease_held", ())] == 1
    with urllib.request.urlopen(f"http://{gc['ops_addr']}/cairn/health/ready", timeout=30) as ready:
        assert ready.status == 200 and json.loads(ready.read())["lease_held"] is True


def scrape(addr: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(name, sorted labels) -> value of every sample on http://addr/metrics."""
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=60) as reply:
        text = reply.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _shards_of_a_dead_writer(
    cluster: RunningCluster, bucket: str, *, intent: bool = True, blobs: int = 1, size: int = 64 * 1024
) -> None:
    """What an API does before it dies between writing a blob and committing it: the write
    intent, then all 12 shards on the PG's nodes (`blobs` times). Without the intent: shards no
    metadata ever named (a writer that never got that far, a node's leftovers). Written with the
    S3 API's certificate, as that API would."""
    cluster.act_as("api")

    async def write() -> None:
        metadata = MetadataClient(",".join(p["addr"] for p in cluster.processes("metadata")))
        cmap = await cluster_map(cluster)
        clients = {n.addr: DataNodeClient(n.addr) for n in cmap.nodes.values()}
        try:
            for _ in range(blobs):
                blob_id = new_blob_id()
                pg = cmap.pg_of(blob_id)
                if intent:
                    await metadata.record_write_intent(bucket, "orphan", blob_id, pg)

                async def one(
                    index: int, client: DataNodeClient, blob_id: bytes = blob_id, pg: int = pg
                ) -> None:
                    data = os.urandom(size)

                    async def piece() -> Any:
                        yield data

                    # writing a shard is idempotent: a connect that timed out is tried again
                    await retrying(lambda: client.write_shard(ShardKey(blob_id, index), pg, piece()))

                nodes = cmap.nodes_of(pg)
                await asyncio.gather(*(one(i, clients[n.addr]) for i, n in enumerate(nodes) if n is not None))
        finally:
            for client in clients.values():
                await client.close()
            await metadata.close()

    asyncio.run(write())


def _worker(doc: dict[str, Any], name: str) -> dict[str, int]:
    (result,) = [r for r in doc["results"] if r["worker"] == name]
    assert result["error"] == ""
    counters: dict[str, int] = result["counters"]
    return counters


def test_orphan_shards_are_swept_after_the_grace(cluster: RunningCluster) -> None:
    s3 = cluster.s3_client(read_timeout=60)
    bucket = f"gc-orphan-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    body = os.urandom(2 * MiB)
    s3.put_object(Bucket=bucket, Key="kept", Body=body)
    before = live_shards(cluster)
    _shards_of_a_dead_writer(cluster, bucket, intent=False)
    orphans = live_shards(cluster) - before
    assert len(orphans) == 12

    first = _worker(admin(cluster, "gc", "run", "--once", "--worker", "orphans"), "orphans")
    assert first["orphans_found"] == 12 and first.get("orphans_deleted", 0) == 0  # within the grace
    assert first["shards_listed"] >= len(before) + 12
    status = {w["name"]: w for w in admin(cluster, "gc", "status")["workers"]}
    assert status["orphans"]["backlog"]["orphan_candidates"] == 12

    time.sleep(ORPHAN_GRACE_S + 0.5)
    second = _worker(admin(cluster, "gc", "run", "--once", "--worker", "orphans"), "orphans")
    assert second["orphans_deleted"] == 12 and second["orphan_bytes_deleted"] == 12 * 64 * 1024
    after = live_shards(cluster)
    assert after & orphans == set() and before <= after  # the orphans went, nothing known did
    assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == body


def test_api_killed_mid_put_and_mid_multipart_leaves_no_orphan_shard(cluster: RunningCluster) -> None:
    s3 = cluster.s3_client(read_timeout=120, connect_timeout=5)
    bucket = f"gc-kill-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    before = live_shards(cluster)

    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mpu")["UploadId"]
    for number in (1, 2):
        s3.upload_part(
            Bucket=bucket, Key="mpu", UploadId=upload_id, PartNumber=number, Body=os.urandom(5 * MiB)
        )
    _shards_of_a_dead_writer(cluster, bucket)
    started = time.monotonic()

    # two requests cut in the middle: each head announces the whole body, half of it is sent
    # (sendall returns once the API has taken most of it in), then the API is killed
    credentials = (cluster.access_key, cluster.secret_key)
    socks = []
    for path, size in (
        (f"/{bucket}/big", 100 * MiB),
        (f"/{bucket}/mpu?partNumber=3&uploadId={upload_id}", 32 * MiB),
    ):
        sock = raw_http.connect(cluster.endpoint, timeout=60)
        head = raw_http.signed_head(
            cluster.endpoint, "PUT", path, {"Content-Length": str(size)}, credentials, cluster.region
        )
        sock.sendall(head)
        socks.append((sock, size))
    for sock, size in socks:
        sock.sendall(os.urandom(size // 2))
    (api,) = cluster.processes("api")
    os.kill(api["pid"], signal.SIGKILL)
    for sock, _ in socks:
        sock.close()

    written = live_shards(cluster) - before
    assert len(written) >= 2 * 9 + 12  # two committed parts and the dead writer's blob at least
    time.sleep(max(0.0, started + max(INTENT_TTL_S, MULTIPART_MAX_AGE_S) + 1 - time.monotonic()))

    t0 = time.monotonic()
    doc = admin(cluster, "gc", "run", "--once")
    took = time.monotonic() - t0
    assert _worker(doc, "uploads").get("uploads_aborted", 0) >= 1
    counters = reclaim_counters(doc)
    # the dead writer's intent at least (the killed requests' intents exist only if the API got
    # that far before the kill; no shard is written before its intent)
    assert counters.get("blobs_pending", 0) == 0 and counters["intents_reclaimed"] >= 1

    left = live_shards(cluster) - before
    print(f"orphan shards before GC: {len(written)}, after: {len(left)}, GC pass {took:.2f}s, {counters}")
    assert left == set()
    assert counters["shards_deleted"] == len(written)

    # the restarted API sees neither the killed PUT nor the abandoned upload
    wait_for(lambda: _api_back(cluster), 60, "the API to be restarted")
    s3 = cluster.s3_client(read_timeout=60)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)


def _api_back(cluster: RunningCluster) -> bool:
    try:
        cluster.s3_client(connect_timeout=2, read_timeout=5).list_buckets()
        return True
    except Exception:  # noqa: BLE001 - not answering yet
        return False


def test_space_comes_back_after_delete_gc_and_compaction(cluster: RunningCluster) -> None:
    s3 = cluster.s3_client(read_timeout=60)
    bucket = f"gc-space-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    start = used_bytes(cluster)
    t0 = time.monotonic()
    for i in range(64):
        s3.put_object(Bucket=bucket, Key=f"o{i}", Body=os.urandom(MiB))
    put_s = time.monotonic() - t0
    full = used_bytes(cluster)
    for i in range(64):
        s3.delete_object(Bucket=bucket, Key=f"o{i}")
    t0 = time.monotonic()
    doc = admin(cluster, "gc", "run", "--once")
    gc_s = time.monotonic() - t0
    end = used_bytes(cluster)
    added = full - start
    print(
        f"disk: {start} B before, {full} B after 64 MiB of PUTs ({put_s:.1f}s), {end} B after delete + one"
        f" GC pass ({gc_s:.1f}s: {_worker(doc, 'reclaim')}, {_worker(doc, 'compaction')})"
    )
    assert _worker(doc, "reclaim")["blobs_reclaimed"] >= 64
    assert _worker(doc, "compaction")["volumes_compacted"] > 0
    assert added >= 64 * MiB * 12 // 8  # the shards of 64 MiB at 8+4
    assert end <= start + 0.05 * added


def second_gc(cluster: RunningCluster, log_dir: Any) -> tuple[ServiceProcess, str]:
    """Another `python -m cairn.gc` on the cluster's services, with the gc role's certificate."""
    assert cluster.data_dir is not None
    port = free_port()
    placement = ",".join(p["addr"] for p in cluster.processes("placement"))
    metadata = ",".join(p["addr"] for p in cluster.processes("metadata"))
    args = ["--port", str(port), "--placement", placement, "--metadata", metadata]
    args += ["--interval-s", "3600", "--repair-interval-s", "3600"]
    env = {
        **dict(ClusterPki(cluster.data_dir).identity("gc").env()),
        "CAIRN_GC_REPAIR_LEASE_TTL_S": str(LEASE_TTL_S),
        # slow enough that a pass over the interruption tests' work is seen in progress
        "CAIRN_GC_MAX_BLOBS_PER_S": str(RECLAIM_BLOBS_PER_S),
        "CAIRN_GC_ORPHAN_SHARDS_PER_S": str(ORPHAN_SHARDS_PER_S),
    }
    proc = ServiceProcess("cairn.gc", args, log_dir / f"gc-{port}.log", env=env).start()
    wait_for(lambda: port_open(port), 60, "the second gc service to listen")
    return proc, f"127.0.0.1:{port}"


def test_one_gc_instance_acts_and_another_takes_over_after_kill9(
    cluster: RunningCluster, tmp_path: Any
) -> None:
    s3 = cluster.s3_client(read_timeout=60)
    bucket = f"gc-lease-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    admin(cluster, "gc", "run", "--once", "--worker", "uploads")  # cairn up's instance holds the lease
    other, other_addr = second_gc(cluster, tmp_path)
    try:
        s3.put_object(Bucket=bucket, Key="a", Body=os.urandom(MiB))
        s3.delete_object(Bucket=bucket, Key="a")
        waiting = admin(cluster, "gc", "run", "--once", "--gc", other_addr)
        assert [(r["worker"], r["counters"], r["error"]) for r in waiting["results"]] == [
            (name, {"lease_waiting": 1}, "")
            for name in ("lifecycle", "uploads", "reclaim", "orphans", "compaction", "repair")
        ]
        status = {w["name"]: w for w in admin(cluster, "gc", "status", "--gc", other_addr)["workers"]}
        assert status["reclaim"]["backlog"]["queued_blobs"] >= 1  # the work is there; it did not act

        (first,) = cluster.processes("gc")
        os.kill(first["pid"], signal.SIGKILL)
        killed = time.monotonic()
        while True:
            counters = reclaim_counters(
                admin(cluster, "gc", "run", "--once", "--worker", "reclaim", "--gc", other_addr)
            )
            if counters != {"lease_waiting": 1}:
                break
            assert time.monotonic() - killed < LEASE_TTL_S + 10, "the second instance never took over"
            time.sleep(0.5)
        took = time.monotonic() - killed
        print(f"the second gc instance took over {took:.1f}s after the kill -9 (lease TTL {LEASE_TTL_S:g}s)")
        assert counters["blobs_reclaimed"] >= 1 and counters.get("blobs_pending", 0) == 0

        # the restarted first instance (cairn up's supervisor) now waits in turn
        wait_for(lambda: _gc_back(cluster, first["pid"]), 60, "cairn up to restart its gc service")
        again = reclaim_counters(admin(cluster, "gc", "run", "--once", "--worker", "reclaim"))
        assert again == {"lease_waiting": 1}
    finally:
        other.stop()  # SIGTERM: it releases the lease, so cairn up's instance acts again
    wait_for(
        lambda: "lease_waiting" not in _run_reclaim(cluster), 2 * LEASE_TTL_S, "cairn up's gc to act again"
    )


def _run_reclaim(cluster: RunningCluster) -> dict[str, int]:
    return reclaim_counters(admin(cluster, "gc", "run", "--once", "--worker", "reclaim"))


def _gc_back(cluster: RunningCluster, old_pid: int) -> bool:
    (entry,) = cluster.processes("gc")
    return entry["pid"] != old_pid and port_open(int(entry["addr"].rsplit(":", 1)[1]))


def pass_as_holder(cluster: RunningCluster, worker: str) -> dict[str, int]:
    """One pass of `worker` by cairn up's gc service, once it holds the lease (a restarted
    service waits for its killed predecessor's lease to run out)."""
    deadline = time.monotonic() + 3 * LEASE_TTL_S + 30
    while True:
        counters = _worker(admin(cluster, "gc", "run", "--once", "--worker", worker), worker)
        if counters != {"lease_waiting": 1}:
            return counters
        assert time.monotonic() < deadline, "the restarted gc service never took the lease"
        time.sleep(0.5)


def kill_gc_mid_pass(cluster: RunningCluster, worker: str, targets: LiveShards) -> LiveShards:
    """Start a pass of `worker`, kill -9 the gc service once the data nodes show some but not all
    of `targets` deleted; returns what of `targets` is left (both checked after the kill)."""
    (gc,) = cluster.processes("gc")
    cmd = [sys.executable, "-m", "cairn", "admin", "gc", "run", "--once", "--worker", worker]
    running = subprocess.Popen(
        [*cmd, "--data-dir", str(cluster.data_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while not live_shards(cluster) & targets < targets:
            assert time.monotonic() < deadline, f"the {worker} pass deleted nothing"
            time.sleep(0.2)
        os.kill(gc["pid"], signal.SIGKILL)
    finally:
        running.wait(timeout=120)
    left = live_shards(cluster) & targets
    assert 0 < len(left) < len(targets), f"the kill landed after the {worker} pass ({len(left)} left)"
    wait_for(lambda: _gc_back(cluster, gc["pid"]), 60, "cairn up to restart its gc service")
    return left


def test_gc_killed_mid_reclaim_finishes_after_restart_and_deletes_nothing_else(
    cluster: RunningCluster,
) -> None:
    s3 = cluster.s3_client(read_timeout=60)
    bucket = f"gc-cut-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    kept = {f"kept{i}": os.urandom(100_000 + i) for i in range(8)}
    before = live_shards(cluster)
    for i in range(100):
        s3.put_object(Bucket=bucket, Key=f"doomed{i}", Body=os.urandom(64 * 1024 + 1 + i))  # erasure coded
    doomed = live_shards(cluster) - before
    for key, body in kept.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    everything = live_shards(cluster)
    for i in range(100):
        s3.delete_object(Bucket=bucket, Key=f"doomed{i}")

    left = kill_gc_mid_pass(cluster, "reclaim", doomed)
    counters = pass_as_holder(cluster, "reclaim")
    print(f"reclaim killed with {len(left)} of {len(doomed)} shards left; the next pass: {counters}")
    assert counters["blobs_reclaimed"] >= 100 and counters.get("blobs_pending", 0) == 0
    after = live_shards(cluster)
    assert after & doomed == set()  # nothing deleted is left
    assert everything - doomed <= after  # nothing live was deleted
    for key, body in kept.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body


def test_gc_killed_mid_orphan_sweep_finishes_after_restart_and_deletes_nothing_else(
    cluster: RunningCluster,
) -> None:
    s3 = cluster.s3_client(read_timeout=60)
    bucket = f"gc-cut-orphans-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    body = os.urandom(300_000)
    s3.put_object(Bucket=bucket, Key="kept", Body=body)
    before = live_shards(cluster)
    _shards_of_a_dead_writer(cluster, bucket, intent=False, blobs=40, size=4096)
    orphans = live_shards(cluster) - before
    assert len(orphans) == 40 * 12

    first = pass_as_holder(cluster, "orphans")
    assert first["orphans_found"] >= len(orphans) and first.get("orphans_deleted", 0) == 0
    time.sleep(ORPHAN_GRACE_S + 0.5)
    left = kill_gc_mid_pass(cluster, "orphans", orphans)

    # the restarted service remembers no sighting: one pass finds the rest, the next one (after
    # the grace) deletes them
    found = pass_as_holder(cluster, "orphans")
    assert found["orphans_found"] >= len(left) and found.get("orphans_deleted", 0) == 0
    time.sleep(ORPHAN_GRACE_S + 0.5)
    swept = pass_as_holder(cluster, "orphans")
    print(f"orphan sweep killed with {len(left)} of {len(orphans)} left; after restart: {found}, {swept}")
    assert swept["orphans_deleted"] == len(left)
    after = live_shards(cluster)
    assert after & orphans == set() and before <= after
    assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == body
