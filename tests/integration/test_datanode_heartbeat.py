"""A data node heartbeating to a real placement replica: it gets an id, keeps it across a
restart, shows up in the cluster map, and keeps serving while placement is down."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from cairn.datanode.client import ShardKey
from cairn.placement.client import PlacementClient
from tests.integration.test_datanode import pieces_of, read_all, ready_client
from tests.support.procs import ServiceProcess, free_port, wait_for


def start_placement(tmp_path: Path, port: int, processes: list[ServiceProcess]) -> ServiceProcess:
    proc = ServiceProcess(
        "cairn.placement",
        [
            "--id",
            "p1",
            "--peers",
            f"p1=127.0.0.1:{port}",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "p1"),
            "--k",
            "2",
            "--m",
            "1",
            "--pg-count",
            "8",
        ],
        tmp_path / f"placement-{len(processes)}.log",
    ).start()
    processes.append(proc)
    wait_for(
        lambda: f"listening on 127.0.0.1:{port}" in proc.log_tail(50) or not proc.alive(),
        20,
        "the placement replica to listen",
    )
    assert proc.alive(), proc.log_tail()
    return proc


def start_node(
    data_dir: Path,
    port: int,
    placement_port: int,
    processes: list[ServiceProcess],
    host: str = "ha",
    env: dict[str, str] | None = None,
) -> ServiceProcess:
    proc = ServiceProcess(
        "cairn.datanode",
        [
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--zone",
            "za",
            "--rack",
            "ra",
            "--node-host",
            host,
            "--capacity",
            "1000000000",
            "--placement",
            f"127.0.0.1:{placement_port}",
        ],
        data_dir.parent / f"datanode-{len(processes)}.log",
        env={
            "CAIRN_DATANODE_HEARTBEAT_INTERVAL_S": "0.2",
            "CAIRN_DATANODE_HEARTBEAT_MAX_BACKOFF_S": "0.5",
            **(env or {}),
        },
    ).start()
    processes.append(proc)
    wait_for(
        lambda: f"datanode listening on 127.0.0.1:{port}" in proc.log_tail(50) or not proc.alive(),
        20,
        "the data node to listen",
    )
    assert proc.alive(), proc.log_tail()
    return proc


def node_id_of(data_dir: Path) -> str | None:
    try:
        return (data_dir / "node_id").read_text().strip() or None
    except FileNotFoundError:
        return None


async def test_heartbeats_register_the_node_and_survive_placement_outages(
    tmp_path: Path, processes: list[ServiceProcess]
) -> None:
    pport, dport, data_dir = free_port(), free_port(), tmp_path / "node"
    placement = start_placement(tmp_path, pport, processes)
    node = start_node(data_dir, dport, pport, processes)
    await asyncio.to_thread(wait_for, lambda: node_id_of(data_dir) is not None, 20, "a node id")
    node_id = node_id_of(data_dir)

    pc = PlacementClient([f"127.0.0.1:{pport}"])
    try:
        cluster = await pc.cluster_map()
        info = cluster.nodes[node_id]  # type: ignore[index]
        assert (info.addr, info.zone, info.rack, info.host) == (f"127.0.0.1:{dport}", "za", "ra", "ha")
        assert info.capacity_bytes == 1_000_000_000
    finally:
        await pc.close()

    client = await ready_client(dport)
    try:
        assert (await client.stat()).node_id == node_id
        await asyncio.to_thread(placement.kill9)
        k, data = ShardKey(os.urandom(16), 0), os.urandom(10_000)
        await client.write_shard(k, 0, pieces_of(data))  # placement down: the node still serves
        assert await read_all(client, k) == data
        assert node.alive()
    finally:
        await client.close()

    await asyncio.to_thread(node.stop)
    start_node(data_dir, dport, pport, processes)
    client = await ready_client(dport)
    try:
        assert (await client.stat()).node_id == node_id  # the persisted id, before any heartbeat
    finally:
        await client.close()
