"""BucketGate: the per-bucket readers/writer lock ordering object writes against DeleteBucket."""

from __future__ import annotations

import asyncio

import pytest

from cairn.metadata.core import BucketGate


async def test_cancelled_exclusive_waiter_does_not_lock_the_bucket() -> None:
    gate = BucketGate()
    release = asyncio.Event()
    holding = asyncio.Event()

    async def reader() -> None:
        async with gate.shared("b"):
            holding.set()
            await release.wait()

    task = asyncio.create_task(reader())
    await holding.wait()

    async def delete_bucket() -> None:
        async with gate.exclusive("b"):
            pass

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(delete_bucket(), 0.05)
    release.set()
    await task

    async def put() -> str:
        async with gate.shared("b"):
            return "written"

    assert await asyncio.wait_for(put(), 1.0) == "written"
    assert await asyncio.wait_for(delete_bucket(), 1.0) is None


async def test_waiting_writer_blocks_new_readers_until_it_is_done() -> None:
    gate = BucketGate()
    order: list[str] = []
    entered = asyncio.Event()
    release = asyncio.Event()

    async def first_reader() -> None:
        async with gate.shared("b"):
            entered.set()
            await release.wait()
            order.append("reader-1")

    async def writer() -> None:
        async with gate.exclusive("b"):
            order.append("writer")

    async def second_reader() -> None:
        async with gate.shared("b"):
            order.append("reader-2")

    r1 = asyncio.create_task(first_reader())
    await entered.wait()
    w = asyncio.create_task(writer())
    await asyncio.sleep(0)
    r2 = asyncio.create_task(second_reader())
    await asyncio.sleep(0)
    release.set()
    await asyncio.wait_for(asyncio.gather(r1, w, r2), 1.0)
    assert order == ["reader-1", "writer", "reader-2"]
