"""The heartbeat loop: id assignment and persistence, usage reports, backoff while unreachable."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from cairn.datanode.heartbeat import Heartbeater, Identity, NodeIdFile


@dataclass(frozen=True)
class Reply:
    node_id: str
    epoch: int


class FakePlacement:
    def __init__(self, failures: int = 0, assign: str = "node-7") -> None:
        self.failures = failures
        self.assign = assign
        self.calls: list[tuple[str | None, str, str, str, str, int, int]] = []

    async def heartbeat(
        self,
        node_id: str | None,
        addr: str,
        zone: str,
        rack: str,
        host: str,
        capacity_bytes: int,
        used_bytes: int,
        timeout: float = 5.0,
    ) -> Reply:
        self.calls.append((node_id, addr, zone, rack, host, capacity_bytes, used_bytes))
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("placement unreachable")
        return Reply(node_id or self.assign, epoch=len(self.calls))

    async def close(self) -> None:
        return None


async def run_inline(fn: object, *args: object) -> object:
    return fn(*args)  # type: ignore[operator]


def make(
    tmp_path: Path, placement: FakePlacement, sleeps: list[float], node_id: str | None = None
) -> Heartbeater:
    async def fake_sleep(delay: float) -> None:
        sleeps.append(delay)

    usage = iter(range(1000, 100_000, 1000))
    return Heartbeater(
        placement,
        NodeIdFile(tmp_path / "node_id"),
        Identity("127.0.0.1:7001", "z1", "r2", "h3"),
        lambda: (10_000, next(usage)),  # measured for every beat
        interval_s=2.0,
        max_backoff_s=30.0,
        timeout_s=1.0,
        run_blocking=run_inline,
        sleep=fake_sleep,
        rng=random.Random(1),
        node_id=node_id,
    )


async def test_first_beat_gets_an_id_that_is_persisted_and_reused(tmp_path: Path) -> None:
    placement, sleeps = FakePlacement(), list[float]()
    beater = make(tmp_path, placement, sleeps)
    await beater.run(beats=3)
    assert [c[0] for c in placement.calls] == [None, "node-7", "node-7"]
    assert placement.calls[0][1:6] == ("127.0.0.1:7001", "z1", "r2", "h3", 10_000)
    assert [c[6] for c in placement.calls] == [1000, 2000, 3000]  # fresh usage every beat
    assert sleeps == [2.0, 2.0, 2.0]
    assert NodeIdFile(tmp_path / "node_id").load() == "node-7"
    assert beater.node_id == "node-7" and beater.epoch == 3

    restarted = make(tmp_path, FakePlacement(), [], node_id=NodeIdFile(tmp_path / "node_id").load())
    await restarted.run(beats=1)
    assert restarted.node_id == "node-7"


async def test_unreachable_placement_backs_off_exponentially_with_jitter_then_recovers(
    tmp_path: Path,
) -> None:
    placement, sleeps = FakePlacement(failures=6), list[float]()
    beater = make(tmp_path, placement, sleeps)
    await beater.run(beats=8)
    failing, after = sleeps[:6], sleeps[6:]
    ceilings = [4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert all(c / 2 <= d <= c for d, c in zip(failing, ceilings, strict=True)), failing
    assert failing[2] > failing[0]
    assert after == [2.0, 2.0] and beater.failures == 0
    assert beater.node_id == "node-7"


def test_node_id_file_round_trip(tmp_path: Path) -> None:
    ids = NodeIdFile(tmp_path / "node_id")
    assert ids.load() is None
    ids.save("abc")
    ids.save("def")
    assert ids.load() == "def" and not (tmp_path / "node_id.tmp").exists()
