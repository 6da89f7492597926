"""The workloads of `s3_compare.py`: what each one writes, reads and checks, and its settings.

  large      PUT then GET (MD5-verified) of 64 MiB objects, at each concurrency in turn (1, then 4)
  small      PUT, GET (bytes compared) and DELETE of 4 KiB objects at concurrency 32
  multipart  one 256 MiB multipart upload in 16 MiB parts, 4 parts at once (create to complete)
  ranged     GETs of 1 MiB at random offsets of a 64 MiB object at concurrency 8 (bytes compared)
  list       PUT the keys first (timed as its own phase), then full ListObjectsV2 listings,
             following continuation tokens, each checked to return every key

Every phase stops at its count or its time limit, whichever comes first. Bodies are deterministic
(seeded), so two systems get the same bytes: a large body is 16 bytes naming the object followed by
one shared random buffer, with its MD5 computed before the clock starts.
"""

from __future__ import annotations

import functools
import hashlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bench_phase import Bench, Job, Kind, MiB, Mismatch
from http11 import Buffer, Connection, Consume

HEAD = 16


@dataclass(frozen=True)
class Settings:
    """Sizes, counts and time limits; each field is a `--flag` of s3_compare.py."""

    large_size: int = field(default=64 * MiB, metadata={"help": "bytes per large object"})
    large_concurrency: tuple[int, ...] = field(
        default=(1, 4), metadata={"help": "concurrency levels of the large PUT and GET phases"}
    )
    large_count: int = field(default=8, metadata={"help": "large objects per PUT phase (at most)"})
    large_seconds: float = field(default=30.0, metadata={"help": "time limit per large phase"})
    small_size: int = field(default=4096, metadata={"help": "bytes per small object"})
    small_concurrency: int = field(default=32, metadata={"help": "concurrency of the small phases"})
    small_count: int = field(default=3000, metadata={"help": "small objects per phase (at most)"})
    small_seconds: float = field(default=10.0, metadata={"help": "time limit per small phase"})
    mpu_size: int = field(default=256 * MiB, metadata={"help": "multipart upload size"})
    mpu_part_size: int = field(default=16 * MiB, metadata={"help": "multipart part size"})
    mpu_concurrency: int = field(default=4, metadata={"help": "parts uploaded at once"})
    mpu_seconds: float = field(default=60.0, metadata={"help": "time limit for the upload's parts"})
    range_size: int = field(default=MiB, metadata={"help": "bytes per ranged GET"})
    range_concurrency: int = field(default=8, metadata={"help": "concurrency of the ranged GETs"})
    range_count: int = field(default=800, metadata={"help": "ranged GETs (at most)"})
    range_seconds: float = field(default=10.0, metadata={"help": "time limit for the ranged GETs"})
    list_keys: int = field(default=10_000, metadata={"help": "keys to create and list"})
    list_object_size: int = field(default=0, metadata={"help": "body bytes of each listed key"})
    list_concurrency: int = field(default=32, metadata={"help": "concurrency creating the keys"})
    list_create_seconds: float = field(default=90.0, metadata={"help": "time limit creating the keys"})
    list_page_size: int = field(default=1000, metadata={"help": "max-keys per ListObjectsV2 page"})
    list_rounds: int = field(default=3, metadata={"help": "full listings (at most)"})
    list_seconds: float = field(default=30.0, metadata={"help": "time limit for the listings"})
    request_timeout: float = field(default=120.0, metadata={"help": "seconds one request may take"})
    seed: int = field(default=1, metadata={"help": "seed of the bodies and range offsets"})


@functools.cache
def random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


class Payload:
    """An object body: HEAD bytes unique to the object, then a shared buffer; MD5 on demand."""

    def __init__(self, shared: bytes, tag: str) -> None:
        self.head = tag.encode().ljust(HEAD, b".")[:HEAD]
        self.tail = memoryview(shared)[HEAD:]
        self.size = len(shared)

    def segments(self) -> list[Buffer]:
        return [self.head, *(self.tail[i : i + MiB] for i in range(0, len(self.tail), MiB))]

    @functools.cached_property
    def md5(self) -> str:
        h = hashlib.md5(self.head)
        h.update(self.tail)
        return h.hexdigest()

    def slice(self, start: int, end: int) -> bytes:
        """Bytes [start, end) of the body."""
        if start >= HEAD:
            return bytes(self.tail[start - HEAD : end - HEAD])
        return (self.head + bytes(self.tail[: max(0, end - HEAD)]))[start:end]


@functools.cache
def payload(size: int, seed: int, tag: str) -> Payload:
    """The same Payload object for both systems, so its MD5 is computed once."""
    return Payload(random_bytes(size, seed), tag)


WORKLOADS = ("large", "small", "multipart", "ranged", "list")


def phase_names(settings: Settings) -> list[str]:
    """Every phase the workloads may run, in order."""
    large = [f"large-{op}-c{c}" for c in settings.large_concurrency for op in ("put", "get")]
    return [*large, "small-put", "small-get", "small-delete", "multipart", "ranged-get", "list-put", "list"]


def _size(n: int) -> str:
    return f"{n // MiB} MiB" if n >= MiB and n % MiB == 0 else f"{n // 1024} KiB" if n >= 1024 else f"{n} B"


class Workloads:
    """Runs the workloads on one Bench; `list_limit` caps the listing's keys (to match another system)."""

    def __init__(self, bench: Bench, settings: Settings) -> None:
        self.b = bench
        self.s = settings
        self.large_objects: list[tuple[str, Payload]] = []
        self.list_limit = settings.list_keys
        self.list_created = 0

    def runner(self, name: str) -> Callable[[], Awaitable[None]]:
        runners: dict[str, Callable[[], Awaitable[None]]] = {
            "large": self.large,
            "small": self.small,
            "multipart": self.multipart,
            "ranged": self.ranged,
            "list": self.listing,
        }
        return runners[name]

    def _put(self, key: str, body: list[Buffer], stored: list[str]) -> Job:
        async def job(conn: Connection) -> int:
            await self.b.s3.put_object(conn, self.b.bucket, key, body)
            self.b.written.add(key)
            stored.append(key)
            return sum(len(piece) for piece in body)

        return job

    async def large(self) -> None:
        s, b = self.s, self.b
        size = _size(s.large_size)
        for c in s.large_concurrency:
            objects = {
                f"bench/large/c{c}/{i:04d}": payload(s.large_size, s.seed, f"c{c}-{i}")
                for i in range(s.large_count)
            }
            for p in objects.values():
                _ = p.md5  # before any clock starts
            stored: list[str] = []
            conns = await b.connections(c)
            async with b.measure(f"large-put-c{c}", "large", f"PUT {size} c={c}", Kind.THROUGHPUT, c) as r:
                jobs = (self._put(key, p.segments(), stored) for key, p in objects.items())
                await b.run_jobs(r, conns, jobs, s.large_seconds)

            def get(key: str, p: Payload) -> Job:
                async def job(conn: Connection) -> int:
                    response = await b.s3.get_object(conn, b.bucket, key, Consume.MD5)
                    if response.md5 != p.md5 or response.length != p.size:
                        raise Mismatch(f"GET {key}: {response.length} bytes, MD5 {response.md5} != {p.md5}")
                    return response.length

                return job

            async with b.measure(
                f"large-get-c{c}", "large", f"GET {size} c={c}, MD5", Kind.THROUGHPUT, c
            ) as r:
                await b.run_jobs(r, conns, (get(k, objects[k]) for k in stored), s.large_seconds)
            self.large_objects += [(k, objects[k]) for k in stored]

    async def small(self) -> None:
        s, b = self.s, self.b
        body = random_bytes(s.small_size, s.seed + 1)
        label, c = _size(s.small_size), s.small_concurrency
        conns = await b.connections(c)
        stored: list[str] = []
        async with b.measure("small-put", "small", f"PUT {label} c={c}", Kind.OPS, c) as r:
            jobs = (self._put(f"bench/small/{i:06d}", [body], stored) for i in range(s.small_count))
            await b.run_jobs(r, conns, jobs, s.small_seconds)

        def get(key: str) -> Job:
            async def job(conn: Connection) -> int:
                response = await b.s3.get_object(conn, b.bucket, key, Consume.KEEP)
                if response.body != body:
                    raise Mismatch(f"GET {key}: {response.length} bytes, not the {len(body)} written")
                return response.length

            return job

        async with b.measure("small-get", "small", f"GET {label} c={c}", Kind.OPS, c) as r:
            await b.run_jobs(r, conns, (get(k) for k in list(stored)), s.small_seconds)

        def delete(key: str) -> Job:
            async def job(conn: Connection) -> int:
                await b.s3.delete_object(conn, b.bucket, key)
                b.written.discard(key)
                return 0

            return job

        async with b.measure("small-delete", "small", f"DELETE {label} c={c}", Kind.OPS, c) as r:
            await b.run_jobs(r, conns, (delete(k) for k in list(stored)), s.small_seconds)

    async def multipart(self) -> None:
        s, b = self.s, self.b
        key, c = "bench/multipart", s.mpu_concurrency
        count = -(-s.mpu_size // s.mpu_part_size)
        sizes = [min(s.mpu_part_size, s.mpu_size - i * s.mpu_part_size) for i in range(count)]
        parts = [payload(size, s.seed + 2, f"part-{n}") for n, size in enumerate(sizes, start=1)]
        etags: dict[int, str] = {}
        conns = await b.connections(c)
        label = f"multipart {_size(s.mpu_size)} in {_size(s.mpu_part_size)} parts x{c}"

        def upload(number: int, upload_id: str) -> Job:
            body = parts[number - 1].segments()

            async def job(conn: Connection) -> int:
                etags[number] = await b.s3.upload_part(conn, b.bucket, key, upload_id, number, body)
                return sizes[number - 1]

            return job

        async with b.measure("multipart", "multipart", label, Kind.THROUGHPUT, c) as r:
            upload_id = await b.s3.create_multipart_upload(conns[0], b.bucket, key)
            jobs = (upload(n, upload_id) for n in range(1, count + 1))
            await b.run_jobs(r, conns, jobs, s.mpu_seconds)
            if len(etags) == count:
                await b.s3.complete_multipart_upload(
                    conns[0], b.bucket, key, upload_id, [etags[n] for n in sorted(etags)]
                )
                b.written.add(key)
            else:
                r.fail(Mismatch(f"{count - len(etags)} of {count} parts not uploaded"))
                await b.s3.abort_multipart_upload(conns[0], b.bucket, key, upload_id)

    async def ranged(self) -> None:
        s, b = self.s, self.b
        if self.large_objects:
            key, p = self.large_objects[0]
        else:  # without the large workload, one object of its size is written first (untimed)
            key, p = "bench/ranged", payload(s.large_size, s.seed, "ranged")
            (conn,) = await b.connections(1)
            await b.s3.put_object(conn, b.bucket, key, p.segments())
            b.written.add(key)
        rng = random.Random(s.seed)
        starts = [rng.randrange(0, p.size - s.range_size + 1) for _ in range(s.range_count)]

        def get(start: int) -> Job:
            end = start + s.range_size

            async def job(conn: Connection) -> int:
                response = await b.s3.get_object(conn, b.bucket, key, Consume.KEEP, (start, end - 1))
                if response.status != 206 or response.body != p.slice(start, end):
                    raise Mismatch(f"GET {key} bytes {start}-{end - 1}: HTTP {response.status}, wrong bytes")
                return response.length

            return job

        c = s.range_concurrency
        conns = await b.connections(c)
        label = f"GET {_size(s.range_size)} ranges c={c}"
        async with b.measure("ranged-get", "ranged", label, Kind.OPS, c) as r:
            await b.run_jobs(r, conns, (get(start) for start in starts), s.range_seconds)

    async def listing(self) -> None:
        s, b = self.s, self.b
        body = random_bytes(s.list_object_size, s.seed + 3)
        c = s.list_concurrency
        conns = await b.connections(c)
        created: list[str] = []
        label = f"PUT {_size(s.list_object_size)} c={c} (keys to list)"
        async with b.measure("list-put", "list", label, Kind.OPS, c) as r:
            jobs = (self._put(f"bench/list/{i:06d}", [body], created) for i in range(self.list_limit))
            await b.run_jobs(r, conns, jobs, s.list_create_seconds)
        self.list_created = len(created)

        label = f"ListObjectsV2 {len(created)} keys, {s.list_page_size}/page"
        async with b.measure("list", "list", label, Kind.KEYS, 1) as listed_phase:

            async def full_listing(conn: Connection) -> int:
                keys, token = await b.s3.list_page(conn, b.bucket, "bench/list/", None, s.list_page_size)
                pages = [keys]
                while token is not None:
                    keys, token = await b.s3.list_page(conn, b.bucket, "bench/list/", token, s.list_page_size)
                    pages.append(keys)
                listed = [k for page in pages for k in page]
                if len(listed) != len(created) or set(listed) != set(created):
                    raise Mismatch(f"listing returned {len(listed)} keys, {len(created)} were written")
                listed_phase.items += len(listed)
                return 0

            rounds = (full_listing for _ in range(s.list_rounds))
            await b.run_jobs(listed_phase, conns[:1], rounds, s.list_seconds)
        await b.delete_keys(created)
