"""Growth and a node's return on a real `cairn up` cluster, with traffic running.

- 12 -> 17 data nodes while a writer and a reader run throughout (boto3, one thread each): five
  data node processes join the running cluster (as a node joining in Kubernetes does), the map
  moves slots to them, repair passes copy the data; no read fails and no byte is wrong at any
  moment; at the end no slot is migrating, a last repair pass has nothing to write (every blob
  metadata references has a live shard on every target slot: full redundancy) and the slots are
  spread over the 17 nodes.
- A node stopped, declared `out` and rebuilt elsewhere, then returning: meanwhile one object was
  overwritten and one deleted (and the GC reclaimed them); after its return every GET answers
  the current state, the node holds no slot and is never read; one orphan sweep (grace 0 here)
  deletes its shards of the reclaimed blobs and releases its copies of the blobs still
  referenced (their slots' targets hold verified copies): it holds nothing live afterwards, nor
  does any node keep a copy of a slot it gave up (the growth's old holders included).
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cairn.mtls import ClusterPki
from tests.faults.test_repair import admin, cluster_map, live_keys, node_states, repair_pass
from tests.support.cluster import RunningCluster, external_cluster, start_cluster
from tests.support.procs import free_port, wait_for
from tests.support.shards import live_shards, unnamed

pytestmark = pytest.mark.slow

MiB = 1 << 20
#: Objects the writer puts at most.
MAX_OBJECTS = 400
ENV = {
    "CAIRN_GC_INTERVAL_S": "3600",
    "CAIRN_GC_REPAIR_INTERVAL_S": "3600",
    "CAIRN_GC_ORPHAN_GRACE_S": "0",
}


@dataclass
class Traffic:
    """A writer and a reader thread; every failure and every wrong byte is recorded."""

    s3: Any
    bucket: str
    objects: dict[str, bytes] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    reads: int = 0
    writes: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def writer(self) -> None:
        n = 0
        while not self.stop.is_set():
            if n >= MAX_OBJECTS:  # keeps the final read-back short; the reader goes on
                time.sleep(0.05)
                continue
            key, body = f"live-{n:05d}", os.urandom(random.choice([70_000, 150_000, 1 * MiB + 3]))
            try:
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
            except Exception as exc:  # noqa: BLE001 - recorded, the test fails on it
                self.errors.append(f"PUT {key}: {exc!r}")
            else:
                with self.lock:
                    self.objects[key] = body
                    self.writes += 1
            n += 1
            time.sleep(0.05)

    def reader(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                keys = list(self.objects)
            if not keys:
                time.sleep(0.05)
                continue
            key = random.choice(keys)
            try:
                got = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            except Exception as exc:  # noqa: BLE001 - recorded, the test fails on it
                self.errors.append(f"GET {key}: {exc!r}")
                continue
            if hashlib.sha256(got).digest() != hashlib.sha256(self.objects[key]).digest():
                self.errors.append(f"GET {key}: wrong bytes ({len(got)} of {len(self.objects[key])})")
            self.reads += 1


@dataclass
class Grown:
    cluster: RunningCluster
    s3: Any
    bucket: str
    extra: list[subprocess.Popen[bytes]]


def start_datanode(cluster: RunningCluster, i: int) -> subprocess.Popen[bytes]:
    """A data node process joining the running cluster (its own host label), with the
    cluster's data node certificate."""
    name = f"extra-{i}"
    data_dir = Path(cluster.data_dir) / "extra" / name
    data_dir.mkdir(parents=True)
    placement = ",".join(p["addr"] for p in cluster.processes("placement"))
    args = ["--data-dir", str(data_dir), "--host", "127.0.0.1", "--port", str(free_port())]
    args += ["--zone", "local", "--rack", f"rack-{name}", "--node-host", name, "--placement", placement]
    env = {**os.environ, **dict(ClusterPki(Path(cluster.data_dir)).identity("datanode").env())}
    log = open(Path(cluster.data_dir) / "logs" / f"{name}.log", "wb")  # noqa: SIM115 - the process's
    return subprocess.Popen([sys.executable, "-m", "cairn.datanode", *args], stdout=log, stderr=log, env=env)


@pytest.fixture(scope="module")
def grown(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Grown]:
    if external_cluster() is not None:
        pytest.skip("adding data node processes needs a local cairn up cluster")
    cluster = start_cluster(tmp_path_factory.mktemp("cairn-grow-load"), env=ENV)
    extra: list[subprocess.Popen[bytes]] = []
    try:
        s3 = cluster.s3_client(read_timeout=120, connect_timeout=10)
        bucket = f"grow-{uuid.uuid4().hex[:12]}"
        s3.create_bucket(Bucket=bucket)
        yield Grown(cluster, s3, bucket, extra)
    finally:
        for proc in extra:
            proc.kill()
            proc.wait(timeout=30)
        cluster.stop()


def migrating_slots(cluster: RunningCluster) -> int:
    return sum(len(slots) for slots in cluster_map(cluster).migrations.values())


@pytest.mark.timeout(1200)
def test_grow_12_to_17_under_a_continuous_writer_and_reader(grown: Grown) -> None:
    cluster = grown.cluster
    traffic = Traffic(cluster.s3_client(read_timeout=120, connect_timeout=10), grown.bucket)
    threads = [threading.Thread(target=traffic.writer), threading.Thread(target=traffic.reader)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: traffic.writes >= 20 and traffic.reads >= 20, 120, "traffic before the growth")
        before = (traffic.writes, traffic.reads)
        original = set(node_states(cluster))
        for i in range(5):
            grown.extra.append(start_datanode(cluster, i))
        wait_for(lambda: sum(s == "up" for s in node_states(cluster).values()) == 17, 120, "17 data nodes up")
        cmap = cluster_map(cluster)
        targets = {cmap.pgs[pg][slot] for pg, slots in cmap.migrations.items() for slot in slots}
        assert targets and not targets & original  # slots move to the new nodes only
        moved = migrating_slots(cluster)
        grew_at = time.monotonic()
        passes = 0
        while migrating_slots(cluster) and passes < 6:  # a target that did not answer waits a pass
            repair_pass(cluster)
            passes += 1
        assert migrating_slots(cluster) == 0
        during = (traffic.writes - before[0], traffic.reads - before[1])
        repaired_s = time.monotonic() - grew_at
    finally:
        traffic.stop.set()
        for t in threads:
            t.join(timeout=180)
    assert traffic.errors == []
    assert during[0] > 0 and during[1] > 0, during
    # a PUT that went to an old holder after a pass listed it is written by the next pass
    repair_pass(cluster)
    last = repair_pass(cluster)
    assert last.get("shards_rebuilt", 0) == 0 and last.get("shards_copied", 0) == 0, last
    # objects up to the API's inline_max_bytes (64 KiB) are stored in their version row: no blob
    stored = [key for key, body in traffic.objects.items() if len(body) > 64 * 1024]
    assert last.get("blobs_unrecoverable", 0) == 0 and last["blobs_checked"] >= len(stored), last
    status = admin(cluster, "cluster", "status")["pgs"]
    assert status["min_failures_tolerated"] == 4 and status["degraded"] == 0 and status["migrating"] == 0
    per_node = admin(cluster, "pgs")["per_node"]
    assert len(per_node) == 17 and sum(per_node.values()) == 32 * 12
    mean = 32 * 12 / 17
    print(
        f"slots per node after growth: {sorted(per_node.values())}; {moved} slots moved, synced by "
        f"{passes} repair pass(es) in {repaired_s:.0f}s; during it {during[0]} PUTs, {during[1]} GETs; "
        f"{len(traffic.objects)} objects, {traffic.reads} GETs in all, errors {len(traffic.errors)}"
    )
    # weighted rendezvous hashing: about 5/17 of the slots moved, all to the new nodes, and no
    # node far below its share (a node takes at most one slot of each of the 32 PGs; measured
    # spreads 17..29 and 17..31 around the mean of 22.6)
    assert 0.7 * 384 * 5 / 17 <= moved <= 1.3 * 384 * 5 / 17
    assert min(per_node.values()) >= 0.6 * mean, per_node
    for key, body in traffic.objects.items():
        got = grown.s3.get_object(Bucket=grown.bucket, Key=key)["Body"].read()
        assert hashlib.sha256(got).digest() == hashlib.sha256(body).digest(), key


@pytest.mark.timeout(900)
def test_a_node_declared_out_rebuilt_elsewhere_then_returning_serves_nothing_stale(grown: Grown) -> None:
    cluster, s3, bucket = grown.cluster, grown.s3, grown.bucket
    bodies = {key: os.urandom(300_000) for key in ("kept", "overwritten", "deleted")}
    holders: dict[str, set[str]] = {}  # key -> the nodes holding a shard of its blob
    seen = live_shards(cluster)
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        now = live_shards(cluster)
        holders[key] = {node for node, _ in now - seen}
        seen = now
    # after the growth a blob has shards on 12 of 17 nodes: the node stopped must hold the blobs
    # reclaimed while it is away (and, if one does, the blob kept) for the sweep to have work
    ours = sorted(p["name"] for p in cluster.processes("datanode"))
    name = max(
        (n for n in ours if n in holders["overwritten"] and n in holders["deleted"]),
        key=lambda n: n in holders["kept"],
    )
    held = live_keys(cluster, name)
    proc = next(p for p in cluster.processes("datanode") if p["name"] == name)
    os.kill(proc["pid"], signal.SIGSTOP)
    try:
        wait_for(lambda: node_states(cluster)[name] == "down", 90, f"{name} down in the map")
        admin(cluster, "node", "out", name)
        newer = os.urandom(200_000)
        s3.put_object(Bucket=bucket, Key="overwritten", Body=newer)
        s3.delete_object(Bucket=bucket, Key="deleted")
        admin(cluster, "gc", "run", "--once", "--worker", "reclaim")
        for _ in range(6):
            counters = repair_pass(cluster)
            if not migrating_slots(cluster):
                break
        assert migrating_slots(cluster) == 0 and counters.get("blobs_unrecoverable", 0) == 0
        assert cluster_map(cluster).slots_held(name) == 0
    finally:
        os.kill(proc["pid"], signal.SIGCONT)
    wait_for(lambda: node_states(cluster)[name] == "out", 90, f"{name} back (and still out)")
    assert cluster_map(cluster).slots_held(name) == 0 and admin(cluster, "pgs")["per_node"].get(name, 0) == 0
    leftovers = live_keys(cluster, name)
    assert leftovers == held  # its disk is as it left it
    assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == bodies["kept"]
    assert s3.get_object(Bucket=bucket, Key="overwritten")["Body"].read() == newer
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=bucket, Key="deleted")
    # the returning node's shards of the blobs reclaimed meanwhile are deleted (they wait in the
    # GC queue: reclaim could not reach the node; their targets tombstoned them); its copies of
    # the blobs still referenced are released (their targets hold verified copies)
    swept = admin(cluster, "gc", "run", "--once", "--worker", "orphans")["results"][0]["counters"]
    assert live_keys(cluster, name) == {}
    gone = swept.get("orphans_deleted", 0) + swept.get("leftovers_deleted", 0)
    assert gone > 0 and swept.get("leftovers_released", 0) > 0, swept
    assert gone + swept["leftovers_released"] >= len(leftovers)  # (and elsewhere)
    assert swept.get("leftovers_kept", 0) == 0, swept
    assert unnamed(cluster_map(cluster), live_shards(cluster)) == set()
    assert repair_pass(cluster).get("shards_rebuilt", 0) == 0  # nothing came back
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=bucket, Key="deleted")
