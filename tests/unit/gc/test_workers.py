"""The background service's worker framework, its gRPC edge, and the reclaim worker's rule that a
blob stays queued while a node of its PG does not answer."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence

import pytest

from cairn.gc.client import GcClient
from cairn.gc.errors import UnknownWorker
from cairn.gc.nodes import NodePool
from cairn.gc.reclaim import ReclaimWorker, shard_nodes
from cairn.gc.rpc_server import start_server
from cairn.gc.service import GcService
from cairn.gc.worker import Sweep, Throttle, WorkerLoop
from cairn.metadata.models import GcItem, GcReason
from cairn.placement.cluster_map import ClusterMap, NodeInfo, NodeState, SlotMigration
from tests.support.procs import free_port


class Counting:
    """A worker whose passes take `delay_s`, count themselves, and fail when told to."""

    def __init__(self, name: str, delay_s: float = 0.0) -> None:
        self.name = name
        self.delay_s = delay_s
        self.running = 0
        self.overlapped = False
        self.fail = False

    async def run_pass(self) -> Counter[str]:
        self.running += 1
        self.overlapped |= self.running > 1
        try:
            await asyncio.sleep(self.delay_s)
            if self.fail:
                raise RuntimeError("disk on fire")
            return Counter(items=2)
        finally:
            self.running -= 1

    async def backlog(self) -> dict[str, int]:
        return {"waiting": 7}


async def test_passes_of_one_worker_never_overlap_and_failures_are_reported() -> None:
    worker = Counting("w", delay_s=0.05)
    loop = WorkerLoop(worker, interval_s=3600)
    results = await asyncio.gather(*(loop.run_once() for _ in range(3)))
    assert not worker.overlapped
    assert [r.counters for r in results] == [{"items": 2}] * 3
    worker.fail = True
    failed = await loop.run_once()
    assert failed.error == "RuntimeError: disk on fire" and failed.counters == {}
    status = await loop.status()
    assert (status.passes, status.totals, status.backlog) == (4, {"items": 6}, {"waiting": 7})
    assert status.last == failed and not status.running


async def run_timer(loop: WorkerLoop, seconds: float = 0.2) -> None:
    """`loop` on its timer for `seconds`, then cancelled."""
    task = asyncio.create_task(loop.run_forever())
    await asyncio.sleep(seconds)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_the_timer_runs_passes() -> None:
    loop = WorkerLoop(Counting("w"), interval_s=0.02)
    await run_timer(loop)
    assert (await loop.status()).passes >= 3


class Sweeping(Counting):
    """A worker that does less on its timer."""

    async def run_timed_pass(self) -> Counter[str]:
        return Counter(timed=1)


async def test_the_timer_runs_the_timed_pass_and_run_once_the_whole_one() -> None:
    loop = WorkerLoop(Sweeping("w"), interval_s=0.02)
    await run_timer(loop)
    timed = (await loop.status()).totals
    assert timed.keys() == {"timed"} and timed["timed"] >= 3
    assert (await loop.run_once()).counters == {"items": 2}


def test_a_sweep_lists_every_pg_once_per_period_in_turn() -> None:
    def epoch() -> float:
        return 0.0

    sweep = Sweep(interval_s=30, sweep_s=3600, wall=epoch)  # 256 PGs: 3 a pass (2.13 rounded up)
    passes = [sweep.take(256) for _ in range(86)]
    assert all(len(p) == 3 for p in passes)
    listed = [pg for p in passes for pg in p]
    assert listed[:256] == list(range(256))  # in turn, none twice before all once
    assert listed[256:] == list(range(2))  # then round again
    assert Sweep(60, 0, wall=epoch).take(256) == list(range(256))  # 0: every pass lists them all
    assert Sweep(7200, 3600, wall=epoch).take(4) == [0, 1, 2, 3]  # a period shorter than the interval
    one = Sweep(1, 3600, wall=epoch)
    assert [one.take(4) for _ in range(5)] == [[0], [1], [2], [3], [0]]  # at least one a pass


def test_a_restarted_sweep_goes_on_where_the_clock_says() -> None:
    """A service restarted every 10 minutes (20 passes of 30 s) with a 1 h sweep still lists
    every PG within the hour, not the first 60 again and again."""
    listed: set[int] = set()
    for restart in range(6):
        sweep = Sweep(interval_s=30, sweep_s=3600, wall=lambda at=restart * 600.0: at)
        listed.update(pg for _ in range(20) for pg in sweep.take(256))
    assert listed == set(range(256))


async def test_throttle_spaces_units() -> None:
    throttle = Throttle(rate=100)
    t0 = time.monotonic()
    for _ in range(11):
        await throttle.take()
    assert time.monotonic() - t0 >= 0.09
    unlimited = Throttle(rate=0)
    t0 = time.monotonic()
    for _ in range(1000):
        await unlimited.take()
    assert time.monotonic() - t0 < 0.5


async def test_run_once_and_status_over_grpc() -> None:
    first, second = Counting("first"), Counting("second")
    service = GcService([WorkerLoop(first, 3600), WorkerLoop(second, 3600)])
    server, port = await start_server(service, "127.0.0.1", 0)
    client = GcClient(f"127.0.0.1:{port}")
    try:
        results = await client.run_once()
        assert [r.worker for r in results] == ["first", "second"]  # pass order
        assert (await client.run_once(["second"]))[0].counters == {"items": 2}
        with pytest.raises(UnknownWorker, match="no such worker: nope"):
            await client.run_once(["nope"])
        statuses = {s.name: s for s in await client.status()}
        assert statuses["second"].passes == 2 and statuses["first"].passes == 1
        assert statuses["second"].totals == {"items": 4} and statuses["first"].backlog == {"waiting": 7}
        assert statuses["second"].last is not None and statuses["second"].last.error == ""
    finally:
        await client.close()
        await server.stop(0)


class Queue:
    def __init__(self, items: Sequence[GcItem]) -> None:
        self.items = list(items)
        self.acked: list[bytes] = []

    async def list_gc_work(self, limit: int = 1000) -> tuple[GcItem, ...]:
        return tuple(i for i in self.items if i.blob_id not in self.acked)[:limit]

    async def ack_gc_work(self, blob_ids: Sequence[bytes]) -> int:
        self.acked.extend(blob_ids)
        return len(blob_ids)


class OneMap:
    def __init__(self, cmap: ClusterMap) -> None:
        self.cmap = cmap

    async def cluster_map(self, min_epoch: int = 0, wait_s: float = 0.0) -> ClusterMap:
        return self.cmap


async def test_a_blob_stays_queued_while_a_node_of_its_pg_does_not_answer() -> None:
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    node = NodeInfo("dn-0001", dead, "z", "r", "h", NodeState.UP, 1, 0, 0)
    cmap = ClusterMap(1, 1, 0, 1, {"dn-0001": node}, (("dn-0001",),))
    queue = Queue([GcItem(b"\x01" * 16, 0, 10, GcReason.DELETED, 1)])
    pool = NodePool()
    worker = ReclaimWorker(queue, OneMap(cmap), pool)
    try:
        counters = await worker.run_pass()
    finally:
        await pool.close()
    assert queue.acked == []
    assert counters["blobs_pending"] == 1 and counters["node_unavailable"] == 1
    assert await worker.backlog() == {"queued_blobs": 1, "queued_bytes": 10, "expired_intents": 0}


def test_a_slot_moving_lists_its_old_holders_for_deletion() -> None:
    nodes = {
        n: NodeInfo(n, f"127.0.0.1:{i + 1}", "z", "r", f"h{i}", NodeState.UP, 1, 0, 0)
        for i, n in enumerate(("dn-0001", "dn-0002", "dn-0003", "dn-0004"))
    }
    # slot 0 moved from dn-0003 (and, before that, the removed dn-0009) to dn-0001
    migrations = {0: {0: SlotMigration(("dn-0003", "dn-0009"), 5)}}
    cmap = ClusterMap(5, 1, 1, 1, nodes, (("dn-0001", "dn-0002"),), migrations)
    assert [(slot, n.id) for slot, n in shard_nodes(cmap, 0)] == [
        (0, "dn-0001"),
        (0, "dn-0003"),
        (1, "dn-0002"),
    ]
