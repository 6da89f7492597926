"""Multipart uploads in an object shard: create, register parts, complete, abort.

An upload lives in the shard of its (bucket id, key), next to the key's versions, so
completion - validating the part list, committing the version, sending unused parts to GC,
dropping the part rows - is one transaction. CompleteMultipartUpload rules (AWS):
the list is non-empty (MalformedXML), part numbers are 1..10000 (InvalidArgument) and
strictly ascending (InvalidPartOrder), every listed part was uploaded with that ETag (and
checksum, when given) (InvalidPart), every part but the last is >= 5 MiB (EntityTooSmall), and
an object checksum the client states is the one the parts make (BadDigest).
The ETag is hex(MD5(concatenated binary part MD5s)) + "-N". A completed upload keeps a
record (state `completed`, the part list and the resulting version) so completing it again
with the same list returns the same version, while any other call sees NoSuchUpload.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass, replace
from typing import Any

from cairn.blobs import BlobRef
from cairn.metadata import canonical_json, checksum_math
from cairn.metadata import commands as c
from cairn.metadata.errors import (
    BadDigest,
    EntityTooSmall,
    InvalidArgument,
    InvalidPart,
    InvalidPartOrder,
    MalformedXML,
    NoSuchUpload,
)
from cairn.metadata.models import (
    MAX_PART_NUMBER,
    MIN_PART_NUMBER,
    MIN_PART_SIZE,
    NULL_VERSION_ID,
    Checksum,
    ChecksumType,
    CompletedPart,
    GcReason,
    ListPartsPage,
    MultipartUpload,
    ObjectAttrs,
    ObjectVersion,
    Part,
)
from cairn.metadata.objects import (
    VERSION_COLS,
    VersionBody,
    claim_blobs,
    commit_version,
    current_row,
    enqueue_gc,
    find_row,
    version_from_row,
)

UPLOAD_COLS = "key, upload_id, initiated_ms, state, attrs, checksum_algorithm, checksum_type, result"
PART_COLS = "part_number, size, etag, last_modified_ms, checksums, blobs"


@dataclass(frozen=True, slots=True)
class CompletedRecord:
    """What a completed upload keeps: the part list, the resulting version and its row's `rev`.

    A retry is answered from the row `rev` (not the public id: `null` names whatever null
    version is current now), or from `version` as it was once that row is gone.
    """

    parts: tuple[CompletedPart, ...]
    version: ObjectVersion
    rev: bytes = b""  # empty in records written before the rev was kept


def upload_from_row(bucket: str, row: tuple[Any, ...]) -> MultipartUpload:
    return MultipartUpload(
        bucket=bucket,
        key=row[0].decode(),
        upload_id=row[1],
        initiated_ms=row[2],
        attrs=canonical_json.loads(ObjectAttrs, row[4]),
        checksum_algorithm=row[5],
        checksum_type=ChecksumType(row[6]),
    )


def part_from_row(row: tuple[Any, ...]) -> Part:
    return Part(
        part_number=row[0],
        size=row[1],
        etag=row[2],
        last_modified_ms=row[3],
        checksums=canonical_json.loads(tuple[Checksum, ...], row[4]),  # type: ignore[arg-type]
        blobs=canonical_json.loads(tuple[BlobRef, ...], row[5]),  # type: ignore[arg-type]
    )


def _upload_row(conn: sqlite3.Connection, bucket_id: str, key: bytes, upload_id: str) -> tuple[Any, ...]:
    row = conn.execute(
        f"SELECT {UPLOAD_COLS} FROM uploads WHERE bucket_id = ? AND key = ? AND upload_id = ?",
        (bucket_id, key, upload_id),
    ).fetchone()
    if row is None:
        raise NoSuchUpload("The specified upload does not exist.")
    return row  # type: ignore[no-any-return]


def _active_row(conn: sqlite3.Connection, bucket_id: str, key: bytes, upload_id: str) -> tuple[Any, ...]:
    row = _upload_row(conn, bucket_id, key, upload_id)
    if row[3] != "active":
        raise NoSuchUpload("The specified upload does not exist.")
    return row


def _parts(conn: sqlite3.Connection, upload_id: str) -> dict[int, Part]:
    rows = conn.execute(
        f"SELECT {PART_COLS} FROM parts WHERE upload_id = ? ORDER BY part_number", (upload_id,)
    )
    return {r[0]: part_from_row(r) for r in rows}


# --- reads -------------------------------------------------------------------------------
def read_upload(
    conn: sqlite3.Connection, bucket: str, bucket_id: str, key: str, upload_id: str
) -> MultipartUpload:
    return upload_from_row(bucket, _active_row(conn, bucket_id, key.encode(), upload_id))


def read_parts(
    conn: sqlite3.Connection,
    bucket: str,
    bucket_id: str,
    key: str,
    upload_id: str,
    max_parts: int,
    marker: int,
) -> ListPartsPage:
    upload = upload_from_row(bucket, _active_row(conn, bucket_id, key.encode(), upload_id))
    rows = conn.execute(
        f"SELECT {PART_COLS} FROM parts WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?",
        (upload_id, marker, max_parts + 1),
    ).fetchall()
    parts = tuple(part_from_row(r) for r in rows[:max_parts])
    truncated = len(rows) > max_parts
    next_marker = parts[-1].part_number if parts else 0
    return ListPartsPage(upload, parts, truncated, next_marker)


# --- mutations ---------------------------------------------------------------------------
def register(conn: sqlite3.Connection, cmd: c.RegisterPart) -> Part:
    if not MIN_PART_NUMBER <= cmd.part_number <= MAX_PART_NUMBER:
        raise InvalidArgument("Part number must be an integer between 1 and 10000, inclusive")
    _active_row(conn, cmd.bucket_id, cmd.key.encode(), cmd.upload_id)
    old = conn.execute(
        f"SELECT {PART_COLS} FROM parts WHERE upload_id = ? AND part_number = ?",
        (cmd.upload_id, cmd.part_number),
    ).fetchone()
    if old is not None:
        previous = part_from_row(old)
        if previous.blobs and cmd.blobs and previous.blobs[0].blob_id == cmd.blobs[0].blob_id:
            return previous  # a retried registration
        new_ids = {b.blob_id for b in cmd.blobs}
        enqueue_gc(
            conn,
            tuple(b for b in previous.blobs if b.blob_id not in new_ids),
            GcReason.PART_REPLACED,
            cmd.now_ms,
        )
    claim_blobs(
        conn,
        cmd.blobs,
        cmd.bucket_id,
        cmd.key.encode(),
        cmd.now_ms,
        upload_id=cmd.upload_id,
        part_number=cmd.part_number,
    )
    conn.execute(
        f"INSERT OR REPLACE INTO parts (upload_id, {PART_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            cmd.upload_id,
            cmd.part_number,
            cmd.size,
            cmd.etag.strip('"'),
            cmd.now_ms,
            canonical_json.dumps(cmd.checksums),
            canonical_json.dumps(cmd.blobs),
        ),
    )
    return Part(cmd.part_number, cmd.size, cmd.etag.strip('"'), cmd.now_ms, cmd.checksums, cmd.blobs)


def multipart_etag(part_etags: list[str]) -> str:
    """hex(MD5(binary MD5 of each part, concatenated)) + "-N"."""
    try:
        digests = b"".join(bytes.fromhex(e) for e in part_etags)
    except ValueError as exc:
        raise InvalidPart("a part ETag is not an MD5 hex digest") from exc
    return f"{hashlib.md5(digests).hexdigest()}-{len(part_etags)}"


def _validate(listed: tuple[CompletedPart, ...], registered: dict[int, Part]) -> list[Part]:
    if not listed:
        raise MalformedXML(
            "The XML you provided was not well-formed or did not validate against our published schema"
        )
    for p in listed:
        if not MIN_PART_NUMBER <= p.part_number <= MAX_PART_NUMBER:
            raise InvalidArgument("Part number must be an integer between 1 and 10000, inclusive")
    for a, b in zip(listed, listed[1:], strict=False):
        if b.part_number <= a.part_number:
            raise InvalidPartOrder("The list of parts was not in ascending order.")
    chosen = []
    for p in listed:
        part = registered.get(p.part_number)
        if part is None or p.etag.strip().strip('"') != part.etag:
            raise InvalidPart(f"part {p.part_number} was not found or its ETag does not match")
        have = {ch.algorithm: ch.value for ch in part.checksums}
        for ch in p.checksums:
            if have.get(ch.algorithm) != ch.value:
                raise InvalidPart(f"part {p.part_number}: the {ch.algorithm} checksum does not match")
        chosen.append(part)
    for part in chosen[:-1]:
        if part.size < MIN_PART_SIZE:
            raise EntityTooSmall("Your proposed upload is smaller than the minimum allowed object size.")
    return chosen


def _object_checksums(
    upload: MultipartUpload, parts: list[Part], given: tuple[Checksum, ...]
) -> tuple[Checksum, ...]:
    algorithm = upload.checksum_algorithm
    if not algorithm:
        return tuple(given)
    stated = next((ch for ch in given if ch.algorithm == algorithm), None)
    if upload.checksum_type is ChecksumType.FULL_OBJECT:
        combined = checksum_math.combine_full_object(algorithm, parts)
        if stated is None:
            return () if combined is None else (Checksum(algorithm, combined, ChecksumType.FULL_OBJECT),)
        if combined is not None and stated.value != combined:
            raise BadDigest(f"The {algorithm} you specified did not match the calculated checksum.")
        return (replace(stated, type=ChecksumType.FULL_OBJECT),)
    values = []
    for part in parts:
        value = next((ch.value for ch in part.checksums if ch.algorithm == algorithm), None)
        if value is None:
            raise InvalidPart(f"part {part.part_number} has no {algorithm} checksum")
        values.append(value)
    composite = checksum_math.digest(algorithm, b"".join(values))
    if stated is not None and stated.value != composite:
        raise BadDigest(f"The {algorithm} you specified did not match the calculated checksum.")
    return (Checksum(algorithm, composite, ChecksumType.COMPOSITE),)


def _recorded_version(
    conn: sqlite3.Connection, bucket: str, bucket_id: str, key: bytes, record: CompletedRecord
) -> ObjectVersion:
    """The version a completed upload produced: its row if it still exists, else as recorded."""
    if record.rev:
        row = conn.execute(
            f"SELECT {VERSION_COLS} FROM versions WHERE bucket_id = ? AND key = ? AND rev = ?",
            (bucket_id, key, record.rev),
        ).fetchone()
    elif record.version.version_id != NULL_VERSION_ID:
        row = find_row(conn, bucket_id, key, record.version.version_id)
    else:  # an old record of a null version: which row it was is not known
        row = None
    if row is None:
        return record.version
    current = current_row(conn, bucket_id, key)
    return version_from_row(bucket, row, current is not None and current[1] == row[1])


def complete(conn: sqlite3.Connection, cmd: c.CompleteUpload) -> ObjectVersion:
    kb = cmd.key.encode()
    row = _upload_row(conn, cmd.bucket_id, kb, cmd.upload_id)
    listed = tuple(replace(p, etag=p.etag.strip().strip('"')) for p in cmd.parts)
    if row[3] == "completed":
        record = canonical_json.loads(CompletedRecord, row[7])
        if record.parts != listed:
            raise NoSuchUpload("The specified upload does not exist.")
        return _recorded_version(conn, cmd.bucket, cmd.bucket_id, kb, record)
    upload = upload_from_row(cmd.bucket, row)
    registered = _parts(conn, cmd.upload_id)
    chosen = _validate(listed, registered)
    blobs = tuple(replace(b, part_number=p.part_number) for p in chosen for b in p.blobs)
    attrs = replace(
        upload.attrs,
        size=sum(p.size for p in chosen),
        etag=multipart_etag([p.etag for p in chosen]),
        checksums=_object_checksums(upload, chosen, cmd.checksums),
        blobs=blobs,
    )
    body = VersionBody(attrs, parts_count=len(chosen), part_sizes=tuple(p.size for p in chosen))
    version = commit_version(
        conn,
        cmd.bucket,
        cmd.bucket_id,
        cmd.key,
        cmd.version,
        cmd.is_null,
        cmd.now_ms,
        body,
        cmd.if_match,
        cmd.if_none_match,
        claim=False,  # each part's blobs were claimed when the part was registered
    )
    newest = current_row(conn, cmd.bucket_id, kb)  # the version just committed
    rev = b"" if newest is None else bytes(newest[1])
    used = {p.part_number for p in chosen}
    for number, part in registered.items():
        if number not in used:
            enqueue_gc(conn, part.blobs, GcReason.PART_UNUSED, cmd.now_ms)
    conn.execute("DELETE FROM parts WHERE upload_id = ?", (cmd.upload_id,))
    conn.execute(
        "UPDATE uploads SET state = 'completed', result = ? WHERE bucket_id = ? AND key = ? AND upload_id = ?",
        (canonical_json.dumps(CompletedRecord(listed, version, rev)), cmd.bucket_id, kb, cmd.upload_id),
    )
    return version


def create(conn: sqlite3.Connection, cmd: c.CreateUpload) -> MultipartUpload:
    conn.execute(
        f"INSERT INTO uploads (bucket_id, {UPLOAD_COLS}) VALUES (?, ?, ?, ?, 'active', ?, ?, ?, NULL)",
        (
            cmd.bucket_id,
            cmd.key.encode(),
            cmd.upload_id,
            cmd.now_ms,
            canonical_json.dumps(cmd.attrs),
            cmd.checksum_algorithm,
            cmd.checksum_type.value,
        ),
    )
    return read_upload(conn, cmd.bucket, cmd.bucket_id, cmd.key, cmd.upload_id)


def abort(conn: sqlite3.Connection, cmd: c.AbortUpload) -> None:
    kb = cmd.key.encode()
    _active_row(conn, cmd.bucket_id, kb, cmd.upload_id)
    for part in _parts(conn, cmd.upload_id).values():
        enqueue_gc(conn, part.blobs, GcReason.UPLOAD_ABORTED, cmd.now_ms)
    conn.execute("DELETE FROM parts WHERE upload_id = ?", (cmd.upload_id,))
    conn.execute(
        "DELETE FROM uploads WHERE bucket_id = ? AND key = ? AND upload_id = ?",
        (cmd.bucket_id, kb, cmd.upload_id),
    )


def purge_bucket(conn: sqlite3.Connection, bucket_id: str, now_ms: int) -> None:
    """Drop every upload record of a deleted bucket; the parts of uploads still in progress go to
    GC as an abort's do."""
    active = conn.execute(
        "SELECT upload_id FROM uploads WHERE bucket_id = ? AND state = 'active'", (bucket_id,)
    )
    for (upload_id,) in active.fetchall():
        for part in _parts(conn, upload_id).values():
            enqueue_gc(conn, part.blobs, GcReason.UPLOAD_ABORTED, now_ms)
    conn.execute(
        "DELETE FROM parts WHERE upload_id IN (SELECT upload_id FROM uploads WHERE bucket_id = ?)",
        (bucket_id,),
    )
    conn.execute("DELETE FROM uploads WHERE bucket_id = ?", (bucket_id,))
