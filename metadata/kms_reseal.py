"""Master-key rotation in an object shard: finding SSE-S3 data keys sealed under a master key and
writing them back re-sealed (command ResealBlobKeys), without touching object data.

SSE-S3 data keys live in the blobs of version rows (`versions.body`) and of the parts of
multipart uploads in progress (`parts.blobs`; the upload's attrs say it is SSE-S3). `scan` walks
versions, then parts, in key order, one page at a time from a cursor, so a rotation can stop and
resume anywhere. A re-seal is applied only if the blob still holds the sealed key the scan read,
so one racing a rewrite of the row changes nothing. SSE-KMS and SSE-C data keys are sealed under
KMS keys and customer keys, not master keys, and are left alone (KMS keys' own material is
re-sealed in the catalog, kms.py).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from cairn.blobs import BlobRef
from cairn.metadata import canonical_json
from cairn.metadata import commands as c
from cairn.metadata.models import ObjectAttrs
from cairn.metadata.objects import VersionBody

SSE_S3 = "AES256"


@dataclass(frozen=True, slots=True)
class Sealed:
    """A stored SSE-S3 data key a scan found, and where it is (as in commands.KeyReseal)."""

    bucket_id: str
    key: bytes
    rev: bytes
    upload_id: str
    part_number: int
    blob_id: bytes
    sealed: bytes


def _cursor(text: str) -> dict[str, Any]:
    return json.loads(text) if text else {"t": "v", "b": "", "k": "", "r": ""}


def scan(conn: sqlite3.Connection, cursor: str, limit: int) -> tuple[list[Sealed], str, bool]:
    """SSE-S3 data keys in up to `limit` rows after `cursor` ("" = the start): (found, the next
    cursor, whether the shard is done)."""
    at = _cursor(cursor)
    found: list[Sealed] = []
    if at["t"] == "v":
        rows = conn.execute(
            "SELECT bucket_id, key, rev, body FROM versions WHERE (bucket_id, key, rev) > (?, ?, ?) "
            "ORDER BY bucket_id, key, rev LIMIT ?",
            (at["b"], bytes.fromhex(at["k"]), bytes.fromhex(at["r"]), limit),
        ).fetchall()
        for bucket_id, key, rev, body in rows:
            attrs = canonical_json.loads(VersionBody, body).attrs
            found += _sealed(attrs.encryption.algorithm, attrs.blobs, bucket_id, bytes(key), bytes(rev), "")
        if len(rows) == limit:
            last = rows[-1]
            return (
                found,
                json.dumps({"t": "v", "b": last[0], "k": bytes(last[1]).hex(), "r": bytes(last[2]).hex()}),
                False,
            )
        at = {"t": "p", "u": "", "n": 0}
    rows = conn.execute(
        "SELECT p.upload_id, p.part_number, p.blobs, u.bucket_id, u.key, u.attrs FROM parts p "
        "JOIN uploads u ON u.upload_id = p.upload_id WHERE (p.upload_id, p.part_number) > (?, ?) "
        "ORDER BY p.upload_id, p.part_number LIMIT ?",
        (at["u"], at["n"], limit),
    ).fetchall()
    for upload_id, _, blobs, bucket_id, key, attrs in rows:
        algorithm = canonical_json.loads(ObjectAttrs, attrs).encryption.algorithm
        refs = canonical_json.loads(tuple[BlobRef, ...], blobs)  # type: ignore[arg-type]
        found += _sealed(algorithm, refs, bucket_id, bytes(key), b"", upload_id)
    if len(rows) == limit:
        return found, json.dumps({"t": "p", "u": rows[-1][0], "n": rows[-1][1]}), False
    return found, "", True


def _sealed(
    algorithm: str, blobs: tuple[BlobRef, ...], bucket_id: str, key: bytes, rev: bytes, upload_id: str
) -> list[Sealed]:
    if algorithm != SSE_S3:
        return []
    return [
        Sealed(bucket_id, key, rev, upload_id, b.part_number, b.blob_id, b.sealed_key)
        for b in blobs
        if b.sealed_key
    ]


def _resealed(blobs: tuple[BlobRef, ...], items: list[c.KeyReseal]) -> tuple[tuple[BlobRef, ...], int]:
    new = {(i.blob_id, i.expected): i.sealed_key for i in items}
    out, changed = [], 0
    for b in blobs:
        sealed = new.get((b.blob_id, b.sealed_key))
        if sealed is not None:
            b, changed = dataclasses.replace(b, sealed_key=sealed), changed + 1
        out.append(b)
    return tuple(out), changed


def apply(conn: sqlite3.Connection, cmd: c.ResealBlobKeys) -> int:
    """Write the re-sealed keys whose blobs still hold the expected ones; returns how many."""
    rows: dict[tuple[str, bytes, bytes, str], list[c.KeyReseal]] = {}
    for item in cmd.items:
        rows.setdefault((item.bucket_id, item.key, item.rev, item.upload_id), []).append(item)
    changed = 0
    for (bucket_id, key, rev, upload_id), items in rows.items():
        if upload_id:
            for item in items:
                row = conn.execute(
                    "SELECT blobs FROM parts WHERE upload_id = ? AND part_number = ?",
                    (upload_id, item.part_number),
                ).fetchone()
                if row is None:
                    continue
                blobs, n = _resealed(canonical_json.loads(tuple[BlobRef, ...], row[0]), [item])  # type: ignore[arg-type]
                if n:
                    conn.execute(
                        "UPDATE parts SET blobs = ? WHERE upload_id = ? AND part_number = ?",
                        (canonical_json.dumps(blobs), upload_id, item.part_number),
                    )
                    changed += n
            continue
        row = conn.execute(
            "SELECT body FROM versions WHERE bucket_id = ? AND key = ? AND rev = ?", (bucket_id, key, rev)
        ).fetchone()
        if row is None:
            continue
        body = canonical_json.loads(VersionBody, row[0])
        blobs, n = _resealed(body.attrs.blobs, items)
        if n:
            body = dataclasses.replace(body, attrs=dataclasses.replace(body.attrs, blobs=blobs))
            conn.execute(
                "UPDATE versions SET body = ? WHERE bucket_id = ? AND key = ? AND rev = ?",
                (canonical_json.dumps(body), bucket_id, key, rev),
            )
            changed += n
    return changed
