"""Drift test: the typed client and the servicer speak the same DataNode contract.

A real servicer over a real disk store serves on 127.0.0.1:0; every RPC is called through
`DataNodeClient` with typed arguments and its typed answer checked. A server interceptor
records which RPCs were actually served, and that set must be the service's full method set
from the descriptor: an RPC added to the .proto but not reached by the client (or the other way
round) fails here.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cairn.checksums import crc32c
from cairn.datanode.client import DataNodeClient
from cairn.datanode.compaction import Compactor
from cairn.datanode.config import CompactionConfig, ScrubConfig
from cairn.datanode.errors import ShardConflict, VolumeNotCompactable
from cairn.datanode.reports import ScrubState
from cairn.datanode.rpc_server import DataNodeServicer
from cairn.datanode.scrub import Scrubber
from cairn.datanode.shards import FailureDomain, NodeStat, NodeState, ShardInfo, ShardKey, ShardState
from cairn.proto import datanode_pb2
from tests.support.rpc_contract import Recorder, recording_server, rpc_names
from tests.unit.datanode.support import open_store

SERVICE = datanode_pb2.DESCRIPTOR.services_by_name["DataNode"]


async def pieces(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_every_rpc_is_served_through_the_typed_client(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "node", capacity=1 << 30)
    recorder = Recorder()
    server = recording_server(recorder)
    labels = FailureDomain("zone-a", "rack-b", "host-c")
    compactor = Compactor(store, CompactionConfig(min_dead_bytes=0))
    scrubber = Scrubber(store, ScrubConfig(rate_mib_s=0))
    DataNodeServicer(
        store, lambda: "dn-0001", labels, compactor=compactor, scrubber=scrubber, progress_interval_s=0.01
    ).add_to_server(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    client = DataNodeClient(f"127.0.0.1:{port}")
    try:
        blob = os.urandom(16)
        small, large = os.urandom(700), os.urandom(5000)
        one, two = ShardKey(blob, 0), ShardKey(blob, 1)

        put = await client.write_shard(one, 9, pieces(small))  # one piece: PutShard
        assert put == ShardInfo(one, 9, len(small), crc32c(small), ShardState.LIVE)
        streamed = await client.write_shard(two, 9, pieces(large[:2000], large[2000:]))  # WriteShard
        assert streamed == ShardInfo(two, 9, len(large), crc32c(large), ShardState.LIVE)

        read = [chunk async for chunk in client.read_shard(two, 1000)]  # to the end: ReadShard
        assert b"".join(read) == large[1000:]
        read = [chunk async for chunk in client.read_shard(two, 1000, 3000)]  # bounded: ReadShards
        assert b"".join(read) == large[1000:4000]
        ranges = await client.read_ranges([(one, 100, 50), (two, 4990, 100)])  # ReadShards
        assert ranges == [small[100:150], large[4990:]]

        three = ShardKey(blob, 2)
        batch = await client.put_shards([(three, 10, b"third"), (one, 9, b"other bytes")])  # PutShards
        assert batch[0] == ShardInfo(three, 10, 5, crc32c(b"third"), ShardState.LIVE)
        assert isinstance(batch[1], ShardConflict)
        assert await client.delete_shards([three]) == 1

        assert await client.delete_shards([one, ShardKey(os.urandom(16), 3)]) == 1  # DeleteShards

        page, cursor = await client.list_shards(9, limit=1)  # ListShards
        assert (page, cursor) == ([ShardInfo(one, 9, len(small), crc32c(small), ShardState.DEAD)], one)
        assert await client.list_shards(9, after=cursor, limit=1) == ([streamed], None)

        stat = await client.stat()  # Stat
        assert isinstance(stat, NodeStat) and stat.labels == labels
        assert (stat.node_id, stat.state, stat.capacity_bytes) == ("dn-0001", NodeState.UP, 1 << 30)
        assert (stat.live_shards, stat.dead_shards) == (1, 3)  # the unknown key's tombstone too
        assert stat.volumes >= 1 and stat.used_bytes > len(small) + len(large)

        lanes = set(store.writable_volume_ids())
        # Compact: nothing sealed; the pass seals the lane volume that is mostly dead and compacts it
        updates = [u async for u in client.compact()]
        assert updates[0].started and updates[-1].progress.finished_at is not None
        compacted = set(updates[-1].progress.volumes)
        assert compacted and compacted <= lanes and not compacted & set(store.writable_volume_ids())
        assert [r.outcome for r in updates[-1].progress.results] == ["done"] * len(compacted)
        with pytest.raises(VolumeNotCompactable):  # a writer lane's volume is never compacted
            [u async for u in client.compact(volume=store.writable_volume_ids()[0])]
        status = await client.compaction_status()  # CompactionStatus
        assert status.last_pass == updates[-1].progress and not status.running

        assert await client.scrub_start()  # ScrubStart
        await client.scrub_pause()  # ScrubPause
        scrub = await client.scrub_status()  # ScrubStatus
        assert scrub.state is ScrubState.PAUSED and scrub.rate_mib_s == 0
        assert await client.scrub_findings() == ([], None)  # ListScrubFindings
    finally:
        await client.close()
        await server.stop(None)
        await scrubber.stop()
        await compactor.stop()
        await store.close()

    assert recorder.served == rpc_names(SERVICE)
