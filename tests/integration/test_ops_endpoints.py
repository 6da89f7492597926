"""Metrics and health of the gRPC services over their ops port (`--ops-port`), on real processes:
a placement replica, three data nodes and the metadata service, scraped with Prometheus' own
parser after real heartbeats, shard writes and reads."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from cairn.datanode.client import DataNodeClient, ShardKey
from cairn.datanode.errors import ShardNotFound
from cairn.placement.client import PlacementClient
from tests.integration.test_datanode import pieces_of, read_all
from tests.support.procs import ServiceProcess, free_port, wait_for

DATANODE = "cairn.datanode.v1.DataNode"


def get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics scrape: (name, sorted labels) -> value."""
    status, body = get(port, "/metrics")
    assert status == 200
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def started(proc: ServiceProcess, line: str) -> ServiceProcess:
    wait_for(lambda: line in proc.log_tail(80) or not proc.alive(), 30, line)
    assert proc.alive(), proc.log_tail()
    return proc


async def test_grpc_services_serve_metrics_and_health(
    tmp_path: Path, processes: list[ServiceProcess]
) -> None:
    pport, pops = free_port(), free_port()
    placement = ServiceProcess(
        "cairn.placement",
        [
            *("--id", "p1", "--peers", f"p1=127.0.0.1:{pport}", "--port", str(pport)),
            *("--data-dir", str(tmp_path / "p1"), "--k", "2", "--m", "1", "--pg-count", "8"),
            *("--ops-port", str(pops)),
        ],
        tmp_path / "placement.log",
    ).start()
    processes.append(placement)
    started(placement, f"metrics and health on http://127.0.0.1:{pops}")

    nodes = []
    for i in range(3):
        port, ops = free_port(), free_port()
        proc = ServiceProcess(
            "cairn.datanode",
            [
                *("--data-dir", str(tmp_path / f"dn{i}"), "--port", str(port), "--node-host", f"host-{i}"),
                *("--capacity", "1000000000", "--placement", f"127.0.0.1:{pport}", "--ops-port", str(ops)),
            ],
            tmp_path / f"datanode-{i}.log",
            env={
                "CAIRN_DATANODE_HEARTBEAT_INTERVAL_S": "0.2",
                "CAIRN_DATANODE_HEARTBEAT_MAX_BACKOFF_S": "0.5",
            },
        ).start()
        processes.append(proc)
        nodes.append((port, ops, proc))
    for _, ops, proc in nodes:
        started(proc, f"metrics and health on http://127.0.0.1:{ops}")

    client = PlacementClient([f"127.0.0.1:{pport}"])
    try:

        async def created() -> bool:
            return (await client.cluster_map()).created

        for _ in range(200):
            if await created():
                break
            await asyncio.sleep(0.1)
        assert await created()
    finally:
        await client.close()

    # placement: Raft and the map
    status, body = get(pops, "/cairn/health/ready")
    assert status == 200 and json.loads(body)["role"] == "leader"
    samples = scrape(pops)
    assert value(samples, "cairn_raft_leader") == 1 and value(samples, "cairn_raft_has_leader") == 1
    assert value(samples, "cairn_raft_term") >= 1
    assert value(samples, "cairn_raft_commit_index") == value(samples, "cairn_raft_applied_index") > 0
    assert value(samples, "cairn_placement_nodes", state="up") == 3
    assert value(samples, "cairn_placement_pgs") == 8 and value(samples, "cairn_placement_degraded_pgs") == 0
    assert value(samples, "cairn_placement_pgs_by_redundancy", failures_tolerated="1") == 8
    heartbeats = (
        "cairn_grpc_requests_total",
        {"service": "cairn.placement.v1.Placement", "method": "Heartbeat"},
    )
    assert value(samples, heartbeats[0], **heartbeats[1], code="OK") >= 3

    # a data node: usage, shard writes and reads, a read of a missing shard
    port, ops, _ = nodes[0]
    shard, data = ShardKey(os.urandom(16), 0), os.urandom(300_000)
    dn = DataNodeClient(f"127.0.0.1:{port}")
    try:
        await dn.write_shard(shard, 0, pieces_of(data))
        assert await read_all(dn, shard) == data
        try:
            await read_all(dn, ShardKey(os.urandom(16), 0))
        except ShardNotFound:
            pass
        else:
            raise AssertionError("a missing shard was read")
        await dn.scrub_start()  # a scrub pass over the node's volume, seen in its metrics below
        for _ in range(200):
            scrub = await dn.scrub_status()
            if scrub.pass_finished_at is not None and scrub.pass_volumes_done == scrub.pass_volumes_total:
                break
            await asyncio.sleep(0.05)
    finally:
        await dn.close()
    status, body = get(ops, "/cairn/health/ready")
    assert status == 200 and json.loads(body)["state"] == "up"
    samples = scrape(ops)
    assert value(samples, "cairn_datanode_capacity_bytes") == 1_000_000_000
    assert value(samples, "cairn_datanode_used_bytes") >= len(data)
    assert (
        value(samples, "cairn_datanode_filesystem_size_bytes")
        > value(samples, "cairn_datanode_filesystem_free_bytes")
        > 0
    )
    assert value(samples, "cairn_datanode_shards", state="live") == 1
    assert value(samples, "cairn_datanode_state", state="up") == 1
    assert value(samples, "cairn_grpc_requests_total", service=DATANODE, method="WriteShard", code="OK") == 1
    assert value(samples, "cairn_grpc_received_bytes_total", service=DATANODE, method="WriteShard") > len(
        data
    )
    assert value(samples, "cairn_grpc_requests_total", service=DATANODE, method="ReadShard", code="OK") == 1
    assert value(samples, "cairn_grpc_sent_bytes_total", service=DATANODE, method="ReadShard") > len(data)
    assert (
        value(samples, "cairn_grpc_requests_total", service=DATANODE, method="ReadShard", code="NOT_FOUND")
        == 1
    )
    assert value(samples, "cairn_datanode_scrub_pass_bytes") >= len(data)
    assert value(samples, "cairn_datanode_scrub_pass_volumes", of="done") == scrub.pass_volumes_total >= 1
    assert value(samples, "cairn_datanode_scrub_findings") == 0
    assert value(samples, "cairn_datanode_scrub_state", state="idle") == 1
    assert value(samples, "cairn_datanode_compaction_running") == 0
    assert value(samples, "cairn_datanode_compactions", outcome="done") == 0

    # placement gone: the data node is still ready and counts its failed heartbeats
    await asyncio.to_thread(placement.kill9)
    await asyncio.to_thread(
        wait_for,
        lambda: value(scrape(ops), "cairn_datanode_heartbeat_failures") >= 1,
        20,
        "a failed heartbeat",
    )
    assert get(ops, "/cairn/health/ready")[0] == 200
    assert get(ops, "/cairn/health/live")[0] == 200


def test_metadata_serves_metrics_and_health(tmp_path: Path, processes: list[ServiceProcess]) -> None:
    port, ops = free_port(), free_port()
    proc = ServiceProcess(
        "cairn.metadata",
        ["--data-dir", str(tmp_path / "md"), "--port", str(port), "--ops-port", str(ops)],
        tmp_path / "metadata.log",
    ).start()
    processes.append(proc)
    started(proc, f"metrics and health on http://127.0.0.1:{ops}")
    status, body = get(ops, "/cairn/health/ready")
    assert status == 200 and json.loads(body)["status"] == "ok"
    assert value(scrape(ops), "cairn_metadata_files_bytes") > 0
    assert get(ops, "/cairn/health/nothing")[0] == 404
