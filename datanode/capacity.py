"""What a data node reports as its capacity and usage: measured on its data directory's filesystem
at every heartbeat, not a configured figure.

- capacity = the filesystem's size minus `reserve_bytes` (free space kept for compaction and
  the index), or the operator's `capacity_bytes` when set and smaller;
- used = the filesystem's used bytes (everything on it), or, with `capacity_bytes` set, the bytes
  of this node's volume files;
- full = the free space is at or below the reserve, or used has reached capacity. A full node
  reports used >= capacity, which is how the placement service knows it
  (`cluster_map.NodeInfo.full`): it keeps its slots but gets no new ones.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DiskUsage = Callable[[Path], Any]  # shutil.disk_usage: .total, .used, .free


@dataclass(frozen=True, slots=True)
class Usage:
    capacity_bytes: int
    used_bytes: int
    filesystem_bytes: int
    free_bytes: int

    @property
    def full(self) -> bool:
        return self.used_bytes >= self.capacity_bytes

    def report(self) -> tuple[int, int]:
        """(capacity, used) as a heartbeat carries them."""
        return self.capacity_bytes, self.used_bytes


def measure(
    data_dir: Path,
    volumes_bytes: int,
    configured_bytes: int,
    reserve_bytes: int,
    disk_usage: DiskUsage = shutil.disk_usage,
) -> Usage:
    """The node's capacity and usage now (blocking: one statvfs)."""
    disk = disk_usage(data_dir)
    usable = max(int(disk.total) - reserve_bytes, 1)  # never 0: placement reads 0 as "no report"
    if configured_bytes:
        capacity, used = min(configured_bytes, usable), volumes_bytes
    else:
        capacity, used = usable, int(disk.total) - int(disk.free)
    if int(disk.free) <= reserve_bytes:
        used = max(used, capacity)  # past the reserve: full whatever the figures say
    return Usage(capacity, used, int(disk.total), int(disk.free))
