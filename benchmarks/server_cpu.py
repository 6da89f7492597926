"""CPU seconds spent by the server's processes, from /proc/<pid>/stat, and by the whole machine (Linux).

A meter is given the server's top processes (cluster.json's list, or a peer's pid). Each snapshot
also finds their descendants (uvicorn workers of `cairn up --api-workers N`, for example), which
are counted under the role of the process they descend from. Processes that exit between two
snapshots are left out of the difference rather than guessed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from s3_endpoint import ServerProcess

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Sample:
    """One process's cumulative user+system CPU seconds at a snapshot."""

    role: str
    name: str
    cpu_s: float


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may contain spaces: split after it
    return raw[raw.rindex(")") + 2 :].split()


def process_cpu_seconds(pid: int) -> float | None:
    """utime + stime of `pid` in seconds, or None if it is gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds all cores of the machine have spent busy since boot (/proc/stat: everything but
    idle and iowait), to tell how much of the machine other work used during a phase."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def _children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


class CpuMeter:
    """Snapshots of the CPU time of a set of server processes and their descendants."""

    def __init__(self, processes: Sequence[ServerProcess]) -> None:
        self.processes = tuple(processes)

    def members(self) -> dict[int, ServerProcess]:
        """Every pid to account, each descendant under its ancestor's role and a derived name."""
        children = _children_by_parent() if self.processes else {}
        found: dict[int, ServerProcess] = {}
        for top in self.processes:
            stack = [(top.pid, top.name)]
            while stack:
                pid, name = stack.pop()
                if pid in found:
                    continue
                found[pid] = ServerProcess(top.role, name, pid)
                stack += [(child, f"{top.name}.{child}") for child in children.get(pid, [])]
        return found

    def snapshot(self) -> dict[int, Sample]:
        samples = {}
        for pid, proc in self.members().items():
            cpu = process_cpu_seconds(pid)
            if cpu is not None:
                samples[pid] = Sample(proc.role, proc.name, cpu)
        return samples


def cpu_between(before: dict[int, Sample], after: dict[int, Sample]) -> dict[str, float]:
    """CPU seconds per process name between two snapshots (processes present in both)."""
    return {
        sample.name: round(sample.cpu_s - before[pid].cpu_s, 3)
        for pid, sample in after.items()
        if pid in before and before[pid].name == sample.name
    }


def by_role(before: dict[int, Sample], after: dict[int, Sample]) -> dict[str, float]:
    """CPU seconds per role between two snapshots."""
    roles: dict[str, float] = {}
    for pid, sample in after.items():
        if pid in before and before[pid].name == sample.name:
            roles[sample.role] = roles.get(sample.role, 0.0) + sample.cpu_s - before[pid].cpu_s
    return {role: round(seconds, 3) for role, seconds in sorted(roles.items())}
