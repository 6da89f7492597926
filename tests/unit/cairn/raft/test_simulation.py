"""Deterministic simulation of 3- and 5-replica clusters of the pure Raft core (see sim.py).

Every seed runs `STEPS` time units of random loss, duplication, reordering, delay, partitions and
crash/restart with the safety properties checked after each step, then heals everything and
requires progress. A failure names its seed; replay just that seed (both cluster sizes) with

    CAIRN_RAFT_SEED=<n> .venv/bin/python -m pytest -q tests/unit/cairn/raft/test_simulation.py

`CAIRN_RAFT_SEEDS=<count>` scales the number of seeds per test (default: the CI budget below).
"""

from __future__ import annotations

import os

import pytest

from cairn.raft.core import Raft
from cairn.raft.messages import Message, MessageType
from cairn.raft.raftlog import RaftLog
from tests.unit.cairn.raft.sim import Simulation

STEPS = 300
REPLAY = os.environ.get("CAIRN_RAFT_SEED")
SCALE = int(os.environ.get("CAIRN_RAFT_SEEDS", "0"))

# (replicas, first seed, seeds): split so each test stays well under 20 s on a shared 2-core box.
BATCHES = [(3, 0, 1200), (3, 1200, 1200), (5, 0, 800), (5, 800, 800)]


def run_seed(seed: int, n: int, steps: int = STEPS) -> Simulation:
    sim = Simulation(seed, n)
    try:
        sim.run(steps)
        sim.heal_and_check_liveness()
    except Exception as exc:
        trace = "\n".join(sim.trace[-25:])
        raise AssertionError(
            f"Raft simulation failed with {n} replicas, seed {seed} at t={sim.now}: {exc}\n"
            f"replay: CAIRN_RAFT_SEED={seed} .venv/bin/python -m pytest -q "
            f"tests/unit/cairn/raft/test_simulation.py\nlast events:\n{trace}"
        ) from exc
    return sim


def _seeds(first: int, count: int) -> range:
    if REPLAY is not None:
        return range(int(REPLAY), int(REPLAY) + 1)
    return range(first, first + (SCALE or count))


@pytest.mark.parametrize(("n", "first", "count"), BATCHES, ids=[f"{n}nodes-from{f}" for n, f, _ in BATCHES])
def test_random_faults_keep_raft_safe_and_live(n: int, first: int, count: int) -> None:
    if REPLAY is not None and first != 0:
        pytest.skip("replaying one seed: the first batch of each size runs it")
    commits = 0
    leaders = 0
    for seed in _seeds(first, count):
        sim = run_seed(seed, n)
        commits += len(sim.committed)
        leaders += len(sim.leaders)
    # The runs did real work: elections happened and commands committed under faults.
    runs = len(_seeds(first, count))
    assert commits >= 20 * runs
    assert leaders >= 2 * runs


def test_a_seed_replays_identically() -> None:
    a = run_seed(12345, 5, steps=200)
    b = run_seed(12345, 5, steps=200)
    assert a.trace == b.trace
    assert a.committed == b.committed
    assert a.now == b.now


def _first_failing_seed(n: int, seeds: int) -> int | None:
    for seed in range(seeds):
        try:
            run_seed(seed, n)
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
