"""Coalescing small calls to one data node into batched calls, without adding delay.

A `Coalescer` holds a queue of items (one shard to write, one range to read) and keeps at most
`max_in_flight` batched calls on the wire. An item that arrives while fewer are in flight goes
out at once, alone; items that arrive while the limit is reached wait, and go out together, as
one call, when a call returns. So an idle node sees single calls with no added latency, and a
busy one sees a few calls carrying many items: the per-call cost (a gRPC call on both sides, a
task, a thread hop on the node) is paid once per batch instead of once per shard.

Each item keeps its own deadline: the batch's call gets the latest of its items' deadlines, and
an item whose own deadline passes first fails with `DataNodeUnavailable`. An item whose caller
goes away (cancelled, or timed out) before its batch left is dropped from the queue; one
already on the wire is sent anyway and its outcome ignored. One item's error (`send` returns
an exception in its place) fails only that item; a failed call fails every item of its batch.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from cairn.datanode.errors import DataNodeError, DataNodeUnavailable

I = TypeVar("I")  # noqa: E741 - the request type of one item
R = TypeVar("R")

Send = Callable[[list[I], float], Awaitable[Sequence[R | Exception]]]
"""Send one batch with a timeout; one result or exception per item, in order."""


@dataclass(slots=True)
class _Item(Generic[I, R]):
    request: I
    size: int
    deadline: float
    future: asyncio.Future[R]


class Coalescer(Generic[I, R]):
    """Batches the items given to `call` into calls of `send` (see the module docstring).

    A batch holds at most `max_items` items and `max_bytes` of their sizes (a single item
    larger than that still goes, alone). `batches` and `items` count what was sent.
    """

    def __init__(
        self,
        send: Send[I, R],
        *,
        what: str,
        max_in_flight: int = 2,
        max_items: int = 64,
        max_bytes: int = 4 << 20,
    ) -> None:
        self._send = send
        self._what = what
        self._max_in_flight = max_in_flight
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._queue: deque[_Item[I, R]] = deque()
        self._in_flight: set[asyncio.Task[None]] = set()
        self.batches = 0
        self.items = 0

    async def call(self, request: I, size: int, timeout: float) -> R:
        """Queue one item and wait for its own result (or error) at most `timeout` seconds."""
        loop = asyncio.get_running_loop()
        item: _Item[I, R] = _Item(request, size, loop.time() + timeout, loop.create_future())
        self._queue.append(item)
        self._pump()
        try:
            async with asyncio.timeout(timeout):
                return await item.future  # cancelling the caller cancels the item
        except TimeoutError:
            raise DataNodeUnavailable(f"{self._what}: no answer within {timeout:g} s") from None

    def _pump(self) -> None:
        while len(self._in_flight) < self._max_in_flight:
            batch = self._take()
            if not batch:
                return
            task = asyncio.create_task(self._run(batch))
            self._in_flight.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._pump()

    def _take(self) -> list[_Item[I, R]]:
        batch: list[_Item[I, R]] = []
        size = 0
        while self._queue and len(batch) < self._max_items:
            item = self._queue[0]
            if item.future.done():  # its caller went away: never sent
                self._queue.popleft()
                continue
            if batch and size + item.size > self._max_bytes:
                break
            batch.append(self._queue.popleft())
            size += item.size
        return batch

    async def _run(self, batch: list[_Item[I, R]]) -> None:
        self.batches += 1
        self.items += len(batch)
        try:
            timeout = max(item.deadline for item in batch) - asyncio.get_running_loop().time()
            results = await self._send([item.request for item in batch], max(timeout, 0.001))
            if len(results) != len(batch):
                raise DataNodeError(f"{self._what}: {len(results)} results for {len(batch)} items")
        except asyncio.CancelledError:  # the client is closing
            for item in batch:
                item.future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - the call failed: so did each of its items
            results = [exc] * len(batch)
        for item, result in zip(batch, results, strict=True):
            if item.future.done():
                continue
            if isinstance(result, Exception):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)

    async def close(self) -> None:
        """Cancel the calls in flight and every queued item."""
        for item in self._queue:
            item.future.cancel()
        self._queue.clear()
        tasks = list(self._in_flight)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
