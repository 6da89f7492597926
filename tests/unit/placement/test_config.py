"""Placement configuration: flags/environment parsing and the invariants checked at load."""

from __future__ import annotations

import pytest

from cairn.config import ConfigError, load
from cairn.placement.config import PlacementConfig


def test_peers_and_timers_load_from_overrides_and_environment() -> None:
    config = load(
        PlacementConfig,
        env_prefix="placement",
        overrides={"id": "p2", "peers": "p1=127.0.0.1:7101,p2=127.0.0.1:7102", "k": "4"},
        environ={"CAIRN_PLACEMENT_DOWN_AFTER_S": "30", "CAIRN_PLACEMENT_RAFT_TICK_S": "0.05"},
    )
    assert config.peer_map() == {"p1": "127.0.0.1:7101", "p2": "127.0.0.1:7102"}
    assert (config.k, config.m, config.down_after_s, config.raft.tick_s) == (4, 4, 30.0, 0.05)


def test_a_lone_replica_is_its_own_group() -> None:
    config = PlacementConfig(id="solo", port=7200)
    assert config.peer_map() == {"solo": "127.0.0.1:7200"}


@pytest.mark.parametrize(
    "overrides",
    [
        {"k": 0},
        {"m": -1},
        {"pg_count": 0},
        {"down_after_s": 700, "out_after_s": 600},
        {"id": "p9", "peers": "p1=127.0.0.1:1"},
    ],
)
def test_invalid_settings_are_refused_at_load(overrides: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        load(PlacementConfig, env_prefix="placement", overrides=overrides, environ={})
