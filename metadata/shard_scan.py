"""Listing across object shards: per-shard keyset scans merged in S3 byte order.

Each shard answers `scan()`: rows of one bucket with `key > cursor` (or, resuming inside a
key, that key's rows after a sub-position: a version's `rev` or an upload id), in
(key, sub) order, with the common-prefix roll-up done in the shard: the first key under a
rolled-up prefix P yields the entry P and the scan re-seeks to `key > P + 0xFF`, so no key
under P is read (0xFF never occurs in UTF-8, so P + 0xFF sorts after every key starting with
P). A prefix <= the caller's marker is skipped, never emitted, which is what makes a
continuation after a common prefix correct.

`merge()` keeps one buffered stream per shard, refills empty streams concurrently in chunks
of about (wanted / shards), and repeatedly takes the smallest head; the same common prefix
coming from several shards is emitted once. A page reads O(page size) rows per shard
whatever the number of keys before it: there are no offsets anywhere.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cairn.metadata.models import ObjectSummary
from cairn.metadata.multipart import upload_from_row
from cairn.metadata.objects import public_version_id
from cairn.metadata.shard import ShardIO

_SQL = {
    "live": (
        "SELECT key, rev, is_null, 0, last_modified_ms, size, etag, owner_id, storage_class, "
        "checksum_algorithms, checksum_type FROM live",
        None,
        "",
    ),
    "versions": (
        "SELECT key, rev, is_null, is_delete_marker, last_modified_ms, size, etag, owner_id, storage_class, "
        "checksum_algorithms, checksum_type FROM versions",
        "rev",
        "",
    ),
    "uploads": (
        "SELECT key, upload_id, initiated_ms, state, attrs, checksum_algorithm, checksum_type, result FROM uploads",
        "upload_id",
        " AND state = 'active'",
    ),
}


@dataclass(frozen=True, slots=True)
class Entry:
    key: bytes
    sub: bytes  # b"" for ListObjects rows and common prefixes
    is_prefix: bool
    item: Any  # ObjectSummary, MultipartUpload, or None for a common prefix


@dataclass(frozen=True, slots=True)
class Query:
    kind: str
    bucket: str
    bucket_id: str
    prefix: bytes
    delimiter: bytes
    marker: bytes  # entries (and common prefixes) must sort after this
    fetch_owner: bool = True


Position = tuple[bytes, bytes | None]  # (key, sub): after `sub` within `key`, or after `key`


def _item(q: Query, row: tuple[Any, ...], is_latest: bool) -> Any:
    if q.kind == "uploads":
        return upload_from_row(q.bucket, row)
    return ObjectSummary(
        key=row[0].decode(),
        version_id=public_version_id(row[1], row[2]),
        is_latest=is_latest,
        is_delete_marker=bool(row[3]),
        last_modified_ms=row[4],
        etag=row[6],
        size=row[5],
        storage_class=row[8],
        owner_id=row[7] if q.fetch_owner else "",
        checksum_algorithms=tuple(a for a in row[9].split(",") if a),
        checksum_type=row[10],
    )


def scan(conn: sqlite3.Connection, q: Query, pos: Position, limit: int) -> tuple[list[Entry], bool, Position]:
    """Up to `limit` entries after `pos`; returns (entries, exhausted, resume position)."""
    select, sub_col, extra = _SQL[q.kind]
    out: list[Entry] = []
    key_lo, sub_lo = pos
    upper = q.prefix + b"\xff" if q.prefix else None
    while len(out) < limit:
        want = limit - len(out)
        mid = sub_lo is not None and sub_col is not None
        if mid:
            sql = f"{select} WHERE bucket_id = ? AND key = ? AND {sub_col} > ?{extra} ORDER BY {sub_col} LIMIT ?"
            sub_arg = sub_lo.decode() if q.kind == "uploads" else sub_lo  # type: ignore[union-attr]
            rows = conn.execute(sql, (q.bucket_id, key_lo, sub_arg, want))
        else:
            # One lower bound, so SQLite seeks straight to it (with two it may range-scan from
            # the weaker one): everything >= prefix when the prefix is past the cursor.
            lower, low = (">=", q.prefix) if q.prefix > key_lo else (">", key_lo)
            order = f"key, {sub_col}" if sub_col else "key"
            bound = " AND key < ?" if upper is not None else ""
            sql = f"{select} WHERE bucket_id = ? AND key {lower} ?{bound}{extra} ORDER BY {order} LIMIT ?"
            args: tuple[Any, ...] = (q.bucket_id, low) + ((upper,) if upper is not None else ()) + (want,)
            rows = conn.execute(sql, args)
        seen, jumped, prev_key = 0, False, None
        for row in rows:
            seen += 1
            key = row[0]
            if q.delimiter:
                i = key.find(q.delimiter, len(q.prefix))
                if i >= 0:
                    common = key[: i + len(q.delimiter)]
                    if common > q.marker:
                        out.append(Entry(common, b"", True, None))
                    key_lo, sub_lo, jumped = common + b"\xff", None, True
                    break
            sub = b"" if sub_col is None else (row[1] if isinstance(row[1], bytes) else row[1].encode())
            out.append(Entry(key, sub, False, _item(q, row, not mid and key != prev_key)))
            prev_key = key
            key_lo, sub_lo = key, (sub if sub_col is not None else None)
            if len(out) >= limit:
                break
        if jumped:
            continue
        if seen < want:
            if mid:
                sub_lo = None  # the rest of this key is done; continue with the next keys
                continue
            return out, True, (key_lo, sub_lo)
    return out, False, (key_lo, sub_lo)


class _Stream:
    def __init__(self, shard: ShardIO, q: Query, pos: Position) -> None:
        self.shard, self.q, self.pos = shard, q, pos
        self.buf: deque[Entry] = deque()
        self.exhausted = False

    async def refill(self, n: int) -> None:
        entries, self.exhausted, self.pos = await self.shard.read(scan, self.q, self.pos, n)
        self.buf.extend(entries)


async def merge(shards: Sequence[ShardIO], q: Query, start: Position, want: int) -> list[Entry]:
    """The first `want` entries after `start` across all shards, in (key, sub) order."""
    if want <= 0:
        return []
    streams = [_Stream(s, q, start) for s in shards]
    chunk = max(8, (want + want // 4) // len(streams) + 2)
    result: list[Entry] = []
    while len(result) < want:
        empty = [s for s in streams if not s.buf and not s.exhausted]
        if empty:
            await asyncio.gather(*(s.refill(chunk) for s in empty))
        ready = [s for s in streams if s.buf]
        if not ready:
            break
        best = min(ready, key=lambda s: (s.buf[0].key, s.buf[0].sub))
        entry = best.buf.popleft()
        if entry.is_prefix and result and result[-1].is_prefix and result[-1].key == entry.key:
            continue
        result.append(entry)
    return result
