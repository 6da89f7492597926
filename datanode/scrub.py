"""Scrub: walk every record of every volume, verify every checksum, report what is damaged.

A pass walks each volume from its file header to its end, reading every byte once (paced to
`rate_mib_s`), and checks: the file header; every record whole (header CRC, block-table CRC,
each 64 KiB block's CRC, the record CRC and end magic); for a sealed volume, the footer and the
whole-file CRC32C over the same bytes; and that the file is as long as the index says (a
read-write volume up to its `committed_end`; records above it are still being written).
It also matches the walk against the index: every live row pointing into the volume must
point at a whole record with the row's key, length and CRC.

A live shard that fails is a *finding* (`scrub_findings`, for the repair service to collect):
- `corrupt`: the record it points at fails a check or is not that shard's record;
- `missing`: it points past the end of its file (a truncated or zero-length file), or its
  volume file is gone (moved aside as damaged at start-up, or deleted).
Dead shards are never findings: nothing needs their bytes. A finding stays listed while the
row still points at the same place; once repair rewrote the shard (the row moved), it drops
out of `findings` and the next scrub of the volume forgets it.

Results are durable in the node's index: per volume the time of its last scrub, bytes read,
records verified, damaged stretches, findings and a volume-level error (`scrub_volumes`); the
pass start and end and the pause flag (`settings`). A pass interrupted by a restart goes on
with the volumes it had not reached. Reads verify on their own (store.py); scrub finds damage
before a reader does, and never changes what is served.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cairn.checksums import crc32c
from cairn.datanode.config import MIB, ScrubConfig
from cairn.datanode.errors import ShardCorrupt
from cairn.datanode.index import IndexEntry, ShardIndex
from cairn.datanode.pacing import Clock, Pacer, SystemClock
from cairn.datanode.reports import Finding, FindingKind, ScrubState, ScrubStatus, VolumeScrub
from cairn.datanode.shards import ShardKey, ShardState
from cairn.datanode.volume import (
    FILE_HEADER_SIZE,
    FOOTER_SIZE,
    FormatError,
    RecordHeader,
    RecordKind,
    VolumeFile,
    decode_file_header,
    decode_footer,
    record_size,
)

if TYPE_CHECKING:
    from cairn.datanode.store import DiskShardStore

log = logging.getLogger(__name__)

STEP_BYTES = MIB  #: bytes one thread-pool step reads at most (then the pacer runs)
ROW_PAGE = 1000


@dataclass(frozen=True, slots=True)
class ScrubPass:
    started_at: float
    finished_at: float
    volumes: tuple[VolumeScrub, ...]  # scrubbed in this run of the pass
    findings: int  # found in this run, including shards of missing volume files


# -- walking one volume (blocking steps) ----------------------------------------------------


class VolumeWalk:
    """One volume's scrub: `begin`, `step` until `done`, `finish`; then `result` and
    `findings`. `committed_end` is None for a sealed volume."""

    def __init__(self, index: ShardIndex, volume: VolumeFile, committed_end: int | None, now: float) -> None:
        self._index = index
        self._volume = volume
        self._committed_end = committed_end
        self._now = now
        self.pos = FILE_HEADER_SIZE
        self.end = FILE_HEADER_SIZE
        self.bytes = 0
        self.records = 0
        self.damaged = 0
        self.errors: list[str] = []
        self.findings: list[Finding] = []
        self._file_crc = 0
        self._intact = True  # every byte so far was part of a whole record
        self._rows: collections.deque[IndexEntry] = collections.deque()
        self._rows_after: tuple[int, ShardKey] | None = None
        self._rows_done = False

    @property
    def done(self) -> bool:
        return self.pos >= self.end

    def begin(self) -> int:
        """Check the file header and how long the file is; return the bytes read."""
        volume = self._volume
        size = volume.file_size()
        raw = volume.read_raw(FILE_HEADER_SIZE, 0)
        self.bytes += len(raw)
        try:
            decode_file_header(raw)
        except FormatError as exc:  # rows inside the file are corrupt, rows past its end missing
            self.errors.append(f"file header damaged ({exc}; file is {size} bytes)")
            self.pos = self.end = size
            self._damaged(0, size, f"volume file header damaged: {exc}")
            return len(raw)
        self._file_crc = crc32c(raw)
        expected = volume.data_end if self._committed_end is None else self._committed_end
        if self._committed_end is None and size != volume.size:
            self.errors.append(f"sealed file is {size} bytes, was {volume.size}")
            self._intact = False
        elif size < expected:
            self.errors.append(f"file is {size} bytes, shorter than its committed end {expected}")
        self.end = min(expected, size)
        return len(raw)

    def step(self, budget: int = STEP_BYTES) -> int:
        """Verify records until about `budget` bytes were read; return the bytes read."""
        volume, read = self._volume, 0
        while self.pos < self.end and read < budget:
            start = self.pos
            try:
                header, prefix = volume.read_prefix(start, self.end)
                crc, n = crc32c(prefix, self._file_crc), len(prefix)
                for chunk in volume.read_body(start, header, prefix):
                    crc, n = crc32c(chunk, crc), n + len(chunk)
            except ShardCorrupt as exc:  # FormatError included
                nxt = min(volume.next_header(start + 1), self.end)
                self._damaged(start, nxt, str(exc))
                read += nxt - start
                self.pos = nxt
                continue
            self._file_crc = crc
            self.records += 1
            self.bytes += n
            read += n
            self._check_rows(start, header)
            self.pos = start + header.size
        return read

    def finish(self) -> int:
        """Rows past the end are missing; a sealed file's footer must match what was read.
        Returns the bytes read."""
        for row in self._rows_before(None):
            self._find(row, FindingKind.MISSING, f"points past the end of the file ({self.end})")
        if self._committed_end is not None or not self._intact or self.pos != self._volume.data_end:
            return 0
        raw = self._volume.read_raw(FOOTER_SIZE, self.pos)
        self.bytes += len(raw)
        footer = decode_footer(raw, self.pos + FOOTER_SIZE)
        if footer is None:
            self.errors.append("footer damaged")
        elif footer[2] != self._file_crc:
            self.errors.append("whole-file checksum mismatch")
        elif footer[0] != self.records:
            self.errors.append(f"footer counts {footer[0]} records, the file holds {self.records}")
        return len(raw)

    def result(self) -> VolumeScrub:
        return VolumeScrub(
            self._volume.volume_id,
            self._now,
            self.bytes,
            self.records,
            self.damaged,
            len(self.findings),
            "; ".join(self.errors),
        )

    def _check_rows(self, start: int, header: RecordHeader) -> None:
        for row in self._rows_before(start + header.size):
            if row.offset == start and (header.kind, header.key, header.length, header.crc32c) == (
                RecordKind.SHARD,
                row.key,
                row.length,
                row.crc32c,
            ):
                continue
            self._find(row, FindingKind.CORRUPT, f"the record at {row.offset} is not this shard")

    def _damaged(self, start: int, end: int, why: str) -> None:
        self.damaged += 1
        self._intact = False
        log.error("scrub: volume %d: bytes [%d, %d) are damaged: %s", self._volume.volume_id, start, end, why)
        for row in self._rows_before(end if end > start else None):
            if row.offset + record_size(row.length) > self.end:
                self._find(row, FindingKind.MISSING, f"points past the end of the file ({self.end})")
            else:
                self._find(row, FindingKind.CORRUPT, why)

    def _find(self, row: IndexEntry, kind: FindingKind, detail: str) -> None:
        self.findings.append(
            Finding(row.key, row.pg, self._volume.volume_id, row.offset, kind, detail, self._now)
        )

    def _rows_before(self, end: int | None) -> Iterator[IndexEntry]:
        """Live rows of the volume not yet checked with an offset below `end` (None: all)."""
        while True:
            if not self._rows and not self._rows_done:
                page = self._index.rows_in_volume(self._volume.volume_id, self._rows_after, ROW_PAGE)
                self._rows_done = len(page) < ROW_PAGE
                if page:
                    self._rows_after = (page[-1].offset, page[-1].key)
                self._rows.extend(r for r in page if r.state is ShardState.LIVE)
                continue
            if not self._rows or (end is not None and self._rows[0].offset >= end):
                return
            yield self._rows.popleft()


def missing_volume_findings(index: ShardIndex, open_ids: set[int], now: float) -> dict[int, list[Finding]]:
    """Live shards whose volume the index knows but no open file holds (blocking)."""
    found: dict[int, list[Finding]] = {}
    for volume in sorted(set(index.volumes()) - open_ids):
        after: tuple[int, ShardKey] | None = None
        rows: list[Finding] = []
        while page := index.rows_in_volume(volume, after, ROW_PAGE):
            after = (page[-1].offset, page[-1].key)
            rows += [
                Finding(
                    r.key,
                    r.pg,
                    volume,
                    r.offset,
                    FindingKind.MISSING,
                    f"volume file {volume} is missing",
                    now,
                )
                for r in page
                if r.state is ShardState.LIVE
            ]
        found[volume] = rows
    return found


# -- durable results ------------------------------------------------------------------------


def _save(index: ShardIndex, volume: int, findings: list[Finding], result: VolumeScrub | None) -> None:
    statements: list[tuple[str, tuple[object, ...]]] = [
        ("DELETE FROM scrub_findings WHERE volume = ?", (volume,))
    ]
    statements += [
        (
            "INSERT OR REPLACE INTO scrub_findings (blob_id, idx, volume, offset, kind, detail, found_at) "
            "VALUES (?,?,?,?,?,?,?)",
            (f.key.blob_id, f.key.index, f.volume, f.offset, str(f.kind), f.detail, f.found_at),
        )
        for f in findings
    ]
    if result is not None:
        statements.append(
            (
                "INSERT OR REPLACE INTO scrub_volumes (volume, scrubbed_at, bytes, records, damaged, "
                "findings, error) VALUES (?,?,?,?,?,?,?)",
                (
                    result.volume,
                    result.scrubbed_at,
                    result.bytes,
                    result.records,
                    result.damaged,
                    result.findings,
                    result.error,
                ),
            )
        )
    index.transaction(statements)


def _setting(index: ShardIndex, name: str) -> str | None:
    rows = index.query("SELECT value FROM settings WHERE name = ?", (name,))
    return str(rows[0][0]) if rows else None


def _set_setting(index: ShardIndex, name: str, value: str) -> None:
    index.transaction([("INSERT OR REPLACE INTO settings (name, value) VALUES (?, ?)", (name, value))])


_FINDING_COLUMNS = "f.blob_id, f.idx, s.pg, f.volume, f.offset, f.kind, f.detail, f.found_at"
_CURRENT = (
    "FROM scrub_findings f JOIN shards s ON s.blob_id = f.blob_id AND s.idx = f.idx "
    "AND s.volume = f.volume AND s.offset = f.offset AND s.state = 'live'"
)


def current_findings(index: ShardIndex, after: ShardKey | None, limit: int) -> list[Finding]:
    """Findings whose row still points where the damage was, in key order (keyset pages)."""
    blob_id, idx = (after.blob_id, after.index) if after is not None else (b"", -1)
    rows = index.query(
        f"SELECT {_FINDING_COLUMNS} {_CURRENT} WHERE (f.blob_id, f.idx) > (?, ?) "
        "ORDER BY f.blob_id, f.idx LIMIT ?",
        (blob_id, idx, limit),
    )
    return [
        Finding(ShardKey(bytes(b), i), pg, v, o, FindingKind(k), d, t) for b, i, pg, v, o, k, d, t in rows
    ]


# -- the engine ---------------------------------------------------------------------------


class Scrubber:
    """Scrub passes over one store: on a timer (`start`), or now (`start_pass`, `run_pass`);
    `pause` / `resume` hold a pass between steps (the pause survives restarts)."""

    def __init__(self, store: DiskShardStore, config: ScrubConfig, clock: Clock | None = None) -> None:
        self._store = store
        self._index = store.index
        self._config = config
        self._clock = clock or SystemClock()
        self.pacer = Pacer(config.rate_mib_s * MIB, self._clock)
        self._pass_lock = asyncio.Lock()
        self._unpaused = asyncio.Event()
        self._unpaused.set()
        self._restored = False  # the persisted pause flag was taken up
        self._wake = asyncio.Event()
        self._pass_task: asyncio.Task[ScrubPass] | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._current_volume: int | None = None
        self._done = self._total = self._pass_bytes = 0

    # -- API ----------------------------------------------------------------------------

    async def run_pass(self) -> ScrubPass:
        """Scrub every volume not scrubbed since this pass began (an unfinished pass goes on)."""
        await self._restore()
        async with self._pass_lock:
            try:
                return await self._run_pass()
            finally:
                self._current_volume = None

    async def start_pass(self) -> bool:
        """Resume if paused and begin a pass unless one is under way; whether one began."""
        await self.resume()
        if self._pass_lock.locked() or (self._pass_task is not None and not self._pass_task.done()):
            return False
        self._pass_task = asyncio.create_task(self.run_pass(), name="datanode-scrub-pass")
        return True

    async def pause(self) -> None:
        await self._store.run_blocking(_set_setting, self._index, "scrub_paused", "1")
        self._restored = True
        self._unpaused.clear()

    async def resume(self) -> None:
        await self._store.run_blocking(_set_setting, self._index, "scrub_paused", "0")
        self._restored = True
        self._unpaused.set()

    async def _restore(self) -> None:
        """Take up the pause an earlier run persisted (once, before the first pass or status)."""
        if self._restored:
            return
        paused = await self._store.run_blocking(_setting, self._index, "scrub_paused") == "1"
        if not self._restored:  # no pause() or resume() meanwhile
            self._restored = True
            if paused:
                self._unpaused.clear()

    async def start(self) -> None:
        """Run passes every `interval_s` in the background."""
        await self._restore()
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._loop(), name="datanode-scrub")

    async def stop(self) -> None:
        for task in (self._loop_task, self._pass_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._loop_task = self._pass_task = None

    async def findings(self, after: ShardKey | None = None, limit: int = 1000) -> list[Finding]:
        """Live shards found corrupt or missing that are still so indexed, in key order."""
        return await self._store.run_blocking(current_findings, self._index, after, limit)

    async def status(self) -> ScrubStatus:
        await self._restore()
        index, run = self._index, self._store.run_blocking
        started = await run(_setting, index, "scrub_pass_started")
        finished = await run(_setting, index, "scrub_pass_finished")
        rows = await run(
            index.query,
            "SELECT volume, scrubbed_at, bytes, records, damaged, findings, error FROM scrub_volumes "
            "ORDER BY volume",
        )
        ((count,),) = await run(index.query, f"SELECT COUNT(*) {_CURRENT}")
        running = self._pass_lock.locked()
        state = (
            ScrubState.PAUSED
            if not self._unpaused.is_set()
            else ScrubState.RUNNING
            if running
            else ScrubState.IDLE
        )
        pass_started = float(started) if started is not None else None
        pass_finished = float(finished) if finished is not None else None
        if pass_started is not None and pass_finished is not None and pass_finished < pass_started:
            pass_finished = None
        return ScrubStatus(
            state,
            self._loop_task is not None,
            self._config.rate_mib_s,
            self._current_volume,
            pass_started,
            pass_finished,
            self._done,
            self._total,
            self._pass_bytes,
            int(count),
            tuple(VolumeScrub(*row) for row in rows),
        )

    # -- internals ----------------------------------------------------------------------

    async def _loop(self) -> None:
        run = self._store.run_blocking
        while True:
            started = await run(_setting, self._index, "scrub_pass_started")
            finished = await run(_setting, self._index, "scrub_pass_finished")
            due = self._clock.wall()
            if started is not None and finished is not None and float(finished) >= float(started):
                due = float(started) + self._config.interval_s
            wait = due - self._clock.wall()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
            self._wake.clear()
            try:
                result = await self.run_pass()
                log.info(
                    "scrub pass: %d volumes, %d bytes, %d findings",
                    len(result.volumes),
                    sum(v.bytes for v in result.volumes),
                    result.findings,
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scrub pass failed")
                await asyncio.sleep(min(60.0, self._config.interval_s))

    async def _run_pass(self) -> ScrubPass:
        run, index = self._store.run_blocking, self._index
        started = await run(_setting, index, "scrub_pass_started")
        finished = await run(_setting, index, "scrub_pass_finished")
        if started is None or (finished is not None and float(finished) >= float(started)):
            started = repr(self._clock.wall())
            await run(_set_setting, index, "scrub_pass_started", started)
        pass_start = float(started)
        scrubbed = dict(await run(index.query, "SELECT volume, scrubbed_at FROM scrub_volumes"))
        due = sorted(
            (v for v in self._store.volume_set.all() if scrubbed.get(v.volume_id, -1.0) < pass_start),
            key=lambda v: (scrubbed.get(v.volume_id, -1.0), v.volume_id),
        )
        self._done, self._total, self._pass_bytes = 0, len(due), 0
        results: list[VolumeScrub] = []
        findings = 0
        for volume in due:
            result, found = await self._scrub_volume(volume.volume_id)
            self._done += 1
            if result is not None:
                results.append(result)
                findings += found
        open_ids = set(self._store.volume_set.ids())
        missing = await run(missing_volume_findings, index, open_ids, self._clock.wall())
        for volume_id, lost in missing.items():
            log.error("scrub: volume %d is missing; %d live shards in it", volume_id, len(lost))
            await run(_save, index, volume_id, lost, None)
            findings += len(lost)
        end = self._clock.wall()
        await run(_set_setting, index, "scrub_pass_finished", repr(end))
        return ScrubPass(pass_start, end, tuple(results), findings)

    async def _scrub_volume(self, volume_id: int) -> tuple[VolumeScrub | None, int]:
        """Walk one volume and store its result; (None, 0) if compaction removed it meanwhile."""
        run, volumes = self._store.run_blocking, self._store.volume_set
        volume = volumes.pin(volume_id)
        if volume is None:
            return None, 0
        self._current_volume = volume_id
        try:
            committed_end = None
            if not volume.sealed:
                row = (await run(self._index.volumes)).get(volume_id)
                committed_end = row.committed_end if row is not None else FILE_HEADER_SIZE
            walk = VolumeWalk(self._index, volume, committed_end, self._clock.wall())
            await self._paced(await run(walk.begin))
            while not walk.done:
                await self._unpaused.wait()
                await self._paced(await run(walk.step, STEP_BYTES))
            await self._paced(await run(walk.finish))
        finally:
            volumes.unpin(volume)
        if volumes.get(volume_id) is not volume:
            return None, 0
        result = walk.result()
        await run(_save, self._index, volume_id, walk.findings, result)
        if walk.findings or result.error:
            log.error(
                "scrub: volume %d: %d finding(s), %d damaged stretch(es)%s",
                volume_id,
                len(walk.findings),
                result.damaged,
                f", {result.error}" if result.error else "",
            )
        return result, len(walk.findings)

    async def _paced(self, n: int) -> None:
        self._pass_bytes += n
        await self.pacer.pace(n)
