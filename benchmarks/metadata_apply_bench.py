#!/usr/bin/env python3
"""One replica's apply of small PUTs: CPU per command of `MetadataMachine.apply_batch`, in process.

Every metadata replica applies every committed write; this is that cost alone, without Raft,
gRPC or the API. Commands are inline 4 KiB PUTs of new keys (as the S3 PUT 4 KiB row makes),
encoded as the leader encodes them, packed into group entries of --group members, then applied
one group per call, as a Ready's committed entries are. Prints the decode share and the whole
apply per command (process CPU time). Shards are on disk (WAL, --synchronous as the service's
default, NORMAL) in a temporary directory, or in memory with --memory.

Run: .venv/bin/python benchmarks/metadata_apply_bench.py [--shards 2] [--count 4000] [--group 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from cairn.blobs import BlobRef
from cairn.metadata import commands as c
from cairn.metadata.dedup import RequestTag
from cairn.metadata.models import Checksum, ChecksumType, ObjectAttrs
from cairn.metadata.replicated import CATALOG, MetadataMachine, decode_any, encode_entry, encode_group
from cairn.metadata.store import Store, shard_index
from cairn.metadata.versionids import IdIssuer

MAX_COUNT = 200_000


def _now_ms() -> int:
    return int(time.time() * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--group", type=int, default=32, help="commands per group entry")
    parser.add_argument("--memory", action="store_true", help="in-memory shards")
    parser.add_argument("--synchronous", default="NORMAL")
    args = parser.parse_args()
    count = min(args.count, MAX_COUNT)
    with tempfile.TemporaryDirectory(prefix="apply-bench-") as tmp:
        store = Store.open(None if args.memory else Path(tmp), args.shards, synchronous=args.synchronous)
        machine = MetadataMachine(store)
        machine.apply(1, encode_entry(CATALOG, c.CreateBucket("bench", "bid", "owner", "us-east-1", 1)))
        issuer, body = IdIssuer(_now_ms), os.urandom(4096)
        entries = []
        for n in range(count):
            key = f"key-{n:08d}"
            attrs = ObjectAttrs(
                size=len(body),
                etag="0123456789abcdef0123456789abcdef",
                content_type="application/octet-stream",
                checksums=(Checksum("CRC32", b"\x01\x02\x03\x04", ChecksumType.FULL_OBJECT),),
                blobs=(BlobRef(b"", 0, len(body), 0, 0, 0, inline=body),),
                owner_id="owner",
            )
            put = c.PutVersion("bid", "bench", key, issuer.issue(), True, attrs, _now_ms())
            tag = RequestTag(f"req-{n}/PutVersion/0", _now_ms())
            entries.append(encode_entry(shard_index("bid", key, args.shards), put, tag))
        groups = [encode_group(entries[i : i + args.group]) for i in range(0, count, args.group)]
        started = time.process_time()
        for group in groups:
            decode_any(group)  # what a follower's apply decodes first (the leader's own are cached)
        decode = (time.process_time() - started) / count
        started = time.process_time()
        for index, group in enumerate(groups, start=2):
            machine.apply_batch([(index, group)])
        apply = (time.process_time() - started) / count
        print(
            f"shards {args.shards}, {count} PUTs of 4 KiB in groups of {args.group}: "
            f"apply {apply * 1e6:.0f} us CPU per command (decoding about {decode * 1e6:.0f})"
        )
        asyncio.run(store.close())


if __name__ == "__main__":
    main()
