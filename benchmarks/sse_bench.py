"""Encryption cost: PUT and GET of 64 MiB objects plain, with SSE-S3 (`x-amz-server-side-encryption:
AES256`) and with SSE-KMS (`aws:kms`, the default key), interleaved in the same run against the
same endpoint, plus the encryption alone (cairn.sse_crypto's segmented AES-256-GCM, in this
process, no I/O) for scale.

Each round PUTs one object per mode, then GETs them (every GET is checked byte for byte); rounds
rotate which mode goes first, so a busy machine slows all alike. Prints one line per operation
with each mode's median MiB/s and its ratio to plain. `--modes` picks the modes (an endpoint
without SSE-KMS: `--modes plain,sse-s3`). The objects and the bucket are deleted at the end.

    python benchmarks/sse_bench.py --cluster-json DATA_DIR/cluster.json [--rounds 5] [--size-mib 64]
        [--modes plain,sse-s3,sse-kms]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator

import boto3
from botocore.config import Config
from s3_endpoint import add_endpoint_args, resolve_endpoint_args

from cairn import sse_crypto

MiB = 1024 * 1024
#: mode -> the put_object arguments asking for it
MODES: dict[str, dict[str, str]] = {
    "plain": {},
    "sse-s3": {"ServerSideEncryption": "AES256"},
    "sse-kms": {"ServerSideEncryption": "aws:kms"},
}


def crypto_only(data: bytes) -> tuple[float, float]:
    """Seconds to encrypt and to decrypt `data` with the stored format, in this process (1 MiB
    chunks in, as the S3 API gets them; no copies or joins of the whole object around it)."""
    key, identity = sse_crypto.new_data_key(), sse_crypto.Identity("bench", "key")
    view = memoryview(data)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(view), MiB):
            yield view[i : i + MiB]  # type: ignore[misc]

    async def sealed_pieces(pieces: list[bytes]) -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    async def run() -> tuple[float, float]:
        t0 = time.perf_counter()
        stored = [p async for p in sse_crypto.encrypt_stream(chunks(), key, identity)]
        t1 = time.perf_counter()
        size = sum(len(p) for p in stored)
        at = 0
        async for plain in sse_crypto.decrypt_segments(
            sealed_pieces(stored), key, identity, size, 0, 0, len(data)
        ):
            if not data.startswith(plain, at):
                raise SystemExit("the decrypted bytes differ")
            at += len(plain)
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1

    return asyncio.run(run())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_endpoint_args(p)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--size-mib", type=int, default=64)
    p.add_argument("--modes", default="plain,sse-s3,sse-kms", help="comma-separated: " + ",".join(MODES))
    args = p.parse_args()
    resolve_endpoint_args(p, args)
    names = args.modes.split(",")
    if "plain" not in names or not set(names) <= set(MODES):
        p.error(f"--modes takes plain and any of {', '.join(MODES)}")
    s3 = boto3.client(
        "s3",
        endpoint_url=args.endpoint,
        aws_access_key_id=args.access_key,
        aws_secret_access_key=args.secret_key,
        region_name=args.region,
        verify=args.ca_bundle or None,
        config=Config(retries={"max_attempts": 1}, s3={"payload_signing_enabled": False}),
    )
    data = os.urandom(args.size_mib * MiB)
    bucket = f"sse-bench-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    times: dict[tuple[str, str], list[float]] = {(m, o): [] for m in names for o in ("PUT", "GET")}
    try:
        for r in range(args.rounds):
            modes = names[r % len(names) :] + names[: r % len(names)]
            for mode in modes:
                t = time.perf_counter()
                s3.put_object(Bucket=bucket, Key=f"{mode}-{r}", Body=data, **MODES[mode])
                times[(mode, "PUT")].append(time.perf_counter() - t)
            for mode in modes:
                t = time.perf_counter()
                got = s3.get_object(Bucket=bucket, Key=f"{mode}-{r}")["Body"].read()
                times[(mode, "GET")].append(time.perf_counter() - t)
                if got != data:
                    raise SystemExit(f"GET {mode}-{r} returned other bytes")
    finally:
        for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
        s3.delete_bucket(Bucket=bucket)
    size = len(data) / MiB
    print(f"{args.rounds} rounds of {args.size_mib} MiB objects against {args.endpoint} (median of rounds)")
    for op in ("PUT", "GET"):
        plain = statistics.median(times[("plain", op)])
        line = f"  {op}  plain {size / plain:7.1f} MiB/s"
        for mode in names:
            if mode != "plain":
                enc = statistics.median(times[(mode, op)])
                line += f"  {mode} {size / enc:7.1f} MiB/s ({enc / plain:4.2f}x the time, {(enc - plain) * 1000:+.0f} ms)"
        print(line)
    enc_s, dec_s = crypto_only(data)
    print(
        f"  encryption alone (this process): seal {size / enc_s:7.1f} MiB/s, open {size / dec_s:7.1f} MiB/s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
