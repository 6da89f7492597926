"""A data node's capacity and usage come from its filesystem (less a reserve), measured per beat."""

from __future__ import annotations

import shutil
from collections import namedtuple
from pathlib import Path

from cairn.datanode.capacity import measure

GiB = 2**30
Disk = namedtuple("Disk", "total used free")


def disk(total: int, free: int) -> object:
    return lambda _path: Disk(total, total - free, free)


def test_capacity_is_the_filesystem_less_the_reserve_and_usage_is_the_filesystems() -> None:
    usage = measure(Path("/d"), 5 * GiB, 0, GiB, disk(100 * GiB, 60 * GiB))
    assert (usage.capacity_bytes, usage.used_bytes, usage.full) == (99 * GiB, 40 * GiB, False)
    assert (usage.filesystem_bytes, usage.free_bytes) == (100 * GiB, 60 * GiB)
    assert usage.report() == (99 * GiB, 40 * GiB)


def test_past_the_reserve_the_node_is_full() -> None:
    at_reserve = measure(Path("/d"), 5 * GiB, 0, GiB, disk(100 * GiB, GiB))
    assert at_reserve.full and at_reserve.used_bytes == at_reserve.capacity_bytes == 99 * GiB
    assert measure(Path("/d"), 0, 0, GiB, disk(100 * GiB, GiB + 1)).full is False


def test_a_configured_capacity_caps_it_and_counts_only_the_nodes_volumes() -> None:
    usage = measure(Path("/d"), 5 * GiB, 10 * GiB, GiB, disk(100 * GiB, 20 * GiB))
    assert (usage.capacity_bytes, usage.used_bytes, usage.full) == (10 * GiB, 5 * GiB, False)
    assert measure(Path("/d"), 10 * GiB, 10 * GiB, GiB, disk(100 * GiB, 20 * GiB)).full
    # the filesystem past the reserve still makes it full, whatever the volumes hold
    assert measure(Path("/d"), 1 * GiB, 10 * GiB, GiB, disk(100 * GiB, GiB // 2)).full
    # a cap above the filesystem is the filesystem
    assert measure(Path("/d"), 0, 500 * GiB, GiB, disk(100 * GiB, 50 * GiB)).capacity_bytes == 99 * GiB


def test_it_measures_the_real_filesystem(tmp_path: Path) -> None:
    real = shutil.disk_usage(tmp_path)
    usage = measure(tmp_path, 0, 0, 0)
    assert usage.filesystem_bytes == real.total == usage.capacity_bytes
    assert abs(usage.used_bytes - (real.total - real.free)) < 64 * 2**20  # others may write meanwhile
