"""The repair queue on a real 12-node `cairn up` cluster: every source of reports reaches the
queue and one repair pass acts on it. The background service's timers are far out: only
`cairn admin gc run --once --worker repair` repairs.
- a byte flipped in a shard file: GET never returns wrong bytes, the reader's report reaches
  the queue, one repair pass rewrites the shard on its node (which still listed it live), the
  queue is empty and the node's scrub then finds nothing;
- a byte flipped in another shard and no GET at all: `cairn admin scrub start` finds it, the
  repair pass queues the node's finding and rewrites the shard;
- a PUT while a node is down in the map: the shard it could not write is queued (source
  `put`), stays queued while the node is down, and is written once the node is back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from cairn.metadata.client import MetadataClient
from cairn.metadata.models import RepairItem
from tests.faults.test_cluster_data_nodes import MARKER_LEN, find_marker, flip_byte
from tests.faults.test_repair import admin, datanodes, live_keys, node_states, repair_pass
from tests.support.cluster import RunningCluster, external_cluster, start_cluster
from tests.support.procs import wait_for

pytestmark = pytest.mark.slow


@dataclass
class Queued:
    cluster: RunningCluster
    s3: Any
    bucket: str


def repair_queue(cluster: RunningCluster) -> tuple[RepairItem, ...]:
    async def listing() -> tuple[RepairItem, ...]:
        cluster.act_as("admin")
        client = MetadataClient(",".join(p["addr"] for p in cluster.processes("metadata")))
        try:
            return await client.list_repair_queue()
        finally:
            await client.close()

    return asyncio.run(listing())


def flip(cluster: RunningCluster, body: bytes) -> str:
    """Flip a byte inside the shard holding `body`'s first bytes (shard 0: data pieces hold the
    stripe verbatim); returns the node's name."""
    ((name, path, offset),) = find_marker(cluster, body[:MARKER_LEN])
    flip_byte(path, offset + 1000)
    return name


def scrub(cluster: RunningCluster, node: str) -> dict[str, Any]:
    """A whole scrub pass of `node`, then its status with the findings."""
    started = time.time()
    admin(cluster, "scrub", "start", node)

    def finished() -> bool:
        (doc,) = admin(cluster, "scrub", "status", node)["nodes"]
        return bool(doc["pass"]["finished_at"]) and doc["pass"]["started_at"] >= started - 1

    wait_for(finished, 120, f"a scrub pass of {node}")
    (doc,) = admin(cluster, "scrub", "status", node, "--findings")["nodes"]
    return doc


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Queued]:
    if external_cluster() is not None:
        pytest.skip("flipping bytes in shard files needs a local cairn up cluster")
    env = {"CAIRN_GC_INTERVAL_S": "3600", "CAIRN_GC_REPAIR_INTERVAL_S": "3600"}
    cluster = start_cluster(tmp_path_factory.mktemp("cairn-repair-queue"), env=env)
    try:
        s3 = cluster.s3_client(read_timeout=120, connect_timeout=10)
        bucket = f"queue-{uuid.uuid4().hex[:12]}"
        s3.create_bucket(Bucket=bucket)
        yield Queued(cluster, s3, bucket)
    finally:
        cluster.stop()


def get(state: Queued, key: str) -> bytes:
    body: bytes = state.s3.get_object(Bucket=state.bucket, Key=key)["Body"].read()
    return body


def test_a_corrupt_shard_found_by_a_reader_is_queued_and_rewritten(state: Queued) -> None:
    body = os.urandom(300_000)
    state.s3.put_object(Bucket=state.bucket, Key="read-me", Body=body)
    assert repair_queue(state.cluster) == ()
    name = flip(state.cluster, body)
    for _ in range(3):
        assert get(state, "read-me") == body  # never the flipped byte
    wait_for(lambda: repair_queue(state.cluster) != (), 30, "the reader's report in the queue")
    (item,) = repair_queue(state.cluster)
    report = item.report
    assert (report.index, report.kind, report.source) == (0, "corrupt", "read")
    assert report.node == datanodes(state.cluster)[name]["addr"]

    counters = repair_pass(state.cluster)
    assert counters["reports_taken"] == 1 and counters["reports_repaired"] == 1, counters
    assert counters["shards_rebuilt"] == 1 and counters.get("targets_failed", 0) == 0
    assert repair_queue(state.cluster) == ()
    assert [n for n, _, _ in find_marker(state.cluster, body[:MARKER_LEN])] == [name]  # rewritten there
    doc = scrub(state.cluster, name)
    assert doc["findings"] == 0 and doc["finding_list"] == []
    assert get(state, "read-me") == body
    assert repair_pass(state.cluster).get("shards_rebuilt", 0) == 0


def test_a_corrupt_shard_found_by_scrub_is_repaired_without_any_get(state: Queued) -> None:
    body = os.urandom(200_000)
    state.s3.put_object(Bucket=state.bucket, Key="scrub-me", Body=body)
    name = flip(state.cluster, body)
    doc = scrub(state.cluster, name)
    (finding,) = doc["finding_list"]
    assert (finding["index"], finding["kind"]) == (0, "corrupt")
    assert repair_queue(state.cluster) == ()  # no reader saw it

    counters = repair_pass(state.cluster)
    assert counters["scrub_findings"] == 1 and counters["reports_repaired"] == 1, counters
    assert repair_queue(state.cluster) == ()
    assert scrub(state.cluster, name)["findings"] == 0
    assert get(state, "scrub-me") == body


def test_a_shard_a_put_could_not_write_is_queued_until_its_node_is_back(state: Queued) -> None:
    name = sorted(datanodes(state.cluster))[4]
    pid = datanodes(state.cluster)[name]["pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(lambda: node_states(state.cluster)[name] == "down", 90, f"{name} down in the map")
        body = os.urandom(100_000)
        state.s3.put_object(Bucket=state.bucket, Key="put-me", Body=body)
        wait_for(lambda: repair_queue(state.cluster) != (), 30, "the PUT's report in the queue")
        (item,) = repair_queue(state.cluster)
        assert (item.report.kind, item.report.source, item.report.node) == ("missing", "put", "")
        counters = repair_pass(state.cluster)  # the node is down: the report waits
        assert counters["reports_kept"] == 1 and repair_queue(state.cluster) == (item,)
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_for(lambda: node_states(state.cluster)[name] == "up", 90, f"{name} up again")
    counters = repair_pass(state.cluster)
    assert counters["reports_repaired"] == 1 and repair_queue(state.cluster) == ()
    assert any(k.blob_id == item.report.blob_id for k in live_keys(state.cluster, name))
    assert get(state, "put-me") == body
