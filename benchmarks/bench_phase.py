"""One system under benchmark, and how a phase of work on it is run and measured.

A phase runs jobs (one request, or a few, each) on `concurrency` pre-opened keep-alive connections,
one worker per connection, until the jobs run out or the phase's time is up (a job in flight
finishes; every request has a timeout). It records per job: latency and bytes moved, or the
failure (no retries); per phase: wall time, the client's own CPU time (`time.process_time`, all of
its threads), the server's CPU time per process and the whole machine's busy CPU time (`server_cpu`;
what is left after client and server is other work on a shared machine), and the load average at
its end. py-spy runs during the phases a `Profiler` selects.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from xml.etree import ElementTree

from cluster_profile import Profiler
from http11 import Connection, ProtocolError
from s3_ops import S3Client, S3Error
from server_cpu import CpuMeter, by_role, cpu_between, machine_busy_seconds

MiB = 1 << 20

#: A job: given a connection, do its requests and return the bytes it moved (raise on failure).
Job = Callable[[Connection], Awaitable[int]]


class Mismatch(Exception):
    """A response that arrived but is not what was written (wrong bytes, length or listing)."""


#: What a failed job may raise; anything else is a bug in the benchmark and stops it.
FAILURES = (S3Error, OSError, ProtocolError, Mismatch, TimeoutError, ElementTree.ParseError)


class Kind(Enum):
    """Which figures a phase is judged by."""

    THROUGHPUT = "throughput"  # MiB/s
    OPS = "ops"  # operations/s, p50 and p99 latency
    KEYS = "keys"  # keys listed/s


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    value: float
    better: str | None  # "higher", "lower", or None for figures that are not the server's


@dataclass
class PhaseResult:
    phase: str
    workload: str
    label: str
    kind: Kind
    concurrency: int
    ops: int = 0
    errors: int = 0
    bytes: int = 0
    items: int = 0  # keys listed
    seconds: float = 0.0
    client_cpu_s: float = 0.0
    machine_cpu_s: float = 0.0  # every process on the machine, this client and the server included
    load_average: tuple[float, float, float] = (0.0, 0.0, 0.0)  # at the end of the phase
    server_cpu_by_role: dict[str, float] = field(default_factory=dict)
    server_cpu_by_process: dict[str, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    first_error: str | None = None
    profiled: bool = False

    def done(self, seconds: float, moved: int) -> None:
        self.ops += 1
        self.bytes += moved
        self.latencies.append(seconds)

    def fail(self, err: BaseException) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = f"{type(err).__name__}: {err}"

    def percentile(self, q: float) -> float:
        """The q-quantile of the job latencies in seconds (nearest rank), 0 without any."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    def metrics(self) -> list[Metric]:
        s = self.seconds or float("inf")
        server_s = sum(self.server_cpu_by_role.values())
        out: list[Metric] = []
        if self.kind is Kind.THROUGHPUT:
            out.append(Metric("MiB/s", self.bytes / MiB / s, "higher"))
            if self.server_cpu_by_role and self.bytes:
                out.append(Metric("server CPU ms/MiB", 1000 * server_s / (self.bytes / MiB), "lower"))
        elif self.kind is Kind.OPS:
            out.append(Metric("ops/s", self.ops / s, "higher"))
            out.append(Metric("p50 ms", 1000 * self.percentile(0.50), "lower"))
            out.append(Metric("p99 ms", 1000 * self.percentile(0.99), "lower"))
            if self.server_cpu_by_role and self.ops:
                out.append(Metric("server CPU ms/op", 1000 * server_s / self.ops, "lower"))
        else:
            out.append(Metric("keys/s", self.items / s, "higher"))
            if self.server_cpu_by_role and self.items:
                out.append(Metric("server CPU us/key", 1e6 * server_s / self.items, "lower"))
        out.append(Metric("client CPU %", 100 * self.client_cpu_s / s, None))
        if self.server_cpu_by_role:
            others = self.machine_cpu_s - self.client_cpu_s - server_s
            out.append(Metric("others' CPU %", 100 * max(0.0, others) / s, None))
        if self.errors:
            out.append(Metric("errors", self.errors, "lower"))
        return out

    def doc(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "workload": self.workload,
            "label": self.label,
            "concurrency": self.concurrency,
            "ops": self.ops,
            "errors": self.errors,
            "first_error": self.first_error,
            "bytes": self.bytes,
            "items": self.items,
            "seconds": round(self.seconds, 3),
            "client_cpu_s": round(self.client_cpu_s, 3),
            "machine_cpu_s": round(self.machine_cpu_s, 3),
            "load_average": self.load_average,
            "server_cpu_s_by_role": self.server_cpu_by_role,
            "server_cpu_s_by_process": self.server_cpu_by_process,
            "profiled": self.profiled,
            "metrics": {m.name: round(m.value, 3) for m in self.metrics()},
        }


class Bench:
    """One system under test: its client, bucket, connections, and the phases run on it."""

    def __init__(
        self,
        name: str,
        s3: S3Client,
        meter: CpuMeter,
        profiler: Profiler | None = None,
    ) -> None:
        self.name = name
        self.s3 = s3
        self.meter = meter
        self.profiler = profiler
        self.bucket = f"bench-{uuid.uuid4().hex[:12]}"
        self.bucket_created = False
        self.written: set[str] = set()  # keys to delete at the end
        self.results: list[PhaseResult] = []
        self._connections: list[Connection] = []

    async def connections(self, n: int) -> list[Connection]:
        """`n` connected keep-alive connections (opened before a phase's clock starts)."""
        while len(self._connections) < n:
            self._connections.append(self.s3.connection())
        await asyncio.gather(*(c.open() for c in self._connections[:n]))
        return self._connections[:n]

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self._connections))
        self._connections = []

    @contextlib.asynccontextmanager
    async def measure(
        self, phase: str, workload: str, label: str, kind: Kind, concurrency: int
    ) -> AsyncIterator[PhaseResult]:
        """Time the block as one phase; a FAILURES exception in it is recorded, not raised."""
        result = PhaseResult(phase, workload, label, kind, concurrency)
        profiling = self.profiler is not None and self.profiler.wants(phase, workload)
        if self.profiler is not None and profiling:
            await self.profiler.start(phase)
        before = self.meter.snapshot()
        machine0, cpu0, t0 = machine_busy_seconds(), time.process_time(), time.perf_counter()
        try:
            yield result
        except FAILURES as err:
            result.fail(err)
        finally:
            result.seconds = time.perf_counter() - t0
            result.client_cpu_s = time.process_time() - cpu0
            result.machine_cpu_s = machine_busy_seconds() - machine0
            result.load_average = os.getloadavg()
            after = self.meter.snapshot()
            result.server_cpu_by_role = by_role(before, after)
            result.server_cpu_by_process = cpu_between(before, after)
            if self.profiler is not None and profiling:
                await self.profiler.stop(result.server_cpu_by_process)
                result.profiled = True
            self.results.append(result)
            self._report(result)

    def _report(self, r: PhaseResult) -> None:
        figures = ", ".join(f"{m.name} {m.value:.1f}" for m in r.metrics())
        print(f"  {self.name:<10} {r.label:<42} {r.seconds:6.1f} s  {figures}", file=sys.stderr)
        if r.first_error:
            print(f"  {'':<10} first error: {r.first_error}", file=sys.stderr)

    async def run_jobs(
        self, result: PhaseResult, connections: list[Connection], jobs: Iterable[Job], seconds: float
    ) -> None:
        """Run `jobs`, one worker per connection, until they run out or `seconds` have passed."""
        pending = iter(jobs)
        deadline = time.perf_counter() + seconds

        async def worker(conn: Connection) -> None:
            while time.perf_counter() < deadline:
                job = next(pending, None)
                if job is None:
                    return
                start = time.perf_counter()
                try:
                    moved = await job(conn)
                except FAILURES as err:
                    result.fail(err)
                    continue
                result.done(time.perf_counter() - start, moved)

        async with asyncio.TaskGroup() as group:
            for conn in connections:
                group.create_task(worker(conn))

    async def create_bucket(self) -> None:
        (conn,) = await self.connections(1)
        await self.s3.create_bucket(conn, self.bucket)
        self.bucket_created = True

    async def delete_keys(self, keys: Iterable[str], concurrency: int = 4) -> int:
        """DeleteObjects in batches of 1000 (untimed cleanup); returns the keys that failed."""
        ordered = sorted(set(keys))
        batches = iter([ordered[i : i + 1000] for i in range(0, len(ordered), 1000)])
        failed = 0

        async def worker(conn: Connection) -> None:
            nonlocal failed
            for batch in batches:
                try:
                    failed += await self.s3.delete_objects(conn, self.bucket, batch)
                except FAILURES as err:
                    print(f"  {self.name}: cleanup: {type(err).__name__}: {err}", file=sys.stderr)
                    failed += len(batch)
                    continue
                self.written.difference_update(batch)

        conns = await self.connections(concurrency)
        async with asyncio.TaskGroup() as group:
            for conn in conns:
                group.create_task(worker(conn))
        return failed

    async def cleanup(self) -> None:
        """Delete every object written and the bucket; problems are reported, not raised."""
        try:
            if self.written:
                await self.delete_keys(self.written)
            if self.bucket_created:
                (conn,) = await self.connections(1)
                # a request cut short (Ctrl-C, a timeout) may have stored an object nobody recorded
                leftover, token = await self.s3.list_page(conn, self.bucket, "", None, 1000)
                while token is not None:
                    keys, token = await self.s3.list_page(conn, self.bucket, "", token, 1000)
                    leftover += keys
                if leftover:
                    await self.delete_keys(leftover)
                await self.s3.delete_bucket(conn, self.bucket)
        except FAILURES as err:
            print(f"  {self.name}: cleanup: {type(err).__name__}: {err}", file=sys.stderr)
        finally:
            await self.close()
