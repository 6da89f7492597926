"""Compaction: rewrite a sealed volume whose records are mostly dead, keeping only what counts.

What a volume still needs (the index decides, record by record, as the copy walks it):
- a shard record whose row is live and points at exactly this record (volume, offset, seq);
- a tombstone whose key's row is dead with the tombstone's seq (the key's newest delete) and
  points at it, or points at no tombstone at all (a row written before dead rows pointed at
  their tombstone: it is re-pointed at the copy); one copy per key;
- for every dead row pointing into the volume whose tombstone is *not* there intact (it sat in
  the lost stretch of a quarantined volume, or the row points at its old data record), a
  tombstone written afresh from the row. So after compaction the volume files alone hold a
  tombstone for every dead key the source held, and an index rebuilt from them never brings
  a deleted shard back; and every tombstone kept has a row pointing at it, so compacting
  the copy never keeps it again for nothing.
Everything else (superseded or deleted shards, older or duplicate tombstones) is dropped.

One job at a time, a phase machine persisted in `compaction.job` (compaction_record.py):
PLANNED -> COPYING (records copied, each verified whole, into `vol-T.cpt`, paced to
`rate_mib_s`) -> COPIED (target sealed, fsynced, renamed `vol-T.cvol`) -> SWITCHED (rows moved
to the target in one SQLite transaction, each only if it still describes the copied record)
-> OLD_REMOVED (source unlinked, forgotten by the index) -> DONE (outcome in the `compactions`
table, record deleted). `resume` (start-up, or before the next job) rolls a job back before
COPIED and forward from it. Like SeaweedFS's vacuum (compact to `.cpd`, commit by rename) and
Ambry's compaction log (a persisted phase per step), with the switch as the commit point.

A pass first seals the writer lanes' read-write volumes that are past the same thresholds
(`Lane.rotate`, between two batches; the lane goes on in a fresh volume): a volume that would
never fill up again (its objects deleted, little written since) is compacted too.

Foreground work never fails because of it: writes go to the writer lanes' volumes, never to
a sealed one; a delete or a repair that changes a row while its record is being copied wins
(the switch skips rows that no longer match); a read that looked a row up just before the
switch either has the source pinned (it stays open until unpinned, see volume_set.py) or
finds it retired and looks the row up again.

A live record that fails its checks is never dropped: the job is aborted (nothing changes)
and the volume is left until its usage changes (repair rewrote the shard elsewhere).

Interruption tests: with `CAIRN_DATANODE_FAULT_COMPACTION=<PHASE>` in its environment the data
node process exits with status 137 right after persisting that phase (`fault_hook`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from cairn.datanode.compaction_record import CompactionRecord, Job, Phase, RecordDamaged
from cairn.datanode.config import MIB, CompactionConfig
from cairn.datanode.errors import ShardCorrupt, VolumeNotCompactable
from cairn.datanode.index import IndexEntry, Move, ShardIndex
from cairn.datanode.pacing import Clock, Pacer, SystemClock
from cairn.datanode.reports import CompactionResult, CompactionStatus, PassProgress, Progress
from cairn.datanode.shards import ShardKey, ShardState
from cairn.datanode.volume import (
    DEFAULT_BLOCK_SIZE,
    FILE_HEADER_SIZE,
    FormatError,
    Fsync,
    RecordHeader,
    RecordKind,
    VolumeFile,
    encode_record,
    scratch_path,
    volume_path,
)
from cairn.datanode.volume_set import VolumeSet
from cairn.durable_file import fsync_dir

if TYPE_CHECKING:
    from cairn.datanode.store import DiskShardStore

log = logging.getLogger(__name__)
T = TypeVar("T")

FAULT_ENV = "CAIRN_DATANODE_FAULT_COMPACTION"
STEP_BYTES = 4 * MIB  #: source bytes one thread-pool step handles (then the pacer runs)
ROW_PAGE = 1000
RECENT = 20  #: finished jobs `status` reports


class CompactionAborted(Exception):
    """The job cannot go on without losing something; it was rolled back."""


@dataclass(frozen=True, slots=True)
class Candidate:
    volume: int
    data_bytes: int  # record bytes in the file (between file header and footer)
    dead_bytes: int  # of those, bytes no row needs

    @property
    def dead_fraction(self) -> float:
        return self.dead_bytes / self.data_bytes if self.data_bytes else 0.0


def fault_hook(environ: Mapping[str, str]) -> Callable[[Job], None] | None:
    """For interruption tests only: with `CAIRN_DATANODE_FAULT_COMPACTION=<PHASE>` set (a
    `Phase` name), the process exits with status 137, as if killed -9, right after the
    compaction record reaches that phase on disk."""
    name = environ.get(FAULT_ENV, "").strip().upper()
    if not name:
        return None
    if name not in Phase.__members__:
        raise ValueError(f"{FAULT_ENV}={name!r} is not one of {', '.join(Phase.__members__)}")
    phase = Phase[name]

    def hook(job: Job) -> None:
        if job.phase is phase:
            log.error("%s=%s: exiting right after persisting phase %s", FAULT_ENV, name, phase.name)
            os._exit(137)

    return hook


# -- planning -----------------------------------------------------------------------------


def candidates(
    index: ShardIndex,
    volumes: VolumeSet,
    busy: set[int],
    dead_fraction: float,
    min_dead_bytes: int,
    *,
    sealed: bool = True,
) -> list[Candidate]:
    """Sealed volumes (not in `busy`) past both thresholds, most dead bytes first (blocking);
    with `sealed=False`, the read-write volumes past them instead."""
    found = []
    for volume in volumes.all():
        if volume.sealed != sealed or volume.volume_id in busy:
            continue
        data = volume.data_end - FILE_HEADER_SIZE
        dead = max(0, data - index.usage(volume.volume_id).needed_bytes)
        if data > 0 and dead >= min_dead_bytes and dead >= dead_fraction * data and dead > 0:
            found.append(Candidate(volume.volume_id, data, dead))
    return sorted(found, key=lambda c: -c.dead_bytes)


# -- copying ------------------------------------------------------------------------------


class Copier:
    """Copies what a source volume still needs into a scratch target (blocking steps)."""

    def __init__(
        self, index: ShardIndex, volumes: VolumeSet, source: VolumeFile, target: VolumeFile, fsync: Fsync
    ) -> None:
        self._index = index
        self._volumes = volumes
        self._source = source
        self._target = target
        self._fsync = fsync
        self.pos = FILE_HEADER_SIZE
        self.copied_bytes = 0
        self.moves: list[Move] = []
        self._copied: dict[ShardKey, Move] = {}

    @property
    def done(self) -> bool:
        return self.pos >= self._source.data_end

    def step(self, budget: int = STEP_BYTES) -> int:
        """Walk records until about `budget` bytes were read; return the bytes read."""
        source, end = self._source, self._source.data_end
        read = 0
        while self.pos < end and read < budget:
            try:
                header, prefix = source.read_prefix(self.pos, end)
            except FormatError:  # a damaged header: whatever it held is found missing in `finish`
                self.pos = source.next_header(self.pos + 1)
                continue
            read += len(prefix)
            row = self._index.get(header.key)
            if row is not None and self._needed(row, header):
                read += self._copy(header, prefix, row)
            self.pos += header.size
        return read

    def _needed(self, row: IndexEntry, header: RecordHeader) -> bool:
        """Whether the record at `pos` is what `row` needs kept (see the module docstring)."""
        if row.seq != header.seq:
            return False
        if header.kind is RecordKind.SHARD:
            return row.state is ShardState.LIVE and (row.volume, row.offset) == (
                self._source.volume_id,
                self.pos,
            )
        if row.state is not ShardState.DEAD or row.key in self._copied:
            return False
        return row.volume == self._source.volume_id or not self._points_at_tombstone(row)

    def _points_at_tombstone(self, row: IndexEntry) -> bool:
        """Whether the dead `row` points at an intact tombstone of its own seq (elsewhere)."""
        volume = self._volumes.pin(row.volume)
        if volume is None:
            return False
        try:
            header, _ = volume.read_header(row.offset)
        except ShardCorrupt:  # FormatError included
            return False
        finally:
            self._volumes.unpin(volume)
        return (header.kind, header.key, header.seq) == (RecordKind.TOMBSTONE, row.key, row.seq)

    def _copy(self, header: RecordHeader, prefix: bytes, row: IndexEntry) -> int:
        live = row.state is ShardState.LIVE
        target, start = self._target, self._target.size
        copied = 0
        try:
            target.append([prefix], records=1)
            for chunk in self._source.read_body(self.pos, header, prefix):
                target.append([chunk], records=0)
                copied += len(chunk)
        except ShardCorrupt as exc:
            target.truncate(start, self._fsync)
            if live:
                raise CompactionAborted(
                    f"live shard {header.key} at {self.pos} in volume {self._source.volume_id} "
                    f"is damaged ({exc}); repair it first"
                ) from exc
            return copied  # a damaged tombstone: written afresh by `finish`
        move = Move(header.key, row.state, header.seq, start, row.volume, row.offset)
        self.moves.append(move)
        self._copied[header.key] = move
        self.copied_bytes += len(prefix) + copied
        return copied

    def finish(self) -> None:
        """Write tombstones the source should hold but does not; abort if a live row in the
        source was not copied (its record is damaged or gone)."""
        source_id = self._source.volume_id
        after: tuple[int, ShardKey] | None = None
        missing: list[ShardKey] = []
        while rows := self._index.rows_in_volume(source_id, after, ROW_PAGE):
            after = (rows[-1].offset, rows[-1].key)
            for row in rows:
                moved = self._copied.get(row.key)
                if moved is not None and (moved.state, moved.seq) == (row.state, row.seq):
                    continue
                if row.state is ShardState.LIVE:
                    missing.append(row.key)
                    continue
                record = encode_record(
                    RecordHeader(RecordKind.TOMBSTONE, row.seq, row.key, row.pg, 0, 0, DEFAULT_BLOCK_SIZE),
                    b"",
                )
                offset = self._target.append([record])
                move = Move(row.key, ShardState.DEAD, row.seq, offset, source_id, row.offset)
                self.moves.append(move)
                self._copied[row.key] = move
                self.copied_bytes += len(record)
        if missing:
            raise CompactionAborted(
                f"{len(missing)} live shard(s) in volume {source_id} are damaged or missing "
                f"(first {missing[0]}); repair them first"
            )


def seal_target(target: VolumeFile, volumes: VolumeSet, volumes_dir: Path, fsync: Fsync) -> int:
    """Make the target durable and visible (seal, fsync, rename `.cpt` -> `.cvol`), or drop
    it if it holds nothing. Returns its id, 0 if dropped."""
    if target.records == 0:
        target.close()
        os.unlink(target.path)
        fsync_dir(volumes_dir)
        return 0
    target.seal(fsync)
    target.rename(volume_path(volumes_dir, target.volume_id))
    volumes.add(target)
    return target.volume_id


# -- switch, removal, history (shared by the engine and `resume`) ---------------------------


@dataclass(frozen=True, slots=True)
class Parts:
    """What a compaction touches: the store's index, volumes and record."""

    index: ShardIndex
    volumes: VolumeSet
    volumes_dir: Path
    record: CompactionRecord
    fsync: Fsync
    wall: Callable[[], float] = time.time


def finish_job(parts: Parts, job: Job, moves: list[Move] | None) -> CompactionResult:
    """Carry a job from COPIED (or later) to DONE: switch, remove the source, log (blocking)."""
    target = parts.volumes.get(job.target) if job.target else None
    outcome = "done"
    if job.phase in (Phase.COPIED, Phase.SWITCHED):
        if moves is None:  # resumed: the target itself says what was copied
            moves = _moves_of(target, job.source) if target is not None else []
        end = target.data_end if target is not None else 0
        left = parts.index.switch_volume(job.source, job.target or None, end, moves)
        if job.phase is Phase.COPIED:
            job = job.at(Phase.SWITCHED)
            parts.record.save(job)
        if left:
            outcome = f"kept source: {left} row(s) still point into it"
            log.error("compaction %d: volume %d %s", job.job_id, job.source, outcome)
        else:
            _remove_source(parts, job.source)
            job = job.at(Phase.OLD_REMOVED)
            parts.record.save(job)
    elif job.phase is Phase.OLD_REMOVED:
        _remove_source(parts, job.source)
    result = CompactionResult(
        job.job_id,
        job.source,
        job.target,
        outcome,
        job.source_bytes,
        target.size if target is not None else 0,
        job.records,
        job.job_id / 1e9,
        parts.wall(),
    )
    _log_result(parts.index, result)
    parts.record.save(job.at(Phase.DONE))
    parts.record.clear()
    return result


def _moves_of(target: VolumeFile, source: int) -> list[Move]:
    """The switch of a resumed job, from the target's own records: rows still pointing into
    the source move (a row re-pointed from elsewhere is left; a later compaction of the target
    re-points it)."""
    records, _ = target.scan_resync()
    return [
        Move(
            r.header.key,
            ShardState.DEAD if r.header.kind is RecordKind.TOMBSTONE else ShardState.LIVE,
            r.header.seq,
            r.offset,
            source,
            None,
        )
        for r in records
    ]


def _remove_source(parts: Parts, source: int) -> None:
    parts.volumes.retire(source)  # closes now, or when the last reader unpins it
    path = volume_path(parts.volumes_dir, source)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    fsync_dir(parts.volumes_dir)
    parts.index.transaction(
        [
            ("DELETE FROM volumes WHERE id = ?", (source,)),
            ("DELETE FROM scrub_volumes WHERE volume = ?", (source,)),
            ("DELETE FROM scrub_findings WHERE volume = ?", (source,)),
        ]
    )


def _log_result(index: ShardIndex, r: CompactionResult) -> None:
    index.transaction(
        [
            (
                "INSERT OR IGNORE INTO compactions (job, source, target, started_at, finished_at, "
                "source_bytes, target_bytes, records, outcome) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    r.job_id,
                    r.source,
                    r.target,
                    r.started_at,
                    r.finished_at,
                    r.source_bytes,
                    r.target_bytes,
                    r.records,
                    r.outcome,
                ),
            )
        ]
    )


def roll_back(parts: Parts, job: Job, target: VolumeFile | None, why: str) -> CompactionResult:
    """Undo a job that has not reached COPIED: drop the scratch target, forget the job."""
    if target is not None:
        target.close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(scratch_path(parts.volumes_dir, job.target))
    fsync_dir(parts.volumes_dir)
    result = CompactionResult(
        job.job_id, job.source, job.target, why, job.source_bytes, 0, 0, job.job_id / 1e9, parts.wall()
    )
    _log_result(parts.index, result)
    parts.record.clear()
    return result


def resume(parts: Parts) -> CompactionResult | None:
    """Settle a job an earlier run left on disk: back before COPIED, forward from it (blocking).

    Also drops every stray `.cpt` file (a scratch target no job owns)."""
    try:
        job = parts.record.load()
    except RecordDamaged as exc:
        log.error("compaction record is damaged (%s); moving it aside and keeping both volumes", exc)
        parts.record.move_aside()
        job = None
    result = None
    if job is not None:
        parts.volumes.reserve_past(job.target)
        log.warning("resuming compaction %d of volume %d at phase %s", job.job_id, job.source, job.phase.name)
        target = parts.volumes.get(job.target)
        if job.phase in (Phase.PLANNED, Phase.COPYING) and target is not None and target.sealed:
            job = job.at(Phase.COPIED, records=target.records or 0)  # sealed and renamed: complete
            parts.record.save(job)
        if job.phase in (Phase.PLANNED, Phase.COPYING):
            result = roll_back(parts, job, None, "rolled back: interrupted while copying")
        elif job.phase is Phase.DONE:
            parts.record.clear()
        else:
            result = finish_job(parts, job, None)
    for stray in parts.volumes_dir.glob("*.cpt"):
        log.warning("removing stray compaction target %s", stray)
        stray.unlink()
    return result


# -- the engine ---------------------------------------------------------------------------


def _log_failure(task: asyncio.Task[list[CompactionResult]]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("compaction pass failed", exc_info=task.exception())


class Compactor:
    """Runs compaction passes over one store: on a timer, or when asked.

    `run_pass` compacts every candidate, or one given sealed volume whatever its dead
    fraction; `start_pass` runs such a pass in the background (what the timer and the RPC
    trigger use) and `follow_pass` watches it; `compact` runs one job. One pass and one job
    at a time.
    """

    def __init__(
        self,
        store: DiskShardStore,
        config: CompactionConfig,
        clock: Clock | None = None,
        on_persisted: Callable[[Job], None] | None = None,
    ) -> None:
        self._store = store
        self._config = config
        self._clock = clock or SystemClock()
        self._parts = Parts(
            store.index,
            store.volume_set,
            store.volumes_dir,
            CompactionRecord(store.compaction_record_path, on_persisted),
            store.fsync,
            self._clock.wall,
        )
        self._pass_lock = asyncio.Lock()
        self._job_lock = asyncio.Lock()
        self._pass_task: asyncio.Task[list[CompactionResult]] | None = None
        self._pass: PassProgress | None = None  # the pass under way, or the last one
        self._loop_task: asyncio.Task[None] | None = None
        self._progress: Progress | None = None
        self._aborted: dict[int, tuple[int, int]] = {}  # volume -> its usage when a job aborted
        self.pacer = Pacer(config.rate_mib_s * MIB, self._clock)

    # -- API ----------------------------------------------------------------------------

    async def _seal_dead_writable(self, dead_fraction: float | None, min_dead_bytes: int | None) -> None:
        """Seal the writer lanes' read-write volumes past the thresholds (their lanes go on in
        fresh volumes): a volume that does not fill up would otherwise keep its dead bytes."""
        fraction = self._config.dead_fraction if dead_fraction is None else dead_fraction
        minimum = self._config.min_dead_bytes if min_dead_bytes is None else min_dead_bytes
        found = await self._store.run_blocking(
            functools.partial(candidates, sealed=False),
            self._parts.index,
            self._parts.volumes,
            set(),
            fraction,
            minimum,
        )
        writable = set(self._store.writable_volume_ids())
        dead = [c.volume for c in found if c.volume in writable]
        if dead:
            log.info("sealing read-write volumes %s for compaction (mostly dead)", dead)
            await self._store.seal_writable(dead)

    async def candidates(
        self, dead_fraction: float | None = None, min_dead_bytes: int | None = None
    ) -> list[Candidate]:
        """Volumes a pass would compact (with these thresholds, default the configured ones)."""
        fraction = self._config.dead_fraction if dead_fraction is None else dead_fraction
        minimum = self._config.min_dead_bytes if min_dead_bytes is None else min_dead_bytes
        found = await self._store.run_blocking(
            candidates,
            self._parts.index,
            self._parts.volumes,
            set(self._store.writable_volume_ids()),
            fraction,
            minimum,
        )
        usage = await self._store.run_blocking(self._usages, [c.volume for c in found])
        return [c for c in found if self._aborted.get(c.volume) != usage[c.volume]]

    async def run_pass(
        self, dead_fraction: float | None = None, min_dead_bytes: int | None = None, volume: int | None = None
    ) -> list[CompactionResult]:
        """Compact every candidate, one after another; or only `volume`, whatever its dead
        fraction (`VolumeNotCompactable` unless it is a sealed volume of this node)."""
        async with self._pass_lock:
            started = self._clock.wall()
            if volume is not None:
                self.check_compactable(volume)
                planned = [volume]
            else:
                await self._seal_dead_writable(dead_fraction, min_dead_bytes)
                planned = [c.volume for c in await self.candidates(dead_fraction, min_dead_bytes)]
            self._pass = PassProgress(started, None, tuple(planned), ())
            results: list[CompactionResult] = []
            try:
                for volume_id in planned:
                    if self._store.volume_set.get(volume_id) is not None:
                        results.append(await self.compact(volume_id))
                        self._pass = dataclasses.replace(self._pass, results=tuple(results))
            finally:
                self._pass = dataclasses.replace(self._pass, finished_at=self._clock.wall())
            return results

    def start_pass(
        self, dead_fraction: float | None = None, min_dead_bytes: int | None = None, volume: int | None = None
    ) -> bool:
        """Run `run_pass(...)` in the background unless a pass is running; whether it started.
        A `volume` that is not a sealed volume of this node raises `VolumeNotCompactable`."""
        if volume is not None:
            self.check_compactable(volume)
        if self.running:
            return False
        self._pass = PassProgress(self._clock.wall(), None, (), ())  # planning
        self._pass_task = asyncio.create_task(
            self.run_pass(dead_fraction, min_dead_bytes, volume), name="datanode-compaction-pass"
        )
        self._pass_task.add_done_callback(_log_failure)
        return True

    async def follow_pass(self, interval_s: float = 0.5) -> AsyncIterator[PassProgress]:
        """The background pass's progress now, then every `interval_s`, and once more when it
        has ended (with `finished_at`); nothing if no pass was started. Raises what the pass
        raised, if anything. Leaving early does not stop the pass."""
        task = self._pass_task
        if task is None:
            return
        while True:
            done = task.done()
            if done:
                task.result()  # the pass's own failure, if any
            if self._pass is not None:
                yield self._pass
            if done:
                return
            await asyncio.wait([task], timeout=interval_s)

    @property
    def current_job(self) -> Progress | None:
        """The job under way, if any."""
        return self._progress

    @property
    def running(self) -> bool:
        return (
            self._pass_lock.locked()
            or self._job_lock.locked()
            or (self._pass_task is not None and not self._pass_task.done())
        )

    def check_compactable(self, volume_id: int) -> None:
        """`VolumeNotCompactable` unless `volume_id` is a sealed volume of this node."""
        volume = self._store.volume_set.get(volume_id)
        if volume is None or not volume.sealed or volume_id in self._store.writable_volume_ids():
            raise VolumeNotCompactable(f"volume {volume_id} is not a sealed volume of this node")

    async def compact(self, volume_id: int) -> CompactionResult:
        """Compact one sealed volume now (not a writer lane's)."""
        async with self._job_lock:
            await self._settle(resume, self._parts)  # a job an earlier failure left behind
            self.check_compactable(volume_id)
            source = self._store.volume_set.get(volume_id)
            assert source is not None
            try:
                return await self._compact(source)
            finally:
                self._progress = None

    async def status(self) -> CompactionStatus:
        rows = await self._store.run_blocking(
            self._parts.index.query,
            "SELECT job, source, target, outcome, source_bytes, target_bytes, records, started_at, "
            f"finished_at FROM compactions ORDER BY job DESC LIMIT {RECENT}",
        )
        ((done, other, reclaimed),) = await self._store.run_blocking(
            self._parts.index.query,
            "SELECT COALESCE(SUM(outcome = 'done'), 0), COALESCE(SUM(outcome != 'done'), 0), "
            "COALESCE(SUM(CASE WHEN outcome = 'done' THEN source_bytes - target_bytes ELSE 0 END), 0) "
            "FROM compactions",
        )
        recent = tuple(
            CompactionResult(j, s, t, o, sb, tb, n, st, ft) for j, s, t, o, sb, tb, n, st, ft in rows
        )
        return CompactionStatus(
            self._loop_task is not None,
            self.running,
            self._progress,
            self._pass,
            done,
            other,
            reclaimed,
            recent,
        )

    def start(self) -> None:
        """Run passes every `interval_s` in the background (a trigger wakes it early)."""
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._loop(), name="datanode-compaction")

    async def stop(self) -> None:
        """Stop the background loop and any pass; an interrupted job is rolled back now (before
        COPIED) or finished (from it on), so nothing is left half done."""
        for task in (self._loop_task, self._pass_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):  # a failure is logged
                    await task
        self._loop_task = self._pass_task = None

    # -- internals ----------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._config.interval_s)
            if not self.start_pass():
                continue  # a pass asked for meanwhile is running: this round is skipped
            task = self._pass_task
            assert task is not None
            with contextlib.suppress(Exception):  # logged by `_log_failure`
                for result in await task:
                    log.info("compaction of volume %d: %s", result.source, result.outcome)

    def _usages(self, volume_ids: list[int]) -> dict[int, tuple[int, int]]:
        return {v: (u.rows, u.needed_bytes) for v in volume_ids for u in [self._parts.index.usage(v)]}

    async def _compact(self, source: VolumeFile) -> CompactionResult:
        parts = self._parts
        job = Job(time.time_ns(), Phase.PLANNED, source.volume_id, parts.volumes.allocate_id(), source.size)
        await self._settle(parts.record.save, job)
        target = await self._settle(
            VolumeFile.create_scratch, scratch_path(parts.volumes_dir, job.target), job.target
        )
        job = job.at(Phase.COPYING)
        await self._settle(parts.record.save, job)
        copier = Copier(parts.index, parts.volumes, source, target, parts.fsync)
        self._progress = Progress(job.job_id, job.source, job.target, job.phase, source.data_end, 0, 0)
        try:
            while not copier.done:
                read = await self._store.run_blocking(copier.step, STEP_BYTES)
                self._progress = Progress(
                    job.job_id,
                    job.source,
                    job.target,
                    job.phase,
                    source.data_end,
                    copier.pos,
                    copier.copied_bytes,
                )
                await self.pacer.pace(read)
            await self._store.run_blocking(copier.finish)
            target_id = await self._store.run_blocking(
                seal_target, target, parts.volumes, parts.volumes_dir, parts.fsync
            )
        except (CompactionAborted, Exception, asyncio.CancelledError) as exc:
            why = f"aborted: {exc}" if isinstance(exc, CompactionAborted) else f"failed: {exc!r}"
            result = await self._settle(roll_back, parts, job, target, why)
            usage = await self._store.run_blocking(self._usages, [job.source])
            self._aborted[job.source] = usage[job.source]
            log.warning("compaction of volume %d %s", job.source, why)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return result
        job = job.at(Phase.COPIED, target=target_id, records=len(copier.moves))
        await self._settle(parts.record.save, job)
        self._progress = Progress(
            job.job_id, job.source, job.target, job.phase, source.data_end, copier.pos, copier.copied_bytes
        )
        result = await self._settle(finish_job, parts, job, copier.moves)
        self._aborted.pop(job.source, None)
        return result

    async def _settle(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking step to its end even if the caller is cancelled meanwhile (a phase
        change must not be left half made), then let the cancellation through."""
        future = self._store.run_blocking(functools.partial(fn, *args))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            await asyncio.wait([future])
            raise
