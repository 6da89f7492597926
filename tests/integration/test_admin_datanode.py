"""`cairn admin compact` and `cairn admin scrub ...` as subprocesses against real data node
processes that heartbeat to a real placement replica (nodes named by their id from the
cluster map, or by address)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cairn.datanode.client import ShardKey, ShardNotFound
from cairn.placement.client import PlacementClient
from tests.faults.test_datanode_compaction import BASE_ENV
from tests.faults.test_datanode_faults import damage_first_copy
from tests.integration.test_datanode import pieces_of, read_all, ready_client
from tests.integration.test_datanode_heartbeat import start_node as heartbeating_node
from tests.integration.test_datanode_heartbeat import start_placement
from tests.support.procs import ServiceProcess, free_port, wait_for

SHARD = 40_000
NODE_ENV = {
    **BASE_ENV,  # small volumes, compaction and scrub timers off
    "CAIRN_DATANODE_STORAGE_WRITER_LANES": "1",
    "CAIRN_DATANODE_COMPACTION_RATE_MIB_S": "0.2",  # live bytes copied: ~2 s a pass, progress to show
    "CAIRN_DATANODE_SCRUB_RATE_MIB_S": "0",
}


def start_node(
    data_dir: Path, port: int, placement_port: int, processes: list[ServiceProcess], host: str
) -> ServiceProcess:
    return heartbeating_node(data_dir, port, placement_port, processes, host, NODE_ENV)


def admin(*argv: str, placement: str | None = None, timeout: float = 60) -> tuple[int, str, str]:
    target = ("--placement", placement) if placement else ()
    done = subprocess.run(
        [sys.executable, "-m", "cairn", "admin", *argv, *target],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done.returncode, done.stdout, done.stderr


async def node_ids(placement: str, count: int) -> dict[str, str]:
    """addr -> node id, once `count` nodes are in the map."""
    client = PlacementClient([placement])
    try:
        for _ in range(200):
            nodes = (await client.cluster_map()).nodes
            if len(nodes) >= count:
                return {n.addr: n.id for n in nodes.values()}
            await asyncio.sleep(0.1)
    finally:
        await client.close()
    raise AssertionError("the data nodes never showed up in the cluster map")


async def fill(port: int, count: int, pg: int = 3) -> dict[ShardKey, bytes]:
    client = await ready_client(port)
    try:
        datas = {ShardKey(os.urandom(16), i % 6): os.urandom(SHARD) for i in range(count)}
        for k, d in datas.items():
            await client.write_shard(k, pg, pieces_of(d))
        return datas
    finally:
        await client.close()


def volume_bytes(data_dir: Path) -> int:
    return sum(p.stat().st_size for p in (data_dir / "volumes").glob("*.cvol"))


@pytest.fixture
def cluster(tmp_path: Path, processes: list[ServiceProcess]) -> dict[str, Any]:
    """One placement replica and two data nodes heartbeating to it."""
    placement_port = free_port()
    start_placement(tmp_path, placement_port, processes)
    placement = f"127.0.0.1:{placement_port}"
    ports = [free_port(), free_port()]
    dirs = [tmp_path / "dn-a", tmp_path / "dn-b"]
    for i, (port, data_dir) in enumerate(zip(ports, dirs, strict=True)):
        start_node(data_dir, port, placement_port, processes, host=f"h{i}")
    ids = asyncio.run(node_ids(placement, 2))
    return {
        "placement": placement,
        "placement_port": placement_port,
        "ports": ports,
        "dirs": dirs,
        "ids": [ids[f"127.0.0.1:{p}"] for p in ports],
    }


async def test_compact_a_node_by_its_id_with_progress(cluster: dict[str, Any]) -> None:
    port, data_dir, node = cluster["ports"][0], cluster["dirs"][0], cluster["ids"][0]
    placement = cluster["placement"]
    datas = await fill(port, 40)
    client = await ready_client(port)
    try:
        dead = [k for i, k in enumerate(datas) if i % 3]
        assert await client.delete_shards(dead) == len(dead)
    finally:
        await client.close()
    before = volume_bytes(data_dir)

    code, out, err = await asyncio.to_thread(admin, "compact", node, placement=placement)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"{node} (127.0.0.1:{port}): started a pass"
    assert "volume(s) to compact" in lines[1]
    planned = int(lines[1].split()[0])
    assert planned >= 3
    assert sum(1 for line in lines if ": done, " in line and "reclaimed" in line) == planned
    assert any(": COPYING, walked " in line for line in lines), out  # progress while copying
    assert lines[-1].startswith(f"{planned} job(s): {planned} done, 0 other; reclaimed ")
    assert "MB/s of volumes walked" in lines[-1]
    assert volume_bytes(data_dir) < 0.6 * before

    client = await ready_client(port)  # every live shard reads back, every deleted one stays so
    try:
        for k, d in datas.items():
            if k in dead:
                with pytest.raises(ShardNotFound):
                    await read_all(client, k)
            else:
                assert await read_all(client, k) == d
    finally:
        await client.close()

    code, out, err = await asyncio.to_thread(
        admin, "compact", node, "--status", "--json", placement=placement
    )
    assert code == 0, err
    status = json.loads(out)
    assert (status["compacted"], status["aborted"], status["running"]) == (planned, 0, False)
    assert status["reclaimed_bytes"] == status["last_pass"]["reclaimed_bytes"] > 0
    assert [r["outcome"] for r in status["last_pass"]["results"]] == ["done"] * planned

    code, out, err = await asyncio.to_thread(  # by address, nothing left past the thresholds
        admin, "compact", f"127.0.0.1:{port}", "--json"
    )
    assert code == 0, err
    again = json.loads(out)
    assert again["started"] and again["pass"]["volumes"] == [] and again["pass"]["finished_at"]

    code, out, err = await asyncio.to_thread(admin, "compact", f"127.0.0.1:{port}", "--volume", "999")
    assert code == 1 and "VolumeNotCompactable" in err and out == ""
    code, _, err = await asyncio.to_thread(admin, "compact", "no-such-node", placement=placement)
    assert code == 2 and "no data node 'no-such-node'" in err


async def test_scrub_start_status_findings_and_pause_across_nodes(
    cluster: dict[str, Any], processes: list[ServiceProcess]
) -> None:
    placement, ports, dirs, ids = cluster["placement"], cluster["ports"], cluster["dirs"], cluster["ids"]
    datas = await fill(ports[0], 12)
    await fill(ports[1], 3)
    victim = list(datas)[2]  # in the first, sealed volume
    await asyncio.to_thread(damage_first_copy, dirs[0] / "volumes", datas[victim][10_000:10_100])

    code, out, err = await asyncio.to_thread(admin, "scrub", "start", placement=placement)
    assert code == 0, err
    assert sorted(out.splitlines()) == sorted(f"{i}: started a pass" for i in ids)

    def finished() -> bool:
        code, out, _ = admin("scrub", "status", "--json", placement=placement)
        docs = json.loads(out)["nodes"] if code == 0 else []
        return len(docs) == 2 and all(d["pass"]["finished_at"] for d in docs)

    await asyncio.to_thread(wait_for, finished, 30, "both scrub passes to finish")
    code, out, err = await asyncio.to_thread(
        admin, "scrub", "status", "--findings", "--json", placement=placement
    )
    assert code == 0, err
    docs = {d["node"]: d for d in json.loads(out)["nodes"]}
    damaged, clean = docs[ids[0]], docs[ids[1]]
    assert (damaged["findings"], clean["findings"]) == (1, 0)
    (finding,) = damaged["finding_list"]
    assert (finding["blob_id"], finding["index"], finding["pg"], finding["kind"]) == (
        victim.blob_id.hex(),
        victim.index,
        3,
        "corrupt",
    )
    assert sum(v["records"] for v in damaged["volumes"]) == len(datas) - 1  # the rest verified whole
    assert clean["finding_list"] == [] and all(v["error"] == "" for v in clean["volumes"])

    code, out, err = await asyncio.to_thread(
        admin, "scrub", "status", ids[0], "--volumes", "--findings", placement=placement
    )
    assert code == 0, err
    assert out.splitlines()[0].split()[:3] == ["NODE", "ADDRESS", "STATE"]
    assert re.search(rf"^{ids[0]}\s+127.0.0.1:{ports[0]}\s+idle \(timer off\)\s", out, re.M)
    assert re.search(rf"^\s+{victim.blob_id.hex()}\s+{victim.index}\s+3\s+corrupt\s", out, re.M)
    assert re.search(r"^\s+VOLUME\s+SCRUBBED\s+READ\s+RECORDS", out, re.M)

    code, out, err = await asyncio.to_thread(admin, "scrub", "pause", ids[1], placement=placement)
    assert (code, out.strip()) == (0, f"{ids[1]}: paused (`cairn admin scrub start` goes on)"), err
    processes[-1].stop()  # the pause survives a restart of that node
    start_node(dirs[1], ports[1], cluster["placement_port"], processes, host="h1")
    code, out, err = await asyncio.to_thread(
        admin, "scrub", "status", f"127.0.0.1:{ports[1]}", "--json", placement=placement
    )
    assert code == 0, err
    assert json.loads(out)["nodes"][0]["state"] == "paused"
    code, out, err = await asyncio.to_thread(admin, "scrub", "start", f"127.0.0.1:{ports[1]}", "--json")
    assert code == 0 and json.loads(out)["nodes"][0]["started"] is True, err


def test_an_unreachable_node_is_exit_3_and_the_others_still_answer(
    tmp_path: Path, processes: list[ServiceProcess]
) -> None:
    port = free_port()
    start_node(tmp_path / "dn", port, 1, processes, host="h0")  # no placement answers there
    gone = f"127.0.0.1:{free_port()}"
    code, out, err = admin("scrub", "status", f"127.0.0.1:{port}", gone, "--timeout", "2")
    assert code == 3
    rows = {line.split()[0]: line.split()[2] for line in out.splitlines()[1:]}
    assert rows == {f"127.0.0.1:{port}": "idle", gone: "unreachable"}
    assert gone in err
