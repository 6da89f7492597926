"""The metadata service's config: its Raft group reads by lease unless told otherwise."""

from __future__ import annotations

import pytest

from cairn.config import ConfigError, load
from metadata.config import MetadataConfig


def _load(**env: str) -> MetadataConfig:
    return load(MetadataConfig, env_prefix="metadata", environ=env)


def test_lease_reads_are_on_and_survive_other_raft_overrides() -> None:
    assert _load().raft.lease_reads
    tuned = _load(CAIRN_METADATA_RAFT_TICK_S="0.05")  # a nested override keeps the field's default
    assert tuned.raft.lease_reads and tuned.raft.tick_s == 0.05
    off = _load(CAIRN_METADATA_RAFT_LEASE_READS="false")
    assert not off.raft.lease_reads and off.raft.tick_s == 0.1


def test_lease_reads_without_check_quorum_are_refused() -> None:
    with pytest.raises(ConfigError):
        _load(CAIRN_METADATA_RAFT_CHECK_QUORUM="false")
