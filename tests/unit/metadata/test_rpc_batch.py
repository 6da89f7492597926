"""Coalesced calls (metadata/rpc_batch.py) against the real gRPC server in-process: concurrent calls
share a few `Batch` RPCs, and each caller still sees exactly what its call alone would answer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import grpc.aio
import pytest

from cairn.metadata import rpc_batch as batch
from cairn.metadata.client import (
    BlobRef,
    MetadataClient,
    NoSuchBucket,
    NoSuchKey,
    ObjectAttrs,
    VersioningState,
)
from cairn.metadata.config import MetadataConfig
from cairn.metadata.core import current_request_id
from cairn.metadata.errors import NotLeader
from cairn.metadata.models import ObjectVersion
from cairn.metadata.rpc_server import MetadataServicer, start_server
from cairn.metadata.service import MetadataService
from cairn.proto import metadata_pb2_grpc


class _Methods(grpc.aio.ServerInterceptor):
    """Records the method of every call the server receives."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        self.seen.append(details.method.rsplit("/", 1)[-1])
        return await continuation(details)


@pytest.fixture
async def served(svc: MetadataService) -> AsyncIterator[tuple[MetadataClient, _Methods]]:
    methods = _Methods()
    server, port = await start_server(svc, "127.0.0.1", 0, grpc.aio.server(interceptors=[methods]))
    async with MetadataClient(f"127.0.0.1:{port}", deadline_s=5) as c:
        yield c, methods
    await server.stop(0)


def _attrs(n: int) -> ObjectAttrs:
    return ObjectAttrs(size=n, etag=f"{n:032x}", blobs=(BlobRef(uuid.uuid4().bytes, 3, n, 1 << 20, 8, 4, 0),))


async def test_concurrent_calls_share_batches_and_each_gets_its_own_answer(
    served: tuple[MetadataClient, _Methods],
) -> None:
    client, methods = served
    await client.create_bucket("bkt", "alice")
    methods.seen.clear()
    puts = await asyncio.gather(*(client.put_object("bkt", f"k{n}", _attrs(n + 1)) for n in range(60)))
    assert [p.key for p in puts] == [f"k{n}" for n in range(60)]
    assert [p.size for p in puts] == list(range(1, 61))
    assert "Batch" in methods.seen and len(methods.seen) < 60, methods.seen
    for n in range(60):  # every PUT landed once, as itself
        got = await client.get_object("bkt", f"k{n}")
        assert got.size == n + 1 and got.version_id == puts[n].version_id


async def test_one_batch_carries_answers_and_typed_errors_side_by_side(
    served: tuple[MetadataClient, _Methods],
) -> None:
    client, methods = served
    await client.create_bucket("bkt", "alice")
    await client.set_bucket_versioning("bkt", VersioningState.ENABLED)
    live = await client.put_object("bkt", "live", _attrs(5))
    await client.put_object("bkt", "gone", _attrs(6))
    marker = await client.delete_object("bkt", "gone")
    methods.seen.clear()
    calls: list[Awaitable[Any]] = [client.get_object("bkt", "live") for _ in range(8)]
    calls += [client.get_object("bkt", "missing"), client.get_object("nobucket", "k")]
    calls += [client.head_object("bkt", "gone")]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, ObjectVersion) and r.version_id == live.version_id for r in results[:8])
    assert type(results[8]) is NoSuchKey and type(results[9]) is NoSuchBucket
    assert isinstance(results[10], NoSuchKey)
    # The delete marker's details travel in the failed call's trailers, as for a plain call.
    assert results[10].is_delete_marker and results[10].version_id == marker.version_id
    assert "Batch" in methods.seen


async def test_a_server_without_batch_gets_every_call_alone(svc: MetadataService) -> None:
    """A replica of a version before Batch answers UNIMPLEMENTED: the client stops batching
    on that channel and sends the calls one by one; none fails."""

    class _Older(MetadataServicer):
        Batch = metadata_pb2_grpc.MetadataServicer.Batch  # the generated UNIMPLEMENTED answer

    methods = _Methods()
    server = grpc.aio.server(interceptors=[methods])
    metadata_pb2_grpc.add_MetadataServicer_to_server(_Older(svc), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with MetadataClient(f"127.0.0.1:{port}", deadline_s=5) as client:
            await client.create_bucket("bkt", "alice")
            puts = await asyncio.gather(*(client.put_object("bkt", f"k{n}", _attrs(1)) for n in range(30)))
            assert [p.key for p in puts] == [f"k{n}" for n in range(30)]
            assert methods.seen.count("Batch") == 1 and methods.seen.count("PutObject") == 30
            await asyncio.gather(*(client.get_object("bkt", f"k{n}") for n in range(30)))
            assert methods.seen.count("Batch") == 1
    finally:
        await server.stop(0)


async def test_batched_calls_follow_a_leader_hint_each_with_its_first_request_id(
    svc: MetadataService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concurrent PUTs to a follower come back from it in a batch, each NotLeader with the
    leader's address; each is retried there once, with the request id of its first attempt."""
    leader_server, leader_port = await start_server(svc, "127.0.0.1", 0)
    follower = await MetadataService.open(MetadataConfig(), in_memory=True)
    methods = _Methods()
    follower_server, follower_port = await start_server(
        follower, "127.0.0.1", 0, grpc.aio.server(interceptors=[methods])
    )
    on_follower: list[str] = []
    on_leader: list[str] = []

    async def not_leader(*args: object, **kwargs: object) -> None:
        on_follower.append(current_request_id())
        await asyncio.sleep(0.01)  # keeps calls in flight, so later ones queue into a batch
        raise NotLeader("not the metadata leader", leader_addr=f"127.0.0.1:{leader_port}")

    real_put = svc.put_object

    async def put_on_leader(*args: Any, **kwargs: Any) -> ObjectVersion:
        on_leader.append(current_request_id())
        return await real_put(*args, **kwargs)

    monkeypatch.setattr(follower, "put_object", not_leader)
    monkeypatch.setattr(svc, "put_object", put_on_leader)
    await svc.create_bucket("bkt", "alice")
    try:
        async with MetadataClient(f"127.0.0.1:{follower_port}", deadline_s=5) as c:
            puts = await asyncio.gather(*(c.put_object("bkt", f"k{n}", _attrs(1)) for n in range(20)))
        assert [p.key for p in puts] == [f"k{n}" for n in range(20)]
        assert sorted(on_follower) == sorted(on_leader) and len(set(on_leader)) == 20
        assert "Batch" in methods.seen  # the NotLeader answers came back batched
    finally:
        await follower_server.stop(0)
        await leader_server.stop(0)
        await follower.close()


async def test_a_queued_call_keeps_its_own_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """A call queued behind calls that never end fails at its own deadline, and is never sent."""
    started = asyncio.Event()
    sent: list[str] = []

    class _Stuck:
        async def GetObject(self, request: Any, *, timeout: float) -> Any:
            sent.append("GetObject")
            started.set()
            await asyncio.sleep(3600)

        async def Batch(self, request: Any, *, timeout: float) -> Any:
            sent.append("Batch")
            await asyncio.sleep(3600)

    from cairn.proto import metadata_pb2 as pb

    coalescer = batch.Coalescer(_Stuck())
    stuck = [
        asyncio.create_task(coalescer.call("GetObject", pb.GetObjectRequest(), 60))
        for _ in range(batch.MAX_IN_FLIGHT)
    ]
    await started.wait()
    with pytest.raises(grpc.RpcError) as late:
        await coalescer.call("GetObject", pb.GetObjectRequest(), 0.05)
    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert sent == ["GetObject"] * batch.MAX_IN_FLIGHT
    for task in stuck:
        task.cancel()
    await asyncio.gather(*stuck, return_exceptions=True)


async def test_calls_queued_behind_a_stuck_call_leave_after_the_queue_wait() -> None:
    """An RPC that does not end (a write waiting out a lost quorum) holds the calls queued behind
    it for MAX_QUEUE_WAIT_S, not for their whole deadline."""
    from cairn.proto import metadata_pb2 as pb

    release = asyncio.Event()
    sent: list[str] = []

    class _FirstStuck:
        async def GetObject(self, request: Any, *, timeout: float) -> Any:
            sent.append(request.key)
            if request.key == "stuck":
                await release.wait()
            return pb.GetObjectResponse()

        async def Batch(self, request: Any, *, timeout: float) -> Any:
            sent.extend(pb.GetObjectRequest.FromString(c.request).key for c in request.calls)
            return pb.BatchResponse(
                replies=[
                    pb.BatchReply(response=pb.GetObjectResponse().SerializeToString()) for _ in request.calls
                ]
            )

    coalescer = batch.Coalescer(_FirstStuck())
    stuck = asyncio.create_task(coalescer.call("GetObject", pb.GetObjectRequest(key="stuck"), 60))
    await asyncio.sleep(0)
    assert sent == ["stuck"]  # in flight: the next calls queue
    answers = await asyncio.wait_for(
        asyncio.gather(*(coalescer.call("GetObject", pb.GetObjectRequest(key=k), 60) for k in ("a", "b"))), 10
    )
    assert answers == [pb.GetObjectResponse()] * 2
    assert sent == ["stuck", "a", "b"] and not stuck.done()
    release.set()
    assert await stuck == pb.GetObjectResponse()
