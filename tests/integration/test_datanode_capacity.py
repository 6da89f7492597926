"""Real capacity on real processes: data nodes report their filesystem's size (less the reserve)
and use in every heartbeat; one whose disk is past its reserve is full in the placement map, gets
no placement-group slots, and `cairn admin nodes` says so."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

from cairn.placement.client import PlacementClient
from tests.integration.test_datanode_heartbeat import node_id_of, start_placement
from tests.support.procs import ServiceProcess, free_port, wait_for

GiB = 2**30


def start_node(
    data_dir: Path, placement_port: int, host: str, processes: list[ServiceProcess], **env: str
) -> None:
    proc = ServiceProcess(
        "cairn.datanode",
        [
            *("--data-dir", str(data_dir), "--port", str(free_port()), "--node-host", host),
            *("--placement", f"127.0.0.1:{placement_port}"),
        ],
        data_dir.parent / f"{data_dir.name}.log",
        env={"CAIRN_DATANODE_HEARTBEAT_INTERVAL_S": "0.2", **env},
    ).start()
    processes.append(proc)


async def test_a_node_past_its_reserve_is_full_and_gets_no_slots(
    tmp_path: Path, processes: list[ServiceProcess]
) -> None:
    pport = free_port()
    start_placement(tmp_path, pport, processes)  # 2+1, 8 PGs
    dirs = [tmp_path / f"dn{i}" for i in range(4)]
    for i, data_dir in enumerate(dirs[:3]):
        start_node(data_dir, pport, f"host-{i}", processes)
    # the fourth node keeps a reserve larger than any disk: it is past it from the start
    start_node(dirs[3], pport, "host-3", processes, CAIRN_DATANODE_RESERVE_BYTES=str(2**62))
    for data_dir in dirs:
        await asyncio.to_thread(wait_for, lambda d=data_dir: node_id_of(d) is not None, 20, "a node id")

    client = PlacementClient([f"127.0.0.1:{pport}"])
    try:
        for _ in range(100):
            cmap = await client.cluster_map()
            if cmap.created and len(cmap.nodes) == 4:
                break
            await asyncio.sleep(0.1)
    finally:
        await client.close()
    assert cmap.created
    ids = [node_id_of(d) for d in dirs]
    disk = shutil.disk_usage(dirs[0])
    first = cmap.nodes[ids[0] or ""]
    assert first.capacity_bytes == disk.total - GiB  # the filesystem less the default reserve
    assert abs(first.used_bytes - (disk.total - disk.free)) < 256 * 2**20  # the filesystem's use
    assert not first.full
    stuffed = cmap.nodes[ids[3] or ""]
    assert stuffed.full and stuffed.state == "up" and stuffed.capacity_bytes == 1
    slots = cmap.slots_per_node()
    assert slots[ids[3] or ""] == 0 and all(slots[i or ""] == 8 for i in ids[:3])

    admin = [sys.executable, "-m", "cairn", "admin", "nodes", "--placement", f"127.0.0.1:{pport}"]

    def run(args: list[str]) -> str:
        return subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout

    listed = json.loads(await asyncio.to_thread(run, [*admin, "--json"]))
    assert {n["id"]: n["full"] for n in listed["nodes"]} == {
        ids[0]: False,
        ids[1]: False,
        ids[2]: False,
        ids[3]: True,
    }
    text = await asyncio.to_thread(run, admin)
    assert "up, full" in text
