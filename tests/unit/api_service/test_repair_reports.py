"""RepairReporter: reports leave the request at once, reach the queue in batches, survive failed
calls (bounded retry), and the data path hands it a PUT's missing shards and a reader's bad ones."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence

from cairn.api_service.blob_io import ShardFault
from cairn.api_service.blob_reader import BlobReader
from cairn.api_service.blob_writer import BlobWriter
from cairn.api_service.data_path import ClusterBlobStore
from cairn.api_service.repair_reports import RepairReporter
from cairn.metadata.models import RepairReport

from .test_blob_io import ADDRS, FAST, SMALL, Cluster
from .test_data_path import Placement, chunks


def report(n: int, index: int = 0) -> RepairReport:
    return RepairReport(n.to_bytes(16, "big"), index, 3, "corrupt", "read", "n1:7000")


class Queue:
    def __init__(self, failures: int = 0) -> None:
        self.calls: list[list[RepairReport]] = []
        self.failures = failures
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, reports: Sequence[RepairReport]) -> int:
        await self.gate.wait()
        self.calls.append(list(reports))
        if self.failures:
            self.failures -= 1
            raise ConnectionError("metadata unavailable")
        return len(reports)


async def test_reports_are_batched_deduplicated_and_never_wait_for_the_queue() -> None:
    queue = Queue()
    queue.gate.clear()  # the metadata service does not answer yet
    reporter = RepairReporter(queue, batch=3)
    for n in range(5):
        reporter.report(report(n))  # returns at once although nothing can be sent
    reporter.report(report(1))  # the same shard again: sent once
    await asyncio.sleep(0.05)
    assert reporter.sent == 0
    queue.gate.set()
    await reporter.flush()
    assert [len(c) for c in queue.calls] == [3, 2] and reporter.sent == 5
    assert {r.blob_id for c in queue.calls for r in c} == {report(n).blob_id for n in range(5)}
    await reporter.close()


async def test_a_failing_queue_is_retried_then_the_batch_dropped() -> None:
    queue = Queue(failures=2)
    reporter = RepairReporter(queue, attempts=3, backoff_s=0.01)
    reporter.report(report(1))
    await reporter.flush()
    assert (reporter.sent, reporter.dropped, len(queue.calls)) == (1, 0, 3)

    queue.failures = 10
    reporter.report(report(2))
    await reporter.flush()
    assert (reporter.sent, reporter.dropped, len(queue.calls)) == (1, 1, 6)
    await reporter.close()


async def test_reports_beyond_max_pending_are_dropped() -> None:
    queue = Queue()
    queue.gate.clear()
    reporter = RepairReporter(queue, batch=1, max_pending=2)
    reporter.report(report(0))
    await asyncio.sleep(0.01)  # in flight
    for n in range(1, 5):
        reporter.report(report(n))  # two wait, two are dropped
    assert reporter.dropped == 2
    queue.gate.set()
    await reporter.close()
    assert reporter.sent == 3


async def test_the_data_path_reports_a_puts_missing_shards_and_a_readers_bad_ones() -> None:
    cluster, placement = Cluster(), Placement()
    queue = Queue()
    reporter = RepairReporter(queue)
    faults: list[ShardFault] = []

    def on_fault(fault: ShardFault) -> None:
        faults.append(fault)
        reporter.report(
            RepairReport(fault.key.blob_id, fault.key.index, fault.pg, fault.kind, "read", fault.addr)
        )

    async def record(*_: object) -> None:
        return None

    store = ClusterBlobStore(
        placement,
        record,
        BlobWriter(cluster.pool, SMALL, FAST),
        BlobReader(cluster.pool, FAST, on_fault=on_fault),
        report=reporter.report,
    )
    cluster.node(3).mode = "fail_write"  # n3 has a slot in every PG (12 nodes, 12 slots)
    data = os.urandom(20_000)
    ref = await store.write("b", "k", chunks(data))
    row = placement.map.pgs[ref.pg]
    await reporter.flush()
    assert queue.calls == [[RepairReport(ref.blob_id, row.index("n3"), ref.pg, "missing", "put", ADDRS[3])]]

    cluster.node(3).mode = "ok"
    bad = 0 if row[0] != "n3" else 1  # a data slot other than n3's (which lacks its shard)
    cluster.node(int(row[bad][1:])).mode = "corrupt"
    assert b"".join([p async for p in store.read([ref], 0, len(data) - 1)]) == data
    await reporter.flush()
    reported = {(r.index, r.kind, r.node) for c in queue.calls[1:] for r in c}
    assert (bad, "corrupt", ADDRS[int(row[bad][1:])]) in reported
    assert all(r.source == "read" and r.pg == ref.pg for c in queue.calls[1:] for r in c)
    assert (bad, "corrupt", ref.pg) in [(f.key.index, f.kind, f.pg) for f in faults]
    await reporter.close()
