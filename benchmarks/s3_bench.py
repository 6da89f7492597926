"""S3 throughput benchmark for any endpoint (Cairn or another S3 server), driven with boto3.

Three workloads, each bounded in count and in time:
  large      PUT then GET of `--large-count` objects of `--large-size` (64 MiB), `--large-concurrency` at once
  small      PUT then GET of 4 KiB objects at concurrency 32, for at most `--small-seconds` or
             `--small-count` objects per phase, whichever comes first
  multipart  one `--mpu-size` (256 MiB) upload in `--mpu-part-size` (16 MiB) parts, `--mpu-concurrency`
             parts at once
It prints a table and then one JSON document (also written to `--json-out` if given). Every GET is
checked for its length; failed requests are counted and reported, never retried. Objects it wrote
are deleted at the end, and the bucket too if the benchmark created it.

Connection settings come from flags, else the environment (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, AWS_CA_BUNDLE), else from a local `cairn up`
cluster.json given with `--cluster-json`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from s3_endpoint import add_endpoint_args, resolve_endpoint_args

MiB = 1024 * 1024


@dataclass
class Result:
    workload: str
    operation: str
    objects: int
    errors: int
    bytes: int
    seconds: float

    @property
    def mb_per_s(self) -> float:
        return self.bytes / MiB / self.seconds if self.seconds else 0.0

    @property
    def ops_per_s(self) -> float:
        return self.objects / self.seconds if self.seconds else 0.0

    def doc(self) -> dict[str, Any]:
        return {**asdict(self), "MiB_per_s": round(self.mb_per_s, 2), "ops_per_s": round(self.ops_per_s, 1)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_endpoint_args(p)
    p.add_argument("--bucket", help="existing bucket to use (default: create a temporary one)")
    p.add_argument("--workloads", default="large,small,multipart", help="comma-separated subset to run")
    p.add_argument("--large-size", type=int, default=64 * MiB)
    p.add_argument("--large-count", type=int, default=4)
    p.add_argument("--large-concurrency", type=int, default=2)
    p.add_argument("--small-size", type=int, default=4096)
    p.add_argument("--small-count", type=int, default=5000, help="at most this many objects per phase")
    p.add_argument("--small-seconds", type=float, default=10.0, help="at most this long per phase")
    p.add_argument("--small-concurrency", type=int, default=32)
    p.add_argument("--mpu-size", type=int, default=256 * MiB)
    p.add_argument("--mpu-part-size", type=int, default=16 * MiB)
    p.add_argument("--mpu-concurrency", type=int, default=8)
    p.add_argument(
        "--no-checksum", action="store_true", help="do not send the default CRC32 request checksums"
    )
    p.add_argument("--json-out", type=Path, help="also write the JSON results here")
    args = p.parse_args(argv)
    resolve_endpoint_args(p, args, endpoint_required=False)
    return args


def make_client(args: argparse.Namespace, pool: int) -> Any:
    config = Config(
        retries={"max_attempts": 1, "mode": "standard"},
        max_pool_connections=pool,
        connect_timeout=10,
        read_timeout=120,
        request_checksum_calculation="when_required" if args.no_checksum else "when_supported",
    )
    return boto3.client(
        "s3",
        endpoint_url=args.endpoint,
        aws_access_key_id=args.access_key,
        aws_secret_access_key=args.secret_key,
        region_name=args.region,
        verify=args.ca_bundle if args.ca_bundle else None,
        config=config,
    )


def run_pool(
    concurrency: int, items: Iterable[Any], work: Callable[[Any], int], deadline: float | None = None
) -> tuple[int, int, int, float]:
    """Run `work(item)` (returns bytes moved) over `items` with `concurrency` threads until they are
    done or `deadline` (monotonic) passes. Returns (done, errors, bytes, seconds)."""
    lock = threading.Lock()
    it = iter(items)
    totals = {"done": 0, "errors": 0, "bytes": 0}
    first_error: list[str] = []

    def worker() -> None:
        while deadline is None or time.monotonic() < deadline:
            with lock:
                try:
                    item = next(it)
                except StopIteration:
                    return
            try:
                moved = work(item)
            except (ClientError, BotoCoreError, OSError, ValueError) as err:
                with lock:
                    totals["errors"] += 1
                    if not first_error:
                        first_error.append(f"{type(err).__name__}: {err}")
                continue
            with lock:
                totals["done"] += 1
                totals["bytes"] += moved

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    seconds = time.monotonic() - start
    if first_error:
        print(f"  first error: {first_error[0]}", file=sys.stderr)
    return totals["done"], totals["errors"], totals["bytes"], seconds


def read_all(s3: Any, bucket: str, key: str, expected: int) -> int:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    got = 0
    for chunk in body.iter_chunks(chunk_size=MiB):
        got += len(chunk)
    if got != expected:
        raise ValueError(f"GET {key}: {got} bytes, expected {expected}")
    return got


def bench_large(args: argparse.Namespace, s3: Any, bucket: str, written: list[str]) -> list[Result]:
    data = os.urandom(args.large_size)
    keys = [f"bench/large/{i:04d}" for i in range(args.large_count)]

    def put(key: str) -> int:
        s3.put_object(Bucket=bucket, Key=key, Body=data)
        written.append(key)
        return len(data)

    done, errors, moved, seconds = run_pool(args.large_concurrency, keys, put)
    results = [Result("large", f"PUT {args.large_size // MiB} MiB", done, errors, moved, seconds)]
    ok = [k for k in keys if k in written]
    done, errors, moved, seconds = run_pool(
        args.large_concurrency, ok, lambda k: read_all(s3, bucket, k, len(data))
    )
    results.append(Result("large", f"GET {args.large_size // MiB} MiB", done, errors, moved, seconds))
    return results


def bench_small(args: argparse.Namespace, s3: Any, bucket: str, written: list[str]) -> list[Result]:
    data = os.urandom(args.small_size)
    keys = (f"bench/small/{i:06d}" for i in range(args.small_count))

    def put(key: str) -> int:
        s3.put_object(Bucket=bucket, Key=key, Body=data)
        written.append(key)
        return len(data)

    deadline = time.monotonic() + args.small_seconds
    done, errors, moved, seconds = run_pool(args.small_concurrency, keys, put, deadline)
    label = f"{args.small_size // 1024} KiB x{args.small_concurrency}"
    results = [Result("small", f"PUT {label}", done, errors, moved, seconds)]
    ok = [k for k in written if k.startswith("bench/small/")]
    deadline = time.monotonic() + args.small_seconds
    done, errors, moved, seconds = run_pool(
        args.small_concurrency, ok, lambda k: read_all(s3, bucket, k, len(data)), deadline
    )
    results.append(Result("small", f"GET {label}", done, errors, moved, seconds))
    return results


def bench_multipart(args: argparse.Namespace, s3: Any, bucket: str, written: list[str]) -> list[Result]:
    part = os.urandom(args.mpu_part_size)
    count = -(-args.mpu_size // args.mpu_part_size)
    sizes = [min(args.mpu_part_size, args.mpu_size - i * args.mpu_part_size) for i in range(count)]
    key = "bench/multipart"
    start = time.monotonic()
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etags: dict[int, str] = {}

    def upload(number: int) -> int:
        body = part[: sizes[number - 1]]
        etags[number] = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )["ETag"]
        return len(body)

    done, errors, moved, _ = run_pool(args.mpu_concurrency, range(1, count + 1), upload)
    if errors:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        return [Result("multipart", "upload", done, errors, moved, time.monotonic() - start)]
    parts = [{"PartNumber": n, "ETag": etags[n]} for n in sorted(etags)]
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
    written.append(key)
    seconds = time.monotonic() - start
    label = f"{args.mpu_size // MiB} MiB in {args.mpu_part_size // MiB} MiB parts x{args.mpu_concurrency}"
    results = [Result("multipart", f"upload {label}", 1, 0, moved, seconds)]
    done, errors, moved, seconds = run_pool(1, [key], lambda k: read_all(s3, bucket, k, args.mpu_size))
    results.append(Result("multipart", f"GET {args.mpu_size // MiB} MiB", done, errors, moved, seconds))
    return results


def cleanup(s3: Any, bucket: str, written: list[str], created: bool) -> None:
    keys = sorted(set(written))
    for i in range(0, len(keys), 1000):
        s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[i : i + 1000]], "Quiet": True}
        )
    if created:
        s3.delete_bucket(Bucket=bucket)


def print_table(results: list[Result]) -> None:
    header = f"{'workload':<10} {'operation':<38} {'objects':>8} {'errors':>6} {'MiB':>9} {'seconds':>8} {'MiB/s':>9} {'ops/s':>9}"
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.workload:<10} {r.operation:<38} {r.objects:>8} {r.errors:>6} {r.bytes / MiB:>9.1f} "
            f"{r.seconds:>8.2f} {r.mb_per_s:>9.1f} {r.ops_per_s:>9.1f}"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = set(workloads) - {"large", "small", "multipart"}
    if unknown:
        print(f"unknown workloads: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    pool = max(args.large_concurrency, args.small_concurrency, args.mpu_concurrency)
    s3 = make_client(args, pool)
    bucket = args.bucket or f"bench-{uuid.uuid4().hex[:12]}"
    created = args.bucket is None
    if created:
        s3.create_bucket(Bucket=bucket)
    written: list[str] = []
    results: list[Result] = []
    runners = {"large": bench_large, "small": bench_small, "multipart": bench_multipart}
    try:
        for name in workloads:
            print(f"running {name} ...", file=sys.stderr)
            results += runners[name](args, s3, bucket, written)
    finally:
        cleanup(s3, bucket, written, created)
    print_table(results)
    doc = {
        "endpoint": args.endpoint,
        "region": args.region,
        "checksums": not args.no_checksum,
        "results": [r.doc() for r in results],
    }
    print(json.dumps(doc, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(doc, indent=2) + "\n")
    return 1 if any(r.errors for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
