"""The service lease gates every worker: two instances on one placement lease, only the holder's
passes run; the other's end with `lease_waiting` and it takes over once the holder's lease is
released or ran out; a pass during which the lease is lost is stopped."""

from __future__ import annotations

import asyncio
from collections import Counter

from cairn.gc.lease import ServiceLease
from cairn.gc.worker import WorkerLoop
from cairn.placement.cluster_map import LeaseGrant
from cairn.placement.errors import LeaseHeld, LeaseLost


class Placement:
    """The placement state machine's lease rule, on a clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0
        self.holder = ""
        self.token = 0
        self.expires = 0.0

    async def acquire_lease(self, holder: str, ttl_s: float, timeout: float = 5.0) -> LeaseGrant:
        if self.holder and self.holder != holder and self.now < self.expires:
            raise LeaseHeld(f"held by {self.holder}")
        if self.holder != holder or self.now >= self.expires:
            self.token += 1
        self.holder, self.expires = holder, self.now + ttl_s
        return LeaseGrant(holder, self.token, int(self.expires * 1000))

    async def release_lease(self, holder: str, token: int, timeout: float = 5.0) -> None:
        if (holder, token) != (self.holder, self.token):
            raise LeaseLost("not the current lease")
        self.holder = ""


class Slow:
    name = "reclaim"

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.passes = 0
        self.finished = 0

    async def run_pass(self) -> Counter[str]:
        self.passes += 1
        await asyncio.sleep(self.delay_s)
        self.finished += 1
        return Counter(blobs_reclaimed=1)

    async def backlog(self) -> dict[str, int]:
        return {}


async def test_only_the_holders_passes_run_and_the_other_takes_over_after_release() -> None:
    placement = Placement()
    first, second = ServiceLease(placement, "a", 30), ServiceLease(placement, "b", 30)
    work_a, work_b = Slow(), Slow()
    loop_a, loop_b = WorkerLoop(work_a, 3600, lease=first), WorkerLoop(work_b, 3600, lease=second)

    assert (await loop_a.run_once()).counters == {"blobs_reclaimed": 1}
    assert (await loop_b.run_once()).counters == {"lease_waiting": 1}
    assert (work_a.passes, work_b.passes) == (1, 0)

    await first.close()  # a stopped instance releases: the other takes over at once
    assert (await loop_b.run_once()).counters == {"blobs_reclaimed": 1}
    assert (await loop_a.run_once()).counters == {"lease_waiting": 1}
    await second.close()


async def test_an_expired_holder_is_taken_over_and_a_lost_lease_stops_the_running_pass() -> None:
    placement = Placement()
    first, second = ServiceLease(placement, "a", 0.3), ServiceLease(placement, "b", 0.3)
    work = Slow(delay_s=5.0)
    loop_a = WorkerLoop(work, 3600, lease=first)
    running = asyncio.create_task(loop_a.run_once())
    await asyncio.sleep(0.05)
    assert first.token == 1 and work.passes == 1

    # "a" stalls (its clock jumps past the expiry before it renews): "b" takes the lease ...
    placement.now += 1.0
    assert await second.acquire() == 2
    # ... "a"'s next renewal is refused and its pass is stopped
    result = await asyncio.wait_for(running, 2.0)
    assert "lease was lost" in result.error and work.finished == 0
    assert first.token is None
    assert (await loop_a.run_once()).counters == {"lease_waiting": 1}
    await first.close()
    await second.close()
