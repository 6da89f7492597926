"""Several metadata calls in one RPC: the client coalesces, the server answers each as itself.

Why: one gRPC call costs the caller and the leader a few hundred microseconds of CPU whatever
it carries, more than a metadata command itself. An API process with 32 PUTs in flight makes
32 calls at once; sent as a few `Batch` calls they cost a few calls, and their commands still
reach the Raft leader together (one log append, one fsync: group commit).

Client (`Coalescer`, one per replica channel): a call goes out on its own, at once, while fewer
than `MAX_IN_FLIGHT` RPCs are in flight on the channel; otherwise it waits for one to end and
then leaves with every call that queued meanwhile, as one `Batch` (at most `MAX_CALLS` calls and
about `MAX_BYTES` of requests). So a lone caller sees no added latency, and concurrent callers
wait one round trip. One RPC in flight, not two: with two, each batch held half the calls, and
the S3 4 KiB rows cost 20-35% more server CPU per request (benchmarks/README.md). So that one
slow call (a write waiting out a lost quorum) cannot hold up everything behind it, calls queued
for `MAX_QUEUE_WAIT_S` leave anyway, up to `MAX_STALE_IN_FLIGHT` RPCs in flight.

Each call keeps its own deadline; a failure of the Batch RPC itself (unreachable, deadline) is
each call's failure, and the caller's retry logic (leader hints, backoff, request ids:
client.py) runs per call exactly as for a plain call. A server without `Batch` (UNIMPLEMENTED:
an older replica during an upgrade) turns batching off for the channel.

Server (`run_batch`): the calls run concurrently, each through the servicer's own method (its
request id, its error edge), and each reply carries that call's status code, message and
trailers, or its serialized response. Only the methods of `BATCHABLE` may be batched: the S3
hot path, none with a secret in its response; each is checked against rpc_auth.ALLOWED with the
caller's role as if it came alone, so a batch grants nothing its calls alone would not. A batched call counts once, as
`Batch`, in the server's per-method metrics.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
from google.protobuf.message import Message

from cairn.proto import metadata_pb2 as pb
from cairn.rpc import REASON_KEY
from cairn.rpc_auth import REASON as ROLE_REASON

#: The methods a `Batch` may carry.
BATCHABLE = frozenset(
    {"RecordWriteIntent", "PutObject", "GetObject", "HeadObject", "DeleteObject", "GetBucketContext"}
)

MAX_IN_FLIGHT = 1
MAX_QUEUE_WAIT_S = 0.1
MAX_STALE_IN_FLIGHT = 8
MAX_CALLS = 256
MAX_BYTES = 8 << 20

_SERVICE = pb.DESCRIPTOR.services_by_name["Metadata"]
_TYPES: dict[str, tuple[type[Message], type[Message]]] = {
    name: (getattr(pb, m.input_type.name), getattr(pb, m.output_type.name))
    for name, m in _SERVICE.methods_by_name.items()
    if name in BATCHABLE
}
_CODES = {code.value[0]: code for code in grpc.StatusCode}


class BatchedCallError(grpc.RpcError):
    """One batched call's failure, as a failed plain call would have raised it (`code()`,
    `details()`, `trailing_metadata()`), so callers handle both alike."""

    def __init__(self, code: grpc.StatusCode, details: str, trailers: Sequence[tuple[str, str]]) -> None:
        super().__init__(f"{code.name}: {details}")
        self._code = code
        self._details = details
        self._trailers = tuple(trailers)

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._trailers


# ---------------------------------------------------------------- server


class _Aborted(grpc.aio.AbortError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class _CallContext:
    """What a servicer method uses of its context (rpc.edge ends a call with these two)."""

    def __init__(self) -> None:
        self.trailers: tuple[tuple[str, str | bytes], ...] = ()

    def set_trailing_metadata(self, trailers: Sequence[tuple[str, str | bytes]]) -> None:
        self.trailers = tuple(trailers)

    async def abort(self, code: grpc.StatusCode, details: str = "") -> None:
        raise _Aborted(code, details)


Method = Callable[[Message, Any], Awaitable[Message]]


async def run_batch(
    request: pb.BatchRequest, method_of: Callable[[str], Method], permitted: Callable[[str], bool]
) -> pb.BatchResponse:
    """Run every call of `request` concurrently through `method_of(name)`; one reply each, in
    order. A call `permitted(name)` refuses ends PERMISSION_DENIED (reason RoleNotAllowed)."""
    replies = await asyncio.gather(*(_run_one(call, method_of, permitted) for call in request.calls))
    return pb.BatchResponse(replies=replies)


async def _run_one(
    call: pb.BatchCall, method_of: Callable[[str], Method], permitted: Callable[[str], bool]
) -> pb.BatchReply:
    types = _TYPES.get(call.method)
    if types is None:
        return pb.BatchReply(
            code=grpc.StatusCode.UNIMPLEMENTED.value[0], details=f"{call.method!r} cannot be batched"
        )
    if not permitted(call.method):
        return pb.BatchReply(
            code=grpc.StatusCode.PERMISSION_DENIED.value[0],
            details=f"this caller may not call {call.method}",
            trailers={REASON_KEY: ROLE_REASON},
        )
    context = _CallContext()
    try:
        response = await method_of(call.method)(types[0].FromString(call.request), context)
    except _Aborted as ended:
        trailers = {k: v if isinstance(v, str) else v.decode() for k, v in context.trailers}
        return pb.BatchReply(code=ended.code.value[0], details=ended.details, trailers=trailers)
    return pb.BatchReply(response=response.SerializeToString())


# ---------------------------------------------------------------- client


@dataclass(eq=False)
class _Queued:
    name: str
    request: Message
    size: int
    deadline: float
    queued_at: float
    future: asyncio.Future[Message] = field(repr=False)


class Coalescer:
    """Calls of `BATCHABLE` methods on one channel's stub, coalesced as the module says."""

    def __init__(self, stub: Any) -> None:
        self._stub = stub
        self._queue: list[_Queued] = []
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self.enabled = True

    async def call(self, name: str, request: Message, timeout: float) -> Message:
        if not self.enabled or (self._in_flight < MAX_IN_FLIGHT and not self._queue):
            self._in_flight += 1
            try:
                return await getattr(self._stub, name)(request, timeout=timeout)  # type: ignore[no-any-return]
            finally:
                self._in_flight -= 1
                self._flush()
        loop = asyncio.get_running_loop()
        now = loop.time()
        queued = _Queued(name, request, request.ByteSize(), now + timeout, now, loop.create_future())
        self._queue.append(queued)
        if self._timer is None:
            self._timer = loop.call_later(MAX_QUEUE_WAIT_S, self._flush_stale)
        try:
            return await asyncio.wait_for(asyncio.shield(queued.future), timeout)
        except TimeoutError:
            raise BatchedCallError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded", ()) from None
        finally:
            if not queued.future.done():  # timed out or cancelled before it was sent
                queued.future.cancel()

    def _flush_stale(self) -> None:
        """The queue's oldest call has waited `MAX_QUEUE_WAIT_S`: send the queue past the usual
        limit; look again when the next call would be as old."""
        self._timer = None
        loop = asyncio.get_running_loop()
        if self._queue and loop.time() - self._queue[0].queued_at >= MAX_QUEUE_WAIT_S * 0.99:
            self._flush(MAX_STALE_IN_FLIGHT)
        if self._queue:
            wait = self._queue[0].queued_at + MAX_QUEUE_WAIT_S - loop.time()
            self._timer = loop.call_later(max(wait, MAX_QUEUE_WAIT_S / 10), self._flush_stale)

    def _flush(self, limit: int = MAX_IN_FLIGHT) -> None:
        while self._in_flight < limit and self._queue:
            batch: list[_Queued] = []
            size = 0
            while (
                self._queue
                and len(batch) < MAX_CALLS
                and (not batch or size + self._queue[0].size <= MAX_BYTES)
            ):
                queued = self._queue.pop(0)
                if not queued.future.done():
                    batch.append(queued)
                    size += queued.size
            if not batch:
                continue
            self._in_flight += 1
            task = asyncio.get_running_loop().create_task(self._send(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[_Queued]) -> None:
        try:
            if len(batch) == 1 or not self.enabled:
                await asyncio.gather(*(self._send_alone(q) for q in batch))
            else:
                await self._send_batch(batch)
        except Exception as exc:  # a reply that does not match the batch: no caller may hang on it
            error = BatchedCallError(grpc.StatusCode.INTERNAL, f"batched call failed: {exc!r}", ())
            for queued in batch:
                _settle(queued, error=error)
            raise
        finally:
            self._in_flight -= 1
            self._flush()

    async def _send_alone(self, queued: _Queued) -> None:
        timeout = max(queued.deadline - asyncio.get_running_loop().time(), 0.001)
        try:
            response = await getattr(self._stub, queued.name)(queued.request, timeout=timeout)
        except grpc.RpcError as err:
            _settle(queued, error=err)
        else:
            _settle(queued, response=response)

    async def _send_batch(self, batch: list[_Queued]) -> None:
        request = pb.BatchRequest(
            calls=[pb.BatchCall(method=q.name, request=q.request.SerializeToString()) for q in batch]
        )
        timeout = max(max(q.deadline for q in batch) - asyncio.get_running_loop().time(), 0.001)
        try:
            answer = await self._stub.Batch(request, timeout=timeout)
        except grpc.RpcError as err:
            code = err.code() if hasattr(err, "code") else None
            if code == grpc.StatusCode.UNIMPLEMENTED:
                self.enabled = False
                await asyncio.gather(*(self._send_alone(q) for q in batch))
                return
            for queued in batch:
                _settle(queued, error=err)
            return
        for queued, reply in zip(batch, answer.replies, strict=True):
            if reply.code == 0:
                _settle(queued, response=_TYPES[queued.name][1].FromString(reply.response))
            else:
                code = _CODES.get(reply.code, grpc.StatusCode.UNKNOWN)
                _settle(queued, error=BatchedCallError(code, reply.details, tuple(reply.trailers.items())))


def _settle(queued: _Queued, *, response: Message | None = None, error: BaseException | None = None) -> None:
    if queued.future.done():
        return
    if error is not None:
        queued.future.set_exception(error)
    else:
        queued.future.set_result(response)  # type: ignore[arg-type]
