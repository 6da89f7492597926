"""The typed async client of the background service, and the RPC edge its servicer shares.

The contract is `proto/gc.proto` (service `cairn.gc.v1.Gc`). Callers see `PassResult` and
`WorkerStatus` dataclasses and `GcError` subclasses, never protobuf or grpc types. `ERRORS` and
the message conversions are defined once here; `rpc_server.py` imports them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import grpc

from cairn import rpc
from cairn.gc.errors import GcError, GcUnavailable, UnknownWorker
from cairn.gc.worker import PassResult, WorkerStatus
from cairn.proto import gc_pb2, gc_pb2_grpc

ERRORS = rpc.ErrorTable(
    {UnknownWorker: grpc.StatusCode.NOT_FOUND, GcUnavailable: grpc.StatusCode.UNAVAILABLE},
    unavailable=GcUnavailable,
    internal=GcError,
)


def counters_to_pb(counters: Mapping[str, int]) -> list[gc_pb2.Counter]:
    return [gc_pb2.Counter(name=k, value=v) for k, v in sorted(counters.items())]


def counters_from_pb(counters: Sequence[gc_pb2.Counter]) -> dict[str, int]:
    return {c.name: c.value for c in counters}


def result_to_pb(result: PassResult) -> gc_pb2.PassResult:
    return gc_pb2.PassResult(
        worker=result.worker,
        started_s=result.started_s,
        duration_s=result.duration_s,
        counters=counters_to_pb(result.counters),
        error=result.error,
    )


def result_from_pb(msg: gc_pb2.PassResult) -> PassResult:
    return PassResult(msg.worker, msg.started_s, msg.duration_s, counters_from_pb(msg.counters), msg.error)


def status_to_pb(status: WorkerStatus) -> gc_pb2.WorkerStatus:
    msg = gc_pb2.WorkerStatus(
        name=status.name,
        interval_s=status.interval_s,
        running=status.running,
        passes=status.passes,
        totals=counters_to_pb(status.totals),
        backlog=counters_to_pb(status.backlog),
    )
    if status.last is not None:
        msg.last.CopyFrom(result_to_pb(status.last))
    return msg


def status_from_pb(msg: gc_pb2.WorkerStatus) -> WorkerStatus:
    return WorkerStatus(
        msg.name,
        msg.interval_s,
        msg.running,
        msg.passes,
        counters_from_pb(msg.totals),
        result_from_pb(msg.last) if msg.HasField("last") else None,
        counters_from_pb(msg.backlog),
    )


class GcClient:
    def __init__(self, addr: str) -> None:
        self.addr = addr
        self._channel = rpc.channel(addr, server_role="gc")
        self._stub = cast("gc_pb2_grpc.GcAsyncStub", gc_pb2_grpc.GcStub(self._channel))

    async def run_once(self, workers: Sequence[str] = (), timeout: float = 600.0) -> list[PassResult]:
        """One pass of the named workers (all when none), answered when they finished. UnknownWorker."""
        with ERRORS.translated():
            reply = await self._stub.RunOnce(gc_pb2.RunOnceRequest(workers=workers), timeout=timeout)
        return [result_from_pb(r) for r in reply.results]

    async def status(self, timeout: float = rpc.DEFAULT_DEADLINE_S) -> list[WorkerStatus]:
        with ERRORS.translated():
            reply = await self._stub.Status(gc_pb2.StatusRequest(), timeout=timeout)
        return [status_from_pb(w) for w in reply.workers]

    async def close(self) -> None:
        await self._channel.close()
