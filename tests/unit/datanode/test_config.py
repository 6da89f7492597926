"""Data node configuration: defaults, environment, flags and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from cairn.config import ConfigError
from cairn.datanode.config import GIB, load_config


def test_defaults_environment_file_and_flags_layer_in_order(tmp_path: Path) -> None:
    assert load_config(environ={}).storage.volume_size_limit_bytes == GIB
    toml = tmp_path / "node.toml"
    toml.write_text('port = 7200\nplacement = ["a:1"]\n[labels]\nzone = "zf"\n[storage]\nwriter_lanes = 3\n')
    env = {
        "CAIRN_DATANODE_STORAGE_WRITER_LANES": "5",
        "CAIRN_DATANODE_HEARTBEAT_INTERVAL_S": "0.5",
        "CAIRN_DATANODE_PLACEMENT": "p1:1,p2:2",
    }
    config = load_config(toml, overrides={"port": 7300, "labels.rack": "rr", "data_dir": None}, environ=env)
    assert config.port == 7300 and config.addr == "127.0.0.1:7300"
    assert (config.labels.zone, config.labels.rack) == ("zf", "rr")
    assert config.storage.writer_lanes == 5 and config.heartbeat.interval_s == 0.5
    assert config.placement == ("p1:1", "p2:2")
    assert config.data_dir == Path("cairn-data/datanode")


def test_invalid_values_are_rejected() -> None:
    with pytest.raises(ConfigError):
        load_config(environ={"CAIRN_DATANODE_STORAGE_WRITER_LANES": "0"})
    with pytest.raises(ConfigError):
        load_config(environ={"CAIRN_DATANODE_PORT": "seventy"})
    with pytest.raises(ConfigError):
        load_config(overrides={"capacity_bytes": -1}, environ={})


def test_heartbeats_announce_the_advertise_address_when_one_is_set() -> None:
    bound = load_config(overrides={"host": "0.0.0.0", "port": 7200}, environ={})
    assert (bound.addr, bound.public_addr) == ("0.0.0.0:7200", "0.0.0.0:7200")
    pod = load_config(
        overrides={"host": "0.0.0.0", "port": 7200, "advertise_addr": "dn-3.cairn:7200"}, environ={}
    )
    assert (pod.addr, pod.public_addr) == ("0.0.0.0:7200", "dn-3.cairn:7200")
