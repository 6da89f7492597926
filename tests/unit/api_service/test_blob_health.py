"""NodeHealth: growing cool-downs, probe claims after a cool-down, and the adaptive hedge delay."""

from __future__ import annotations

import pytest

from cairn.api_service.blob_health import NodeHealth


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_cool_downs_double_up_to_the_cap_and_a_success_resets_them() -> None:
    clock = Clock()
    health = NodeHealth(clock, base_cooldown_s=2.0, max_cooldown_s=30.0)
    assert not health.suspect("a") and health.available("a") and health.cooldown("a") == 0.0
    seen = []
    for _ in range(6):
        health.record_failure("a")
        seen.append(health.cooldown("a"))
        clock.now += seen[-1]
    assert seen == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    health.record_success("a")
    health.record_failure("a")
    assert health.cooldown("a") == 2.0 and health.suspect("a") and not health.suspect("b")


def test_after_a_cool_down_exactly_one_reader_gets_the_probe() -> None:
    clock = Clock()
    health = NodeHealth(clock)
    health.record_failure("a")
    clock.now += 1.9
    assert not health.available("a")
    clock.now += 0.1
    assert not health.suspect("a")  # asking without claiming
    assert health.available("a")  # this caller probes
    assert not health.available("a") and health.suspect("a")  # everyone else keeps away
    clock.now += 2.0
    assert health.available("a")  # the probe never reported: another one may try
    health.record_failure("a")  # the probe failed
    assert health.cooldown("a") == 4.0


def test_hedge_delay_follows_the_recent_p95_within_floor_and_cap() -> None:
    health = NodeHealth(Clock(), latency_window=100)
    assert health.p95() is None
    assert health.hedge_delay(0.05, 3.0, 5.0) == 0.05
    for i in range(100):
        health.record_latency(0.001 * (i + 1))  # 1..100 ms
    assert health.p95() == pytest.approx(0.095)
    assert health.hedge_delay(0.05, 3.0, 5.0) == pytest.approx(0.285)
    assert health.hedge_delay(0.5, 3.0, 5.0) == 0.5
    assert health.hedge_delay(0.05, 3.0, 0.2) == 0.2
    for _ in range(100):
        health.record_latency(0.0001)  # the window forgets old samples
    assert health.hedge_delay(0.05, 3.0, 5.0) == 0.05


def test_invalid_settings_are_rejected() -> None:
    with pytest.raises(ValueError):
        NodeHealth(base_cooldown_s=0)
    with pytest.raises(ValueError):
        NodeHealth(base_cooldown_s=5, max_cooldown_s=2)
    with pytest.raises(ValueError):
        NodeHealth(latency_window=0)
