"""What compaction and scrub report: value types shared by the engines (compaction.py,
scrub.py), the servicer and the typed client, so callers never see the engines' internals
or generated protobuf types."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cairn.datanode.compaction_record import Phase
from cairn.datanode.shards import ShardKey

# -- compaction -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompactionResult:
    job_id: int
    source: int
    target: int  # 0: nothing was left to keep
    outcome: str  # "done" | "aborted: ..." | "rolled back: ..." | "kept source: ..." | "failed: ..."
    source_bytes: int  # size of the source file
    target_bytes: int  # size of the target file (0 without one)
    records: int  # records in the target
    started_at: float  # unix seconds
    finished_at: float

    @property
    def reclaimed_bytes(self) -> int:
        return self.source_bytes - self.target_bytes if self.outcome == "done" else 0


@dataclass(frozen=True, slots=True)
class Progress:
    job_id: int
    source: int
    target: int
    phase: Phase
    source_bytes: int
    scanned_bytes: int  # of the source walked so far
    copied_bytes: int  # written to the target so far


@dataclass(frozen=True, slots=True)
class PassProgress:
    """A pass: the volumes it set out to compact and the jobs done so far."""

    started_at: float  # unix seconds
    finished_at: float | None  # None while the pass runs
    volumes: tuple[int, ...]  # planned, in order
    results: tuple[CompactionResult, ...]  # of the jobs finished so far, in order

    @property
    def reclaimed_bytes(self) -> int:
        return sum(r.reclaimed_bytes for r in self.results)


@dataclass(frozen=True, slots=True)
class CompactUpdate:
    """One message of a Compact call: how the pass it started (or joined) is going."""

    started: bool  # this call started the pass (False: it follows one that was running)
    progress: PassProgress
    job: Progress | None  # the job under way, if any


@dataclass(frozen=True, slots=True)
class CompactionStatus:
    enabled: bool  # background passes on a timer
    running: bool  # a pass is under way
    current: Progress | None
    last_pass: PassProgress | None  # the pass under way, else the last one since the node started
    compacted: int  # jobs done, all time (the `compactions` table)
    aborted: int  # jobs that ended any other way
    reclaimed_bytes: int  # all time
    recent: tuple[CompactionResult, ...]  # newest first


# -- scrub ------------------------------------------------------------------------------------


class FindingKind(enum.StrEnum):
    CORRUPT = "corrupt"
    MISSING = "missing"


class ScrubState(enum.StrEnum):
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class Finding:
    """A live shard this node cannot serve, for the repair service."""

    key: ShardKey
    pg: int  # the shard's placement group
    volume: int
    offset: int
    kind: FindingKind
    detail: str
    found_at: float  # unix seconds


@dataclass(frozen=True, slots=True)
class VolumeScrub:
    """The last scrub of one volume."""

    volume: int
    scrubbed_at: float  # unix seconds when it ended
    bytes: int  # read
    records: int  # verified whole
    damaged: int  # stretches that are not whole records
    findings: int  # live shards found corrupt or missing
    error: str  # a volume-level problem ("" if none)


@dataclass(frozen=True, slots=True)
class ScrubStatus:
    state: ScrubState
    enabled: bool  # passes on a timer
    rate_mib_s: float  # the pace of a pass (0: unlimited)
    current_volume: int | None
    pass_started_at: float | None  # of the pass under way, or the last one
    pass_finished_at: float | None  # None while a pass is unfinished
    pass_volumes_done: int
    pass_volumes_total: int
    pass_bytes: int  # read by this process in the current (or last) pass
    findings: int  # current findings
    volumes: tuple[VolumeScrub, ...]
