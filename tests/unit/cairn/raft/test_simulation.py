"""Deterministic simulation of 3- and 5-replica clusters of the pure Raft core (see sim.py).

Every seed runs `STEPS` time units of random loss, duplication, reordering, delay, partitions and
crash/restart with the safety properties checked after each step, then heals everything and
requires progress. A failure names its seed; replay just that seed (every batch) with

    CAIRN_RAFT_SEED=<n> .venv/bin/python -m pytest -q tests/unit/cairn/raft/test_simulation.py

`CAIRN_RAFT_SEEDS=<count>` scales the number of seeds per test (default: the CI budget below).
"""

from __future__ import annotations

import os

import pytest

from cairn.raft.core import CoreConfig, Raft
from cairn.raft.messages import Message, MessageType
from cairn.raft.raftlog import RaftLog
from tests.unit.cairn.raft.sim import WEATHER, Simulation

STEPS = 300
REPLAY = os.environ.get("CAIRN_RAFT_SEED")
SCALE = int(os.environ.get("CAIRN_RAFT_SEEDS", "0"))

# (replicas, fault mix, seeds): each batch stays well under 20 s on a shared 2-core box.
BATCHES = [(3, "calm", 1200), (3, "stormy", 1200), (5, "calm", 800), (5, "stormy", 800)]
# The same with lease reads on: long partitions ("split") and stormy weather.
LEASE_BATCHES = [(3, "split", 400), (5, "split", 200), (3, "stormy", 200)]


def run_seed(seed: int, n: int, weather: str = "calm", steps: int = STEPS, lease: bool = False) -> Simulation:
    sim = Simulation(seed, n, WEATHER[weather], lease=lease)
    try:
        sim.run(steps)
        sim.heal_and_check_liveness()
    except Exception as exc:
        trace = "\n".join(sim.trace[-25:])
        raise AssertionError(
            f"Raft simulation failed with {n} replicas, {weather} faults{', lease reads' if lease else ''}, "
            f"seed {seed} at t={sim.now}: {exc}\n"
            f"replay: CAIRN_RAFT_SEED={seed} .venv/bin/python -m pytest -q "
            f"tests/unit/cairn/raft/test_simulation.py\nlast events:\n{trace}"
        ) from exc
    return sim


def _seeds(count: int) -> range:
    if REPLAY is not None:
        return range(int(REPLAY), int(REPLAY) + 1)
    return range(SCALE or count)


@pytest.mark.parametrize(("n", "weather", "count"), BATCHES, ids=[f"{n}nodes-{w}" for n, w, _ in BATCHES])
def test_random_faults_keep_raft_safe_and_live(n: int, weather: str, count: int) -> None:
    commits = 0
    leaders = 0
    seeds = _seeds(count)
    for seed in seeds:
        sim = run_seed(seed, n, weather)
        commits += len(sim.committed)
        leaders += len(sim.leaders)
    if len(seeds) >= 100:  # on average the runs did real work: elections, commits under faults
        assert commits >= 10 * len(seeds)
        assert leaders >= 2 * len(seeds)


@pytest.mark.parametrize(
    ("n", "weather", "count"), LEASE_BATCHES, ids=[f"{n}nodes-{w}-lease" for n, w, _ in LEASE_BATCHES]
)
def test_random_faults_keep_lease_reads_safe(n: int, weather: str, count: int) -> None:
    seeds = _seeds(count)
    lease_leaders = 0
    for seed in seeds:
        sim = run_seed(seed, n, weather, lease=True)
        lease_leaders += any(r.core is not None and r.core.in_lease() for r in sim.replicas.values())
    if len(seeds) >= 100:  # the lease was in use, not always lost
        assert lease_leaders >= len(seeds) // 2


def test_the_checks_catch_a_lease_longer_than_the_election_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(CoreConfig, "lease_ticks", lambda self: 2 * self.election_tick)
    assert _first_failing_seed(3, 300, "split", lease=True) is not None


def test_a_seed_replays_identically() -> None:
    a = run_seed(12345, 5, "stormy", steps=200)
    b = run_seed(12345, 5, "stormy", steps=200)
    assert a.trace == b.trace
    assert a.committed == b.committed
    assert a.now == b.now


def _first_failing_seed(n: int, seeds: int, weather: str = "calm", lease: bool = False) -> int | None:
    for seed in range(seeds):
        try:
            run_seed(seed, n, weather, lease=lease)
        except AssertionError:
            return seed
    return None


@pytest.mark.parametrize("n", [3, 5])
def test_the_checks_catch_acknowledging_before_the_fsync(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulator is not vacuous: a driver that acks before persisting is caught quickly."""
    import tests.unit.cairn.raft.sim as sim_module

    real = sim_module.sendable_before_persist
    monkeypatch.setattr(
        sim_module, "sendable_before_persist", lambda m: real(m) or m.type is MessageType.APPEND_RESP
    )
    assert _first_failing_seed(n, 200) is not None


@pytest.mark.parametrize("n", [3, 5])
def test_the_checks_catch_a_replica_that_votes_twice_in_a_term(
    n: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Raft._handle_vote

    def forgetful(self: Raft, m: Message) -> None:
        self.vote = None  # forgets its vote: two candidates can win the same term
        self.lead = None
        real(self, m)

    monkeypatch.setattr(Raft, "_handle_vote", forgetful)
    assert _first_failing_seed(n, 200) is not None


def test_the_checks_catch_votes_for_a_stale_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RaftLog, "is_up_to_date", lambda self, index, term: True)
    assert _first_failing_seed(3, 200) is not None
