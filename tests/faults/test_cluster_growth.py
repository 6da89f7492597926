"""Growing a real `cairn up` cluster from 12 to 17 data nodes, then draining one, seen through boto3
and `cairn admin`: the map moves slots to the new nodes but keeps their old holders listed, so
every object written before the growth reads back byte-identical (without the layout history a PG
with more than m moved slots could not be read); new objects go to the new targets; objects written before the growth and deleted after it leave
no shard on the moved slots' old holders after one GC pass; one repair pass
(`cairn admin gc run --once --worker repair`) copies the moved slots' shards to their targets and
ends every migration, after which the 4 old nodes that gave up the most slots can be stopped and
everything still reads back; one orphan sweep then releases the copies the old holders kept of
the slots they gave up, after which everything reads back with 4 new nodes stopped; a drained node keeps serving its data and cannot be removed while it
holds it, and can once repair has moved its slots.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cairn.datanode.client import ShardKey
from cairn.placement.client import ClusterMap, PlacementClient
from tests.support.cluster import RunningCluster, external_cluster, start_cluster
from tests.support.procs import wait_for
from tests.support.shards import live_shards, unnamed

MiB = 1024 * 1024

pytestmark = pytest.mark.slow

#: The GC's workers act only when a test runs them (`cairn admin gc run --once --worker W`); the
#: orphan sweep acts on its first sighting.
ONLY_CLI_REPAIR = {
    "CAIRN_GC_REPAIR_INTERVAL_S": "3600",
    "CAIRN_GC_INTERVAL_S": "3600",
    "CAIRN_GC_ORPHAN_GRACE_S": "0",
}
#: Objects written before the growth and deleted after it.
DOOMED = 24


def admin(data_dir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", "admin", *argv, "--data-dir", str(data_dir), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def admin_json(data_dir: Path, *argv: str) -> Any:
    ran = admin(data_dir, *argv)
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


def read_all(s3: Any, bucket: str, objects: dict[str, bytes]) -> None:
    for key, body in objects.items():
        got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert len(got) == len(body) and hashlib.sha256(got).digest() == hashlib.sha256(body).digest(), key


@pytest.fixture(scope="module")
def grown(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningCluster, Path, str, dict[str, bytes]]]:
    if external_cluster() is not None:
        pytest.skip("growth needs a local cairn up cluster")
    data_dir = tmp_path_factory.mktemp("cairn-growth")
    first = start_cluster(data_dir, env=ONLY_CLI_REPAIR)
    bucket = f"grow-{uuid.uuid4().hex[:12]}"
    objects = {f"obj-{i:02d}": os.urandom(100_000 + i * 7919) for i in range(48)}
    objects["stripes"] = os.urandom(3 * MiB + 17)
    try:
        s3 = first.s3_client(read_timeout=60)
        s3.create_bucket(Bucket=bucket)
        for key, body in objects.items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        # objects deleted after the growth (their slots moved): their shards, as the nodes list them
        before = live_shards(first)
        s3.create_bucket(Bucket=f"{bucket}-doomed")
        for i in range(DOOMED):
            s3.put_object(Bucket=f"{bucket}-doomed", Key=f"d{i}", Body=os.urandom(200_000 + i))
        doomed = live_shards(first) - before
    finally:
        first.stop()
    second = start_cluster(data_dir, extra_args=["--data-nodes", "17"], env=ONLY_CLI_REPAIR)
    second.extra["doomed"] = doomed
    try:
        yield second, data_dir, bucket, objects
    finally:
        second.stop()


def test_objects_written_before_the_growth_read_back_identical(
    grown: tuple[RunningCluster, Path, str, dict[str, bytes]],
) -> None:
    cluster, data_dir, bucket, objects = grown
    pgs = admin_json(data_dir, "pgs")
    moved = [d for d in pgs["degraded"] if d["migrating_slots"]]
    cmap_status = admin_json(data_dir, "cluster", "status")["pgs"]
    assert cmap_status["slots_migrating"] > 0 and cmap_status["migrating"] > 0
    # every old holder serves, every new target serves: nothing is lost, nothing is degraded
    assert moved == [] and cmap_status["min_failures_tolerated"] == 4 and cmap_status["degraded"] == 0
    assert sum(pgs["per_node"].values()) == 32 * 12 and len(pgs["per_node"]) == 17
    # PGs with more moved slots than m = 4: read from their targets alone they would fail (about
    # a fifth of the 32 PGs; with 49 objects, one of them is almost surely in such a PG)
    assert any(len(slots) > 4 for slots in pgs["migrating"].values())
    s3 = cluster.s3_client(read_timeout=60)
    read_all(s3, bucket, objects)


def test_new_objects_go_to_the_targets_and_read_back(
    grown: tuple[RunningCluster, Path, str, dict[str, bytes]],
) -> None:
    cluster, _, bucket, _ = grown
    s3 = cluster.s3_client(read_timeout=60)
    fresh = {f"new-{i}": os.urandom(150_000 + i) for i in range(8)}
    for key, body in fresh.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    read_all(s3, bucket, fresh)


def test_a_blob_deleted_after_its_slot_moved_leaves_no_shard_on_the_old_holder(
    grown: tuple[RunningCluster, Path, str, dict[str, bytes]],
) -> None:
    """The moved slots' old holders are in the layout history: one GC pass deletes there too."""
    cluster, data_dir, bucket, _ = grown
    doomed: set[tuple[str, ShardKey]] = cluster.extra["doomed"]
    assert len(doomed) == DOOMED * 12
    cmap = asyncio.run(_cluster_map(cluster))
    on_old_holders = {
        (node, key)
        for node, key in doomed
        if node != cmap.pgs[cmap.pg_of(key.blob_id)][key.index]
        and node in cmap.holders_of(cmap.pg_of(key.blob_id), key.index)
    }
    assert on_old_holders  # some of their slots moved to the new nodes
    s3 = cluster.s3_client(read_timeout=60)
    for i in range(DOOMED):
        s3.delete_object(Bucket=f"{bucket}-doomed", Key=f"d{i}")
    (result,) = admin_json(data_dir, "gc", "run", "--once", "--worker", "reclaim")["results"]
    assert result["error"] == "" and result["counters"].get("blobs_pending", 0) == 0, result
    assert live_shards(cluster) & doomed == set()


def repair_pass(data_dir: Path) -> dict[str, int]:
    (result,) = admin_json(data_dir, "gc", "run", "--once", "--worker", "repair")["results"]
    assert result["error"] == "", result
    counters: dict[str, int] = result["counters"]
    return counters


async def _cluster_map(cluster: RunningCluster) -> ClusterMap:
    cluster.act_as("admin")  # the cluster speaks mutual TLS
    placement = PlacementClient([p["addr"] for p in cluster.processes("placement")])
    try:
        return await placement.cluster_map()
    finally:
        await placement.close()


def node_states(cluster: RunningCluster) -> dict[str, str]:
    return {n.id: str(n.state) for n in asyncio.run(_cluster_map(cluster)).nodes.values()}


def test_repair_moves_the_data_to_the_new_targets(
    grown: tuple[RunningCluster, Path, str, dict[str, bytes]],
) -> None:
    """After one repair pass no slot is migrating: the new targets hold every shard and are the
    holders. Proof: the 4 old nodes that gave up the most slots are stopped, and every object
    (before and after the growth) still reads back identical from the new layout."""
    cluster, data_dir, bucket, objects = grown
    cmap = asyncio.run(_cluster_map(cluster))
    gave_up = Counter(h for slots in cmap.migrations.values() for m in slots.values() for h in m.holders)
    assert len(gave_up) >= 4
    counters: Counter[str] = Counter(repair_pass(data_dir))
    # a slot whose target did not answer its listing on this loaded machine waits for a next pass
    for _ in range(3):
        if admin_json(data_dir, "pgs")["migrating"] == {}:
            break
        counters.update(repair_pass(data_dir))
    assert counters["slots_synced"] == sum(len(s) for s in cmap.migrations.values()), counters
    assert counters["shards_copied"] > 0
    if not counters["nodes_unavailable"]:  # an old holder that answered is copied from, never rebuilt
        assert counters["shards_rebuilt"] == 0, counters
    status = admin_json(data_dir, "cluster", "status")["pgs"]
    assert status["slots_migrating"] == 0 and status["migrating"] == 0
    assert status["min_failures_tolerated"] == 4 and status["degraded"] == 0
    assert admin_json(data_dir, "pgs")["migrating"] == {}
    read_all_with_stopped(cluster, [name for name, _ in gave_up.most_common(4)], bucket, objects)


def read_all_with_stopped(
    cluster: RunningCluster, stopped: list[str], bucket: str, objects: dict[str, bytes]
) -> None:
    """Stop (SIGSTOP) the 4 named data nodes, wait until the map has them down, read every
    object, then let them go on and wait until every node is up again."""
    pids = [p["pid"] for p in cluster.processes("datanode") if p["name"] in stopped]
    assert len(pids) == 4
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(lambda: all(node_states(cluster)[n] == "down" for n in stopped), 90, f"{stopped} down")
        read_all(cluster.s3_client(read_timeout=60), bucket, objects)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    wait_for(lambda: all(s == "up" for s in node_states(cluster).values()), 90, "every node up again")


def test_one_sweep_releases_the_copies_left_on_old_holders_and_the_targets_alone_serve(
    grown: tuple[RunningCluster, Path, str, dict[str, bytes]],
) -> None:
    """Once the moves synced, the map no longer names the old holders for the slots they gave up,
    but their copies are still on disk. One orphan sweep (grace 0 here) releases every one of
    them (each only after the slot's target listed the same shard, same length and CRC32C), and
    nothing else. Proof that the targets alone hold everything: 4 of the 5 new nodes (targets
    of most moved slots) stopped, every object still reads back identical."""
    cluster, data_dir, bucket, objects = grown
    cmap = asyncio.run(_cluster_map(cluster))
    assert cmap.migrations == {}
    before = live_shards(cluster)
    leftovers = unnamed(cmap, before)
    assert len({node for node, _ in leftovers}) >= 4  # the old holders kept their copies
    (result,) = admin_json(data_dir, "gc", "run", "--once", "--worker", "orphans")["results"]
    counters = result["counters"]
    assert result["error"] == "" and counters["leftovers_released"] == len(leftovers), result
    assert counters.get("leftovers_kept", 0) == 0 and counters.get("orphans_deleted", 0) == 0, counters
    after = live_shards(cluster)
    assert after == before - leftovers and unnamed(cmap, after) == set()
    (status,) = [w for w in admin_json(data_dir, "gc", "status")["workers"] if w["name"] == "orphans"]
    assert status["totals"]["leftovers_released"] == len(leftovers)

    per_node = cmap.slots_per_node()
    new_nodes = sorted(cmap.nodes)[12:]
    stopped = sorted(new_nodes, key=lambda n: -per_node[n])[:4]
    assert all(per_node[n] > 0 for n in stopped)
    read_all_with_stopped(cluster, stopped, bucket, objects)


def test_a_drained_node_keeps_serving_and_cannot_be_removed_while_it_holds_data(
    grown: tuple[RunningCluster, Path, str, dict[str, bytes]],
) -> None:
    cluster, data_dir, bucket, objects = grown
    drained = admin_json(data_dir, "node", "drain", "dn-0001")
    assert drained["state"] == "draining" and drained["slots_held"] > 0
    pgs = admin_json(data_dir, "pgs")
    assert "dn-0001" not in {n for d in pgs["degraded"] for n in d["nodes"]}  # no longer a target
    assert pgs["per_node"]["dn-0001"] == 0
    read_all(cluster.s3_client(read_timeout=60), bucket, objects)
    refused = admin(data_dir, "node", "remove", "dn-0001")
    assert refused.returncode == 1 and "NodeHoldsData" in refused.stderr


def test_after_repair_the_drained_node_holds_nothing_and_can_be_removed(
    grown: tuple[RunningCluster, Path, str, dict[str, bytes]],
) -> None:
    cluster, data_dir, bucket, objects = grown
    synced = repair_pass(data_dir).get("slots_synced", 0)
    for _ in range(3):  # as above: a target that did not answer in time waits for a next pass
        if admin_json(data_dir, "pgs")["migrating"] == {}:
            break
        synced += repair_pass(data_dir).get("slots_synced", 0)
    assert synced > 0
    assert admin_json(data_dir, "pgs")["migrating"] == {}
    removed = admin(data_dir, "node", "remove", "dn-0001")
    assert removed.returncode == 0, removed.stderr
    read_all(cluster.s3_client(read_timeout=60), bucket, objects)
