"""Object versions in an object shard: S3's put/delete rules, null versions, the GC queue.

Rules (AWS S3, "Working with objects in a versioning-enabled/-suspended bucket"):
- Enabled: PUT adds a version with a fresh id; DELETE without a version id adds a delete
  marker with a fresh id; DELETE with a version id removes that version or marker for good.
- Unversioned: PUT replaces the `null` version; DELETE removes it (no marker).
- Suspended: PUT replaces the `null` version (object or marker) and leaves the others; DELETE
  without a version id removes the `null` version and adds a `null` delete marker.
- The newest row of a key (smallest `rev`) is its current version; `live` mirrors the current
  version of every key whose current version is not a delete marker (what ListObjects reads).

Invariants kept in the same transaction as every change: a removed version's blobs go to the
GC queue and leave `blob_refs`; committing a version (or part) needs an unexpired write intent
for the same (bucket id, key) for each blob, and turns it into a durable `consumed` marker (a
blob is committed at most once; one that was consumed, queued for GC or reclaimed is refused); a new version always sorts newest (if the issuer's id is not newer than the key's
current one, the applier uses the successor of the current id, which is deterministic).
An inline blob (BlobRef.inline: a small body stored in the version row) has no intent, no
`blob_refs` entry and never enters the GC queue: its bytes go when its row goes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cairn.blobs import BlobRef, on_nodes
from cairn.metadata import canonical_json, versionids
from cairn.metadata import commands as c
from cairn.metadata.errors import (
    IntentExpired,
    InvalidArgument,
    MethodNotAllowed,
    NoSuchKey,
    NoSuchVersion,
    PreconditionFailed,
)
from cairn.metadata.models import (
    NULL_VERSION_ID,
    DeleteResult,
    GcItem,
    GcReason,
    ObjectAttrs,
    ObjectVersion,
    VersioningState,
)

VERSION_COLS = (
    "key, rev, is_null, is_delete_marker, last_modified_ms, size, etag, owner_id, storage_class, "
    "checksum_algorithms, checksum_type, body"
)


@dataclass(frozen=True, slots=True)
class VersionBody:
    """The `body` column: everything about a version that listings do not need."""

    attrs: ObjectAttrs
    parts_count: int = 0
    part_sizes: tuple[int, ...] = ()


def public_version_id(rev: bytes, is_null: int | bool) -> str:
    return NULL_VERSION_ID if is_null else versionids.encode(versionids.invert(rev))


def version_from_row(bucket: str, row: tuple[Any, ...], is_latest: bool) -> ObjectVersion:
    return _version(bucket, row, canonical_json.loads(VersionBody, row[11]), is_latest)


def _version(bucket: str, row: Sequence[Any], body: VersionBody, is_latest: bool) -> ObjectVersion:
    """The version of `row` (VERSION_COLS; its body column already decoded as `body`)."""
    a = body.attrs
    return ObjectVersion(
        bucket=bucket,
        key=row[0].decode(),
        version_id=public_version_id(row[1], row[2]),
        is_delete_marker=bool(row[3]),
        is_latest=is_latest,
        last_modified_ms=row[4],
        size=row[5],
        etag=row[6],
        content_type=a.content_type,
        content_encoding=a.content_encoding,
        content_disposition=a.content_disposition,
        content_language=a.content_language,
        cache_control=a.cache_control,
        expires=a.expires,
        website_redirect_location=a.website_redirect_location,
        storage_class=row[8],
        user_metadata=a.user_metadata,
        tags=a.tags,
        checksums=a.checksums,
        blobs=a.blobs,
        owner_id=row[7],
        parts_count=body.parts_count,
        part_sizes=body.part_sizes,
        encryption=a.encryption,
        acl=a.acl,
    )


def current_row(conn: sqlite3.Connection, bucket_id: str, key: bytes) -> tuple[Any, ...] | None:
    return conn.execute(  # type: ignore[no-any-return]
        f"SELECT {VERSION_COLS} FROM versions WHERE bucket_id = ? AND key = ? ORDER BY rev LIMIT 1",
        (bucket_id, key),
    ).fetchone()


def find_row(conn: sqlite3.Connection, bucket_id: str, key: bytes, version_id: str) -> tuple[Any, ...] | None:
    if version_id == NULL_VERSION_ID:
        return conn.execute(  # type: ignore[no-any-return]
            f"SELECT {VERSION_COLS} FROM versions WHERE bucket_id = ? AND key = ? AND is_null = 1",
            (bucket_id, key),
        ).fetchone()
    try:
        rev = versionids.invert(versionids.decode(version_id))
    except ValueError as exc:
        raise InvalidArgument("Invalid version id specified") from exc
    return conn.execute(  # type: ignore[no-any-return]
        f"SELECT {VERSION_COLS} FROM versions WHERE bucket_id = ? AND key = ? AND rev = ? AND is_null = 0",
        (bucket_id, key, rev),
    ).fetchone()


def refuse_marker(row: tuple[Any, ...]) -> None:
    """MethodNotAllowed for a version id that names a delete marker (S3's answer to GET on one)."""
    if row[3]:
        raise MethodNotAllowed(
            "The specified method is not allowed against this resource.",
            version_id=public_version_id(row[1], row[2]),
            is_delete_marker=True,
            last_modified_ms=row[4],
        )


# --- reads -------------------------------------------------------------------------------
def read_version(
    conn: sqlite3.Connection, bucket: str, bucket_id: str, key: str, version_id: str | None
) -> ObjectVersion:
    kb = key.encode()
    current = current_row(conn, bucket_id, kb)
    if version_id is None:
        if current is None:
            raise NoSuchKey("The specified key does not exist.")
        if current[3]:
            raise NoSuchKey(
                "The specified key does not exist.",
                version_id=public_version_id(current[1], current[2]),
                is_delete_marker=True,
                last_modified_ms=current[4],
            )
        return version_from_row(bucket, current, True)
    row = find_row(conn, bucket_id, kb, version_id)
    if row is None:
        raise NoSuchVersion("The specified version does not exist.", version_id=version_id)
    refuse_marker(row)
    return version_from_row(bucket, row, current is not None and current[1] == row[1])


def bucket_has_content(conn: sqlite3.Connection, bucket_id: str) -> bool:
    """Whether any version (object or delete marker) is left; uploads in progress do not count."""
    return (
        conn.execute("SELECT 1 FROM versions WHERE bucket_id = ? LIMIT 1", (bucket_id,)).fetchone()
        is not None
    )


def read_gc_work(conn: sqlite3.Connection, now_ms: int, limit: int) -> list[GcItem]:
    items = [
        GcItem(r[0], r[1], r[2], GcReason(r[3]), r[4])
        for r in conn.execute(
            "SELECT blob_id, pg, size, reason, enqueued_ms FROM gc_queue ORDER BY enqueued_ms, blob_id LIMIT ?",
            (limit,),
        )
    ]
    rows = conn.execute(
        "SELECT blob_id, pg, expires_ms FROM intents WHERE expires_ms <= ? ORDER BY expires_ms, blob_id LIMIT ?",
        (now_ms, limit),
    )
    items.extend(GcItem(r[0], r[1], 0, GcReason.INTENT_EXPIRED, r[2]) for r in rows)
    return items


def known_blobs(conn: sqlite3.Connection, blob_ids: tuple[bytes, ...]) -> list[bytes]:
    """The blobs of `blob_ids` this shard knows: in a version (blob_refs), committed to a part
    of an upload still open (consumed with an upload id whose part number exists), written
    under a write intent, or waiting in the GC queue."""
    known = []
    for bid in blob_ids:
        if (
            conn.execute("SELECT 1 FROM blob_refs WHERE blob_id = ?", (bid,)).fetchone()
            or conn.execute("SELECT 1 FROM intents WHERE blob_id = ?", (bid,)).fetchone()
            or conn.execute("SELECT 1 FROM gc_queue WHERE blob_id = ?", (bid,)).fetchone()
            or conn.execute(
                "SELECT 1 FROM consumed c JOIN parts p ON p.upload_id = c.upload_id "
                "AND p.part_number = c.part_number WHERE c.blob_id = ? AND c.upload_id != ''",
                (bid,),
            ).fetchone()
        ):
            known.append(bid)
    return known


# --- mutations ---------------------------------------------------------------------------
def enqueue_gc(conn: sqlite3.Connection, blobs: tuple[BlobRef, ...], reason: GcReason, now_ms: int) -> None:
    for blob in on_nodes(blobs):  # an inline blob goes with its row: nothing to reclaim
        conn.execute(
            "INSERT OR IGNORE INTO gc_queue (blob_id, pg, size, reason, enqueued_ms) VALUES (?, ?, ?, ?, ?)",
            (blob.blob_id, blob.pg, blob.size, reason.value, now_ms),
        )


def claim_blobs(
    conn: sqlite3.Connection,
    blobs: tuple[BlobRef, ...],
    bucket_id: str,
    key: bytes,
    now_ms: int,
    *,
    rev: bytes = b"",
    upload_id: str = "",
    part_number: int = 0,
) -> None:
    """Commit blobs to a version (`rev`) or a part (`upload_id`, `part_number`) of (bucket, key).

    Each blob needs an unexpired write intent recorded for this same (bucket id, key) (intents
    from before migration 3 name no key and match any), and must never have been committed,
    queued for GC or reclaimed: otherwise the GC may already have deleted its shards, and the
    commit is refused with IntentExpired (the writer writes the blob again). The intent is
    replaced by a durable `consumed` marker, so a late duplicate can never commit it again.
    Inline blobs have no intent and nothing to claim.
    """
    for blob in on_nodes(blobs):
        bid = blob.blob_id
        intent = conn.execute(
            "SELECT expires_ms, bucket_id, key FROM intents WHERE blob_id = ?", (bid,)
        ).fetchone()
        if intent is None:
            raise IntentExpired("a blob has no write intent (expired, reclaimed or never recorded)")
        if intent[0] <= now_ms or (intent[1] and (intent[1], bytes(intent[2])) != (bucket_id, key)):
            raise IntentExpired("the write intent of a blob expired or names another object")
        for table in ("consumed", "gc_queue", "reclaimed"):
            if conn.execute(f"SELECT 1 FROM {table} WHERE blob_id = ?", (bid,)).fetchone():
                raise IntentExpired("a blob was already committed or handed to the GC")
        conn.execute("DELETE FROM intents WHERE blob_id = ?", (bid,))
        conn.execute(
            "INSERT INTO consumed (blob_id, bucket_id, key, rev, upload_id, part_number, consumed_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (bid, bucket_id, key, rev, upload_id, part_number, now_ms),
        )


def _remove_row(
    conn: sqlite3.Connection, bucket_id: str, row: tuple[Any, ...], reason: GcReason, now_ms: int
) -> None:
    conn.execute(
        "DELETE FROM versions WHERE bucket_id = ? AND key = ? AND rev = ?", (bucket_id, row[0], row[1])
    )
    blobs = canonical_json.loads(VersionBody, row[11]).attrs.blobs
    for blob in on_nodes(blobs):
        conn.execute("DELETE FROM blob_refs WHERE blob_id = ?", (blob.blob_id,))
    enqueue_gc(conn, blobs, reason, now_ms)


#: The columns a key's live row copies from its newest version.
_LIVE_COLS = (
    "bucket_id, key, rev, is_null, last_modified_ms, size, etag, owner_id, storage_class, "
    "checksum_algorithms, checksum_type"
)


def _refresh_live(conn: sqlite3.Connection, bucket_id: str, key: bytes) -> None:
    conn.execute("DELETE FROM live WHERE bucket_id = ? AND key = ?", (bucket_id, key))
    conn.execute(
        f"INSERT INTO live ({_LIVE_COLS}) SELECT {_LIVE_COLS} FROM versions WHERE bucket_id = ? AND key = ? "
        "AND rev = (SELECT MIN(rev) FROM versions WHERE bucket_id = ? AND key = ?) AND is_delete_marker = 0",
        (bucket_id, key, bucket_id, key),
    )


def _insert(
    conn: sqlite3.Connection,
    bucket_id: str,
    key: bytes,
    version: bytes,
    is_null: bool,
    is_marker: bool,
    now_ms: int,
    body: VersionBody,
    *,
    claim: bool = True,
) -> bytes:
    """Insert a version or marker as the key's newest; `claim=False` for blobs that were
    already claimed (the parts of a completed upload)."""
    current = current_row(conn, bucket_id, key)
    rev = versionids.invert(version)
    if current is not None and rev >= current[1]:
        rev = versionids.invert(versionids.successor(versionids.invert(current[1])))
    a = body.attrs
    algorithms = ",".join(ch.algorithm for ch in a.checksums)
    checksum_type = a.checksums[0].type.value if a.checksums else ""
    # the new row's columns of _LIVE_COLS, in that order
    live = (
        bucket_id,
        key,
        rev,
        int(is_null),
        now_ms,
        a.size,
        a.etag,
        a.owner_id,
        a.storage_class,
        algorithms,
        checksum_type,
    )
    conn.execute(
        f"INSERT INTO versions ({_LIVE_COLS}, is_delete_marker, body) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (*live, int(is_marker), canonical_json.dumps(body)),
    )
    if claim:
        claim_blobs(conn, a.blobs, bucket_id, key, now_ms, rev=rev)
    for blob in on_nodes(a.blobs):
        conn.execute(
            "INSERT OR REPLACE INTO blob_refs (blob_id, bucket_id, key, rev) VALUES (?, ?, ?, ?)",
            (blob.blob_id, bucket_id, key, rev),
        )
    if is_marker:  # the key's newest version is a marker: nothing of it is live
        conn.execute("DELETE FROM live WHERE bucket_id = ? AND key = ?", (bucket_id, key))
    else:  # the row just inserted is the key's newest, so it is the live one
        conn.execute(
            f"INSERT OR REPLACE INTO live ({_LIVE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", live
        )
    return rev


def check_conditions(
    conn: sqlite3.Connection, bucket_id: str, key: bytes, if_match: str | None, if_none_match: bool
) -> None:
    if if_match is None and not if_none_match:
        return
    current = current_row(conn, bucket_id, key)
    exists = current is not None and not current[3]
    if if_match is not None:
        if not exists or current is None:
            raise NoSuchKey("The specified key does not exist.")
        wanted = if_match.strip().strip('"')
        if wanted != "*" and wanted != current[6]:
            raise PreconditionFailed("At least one of the pre-conditions you specified did not hold")
    if if_none_match and exists:
        raise PreconditionFailed("At least one of the pre-conditions you specified did not hold")


def commit_version(
    conn: sqlite3.Connection,
    bucket: str,
    bucket_id: str,
    key: str,
    version: bytes,
    is_null: bool,
    now_ms: int,
    body: VersionBody,
    if_match: str | None,
    if_none_match: bool,
    *,
    claim: bool = True,
) -> ObjectVersion:
    """Add an object version (PUT or completed upload), replacing the null version if needed."""
    kb = key.encode()
    check_conditions(conn, bucket_id, kb, if_match, if_none_match)
    if is_null:
        old = find_row(conn, bucket_id, kb, NULL_VERSION_ID)
        if old is not None:
            _remove_row(conn, bucket_id, old, GcReason.OVERWRITTEN, now_ms)
    rev = _insert(conn, bucket_id, kb, version, is_null, False, now_ms, body, claim=claim)
    a = body.attrs  # the row just inserted, without reading it back and decoding its body
    return _version(
        bucket, (kb, rev, is_null, False, now_ms, a.size, a.etag, a.owner_id, a.storage_class), body, True
    )


def without_inline(v: ObjectVersion) -> ObjectVersion:
    """`v` with its inline blobs' bytes left out: what a PUT answers (and what the request table
    keeps of it for a retry). The writer sent those bytes; echoing them back would copy every
    small body into each answer and into the request table. Such a ref is never read from:
    InlineBlobStore.read refuses an inline blob whose bytes do not match its size."""
    if not any(b.inline for b in v.blobs):
        return v
    return replace(v, blobs=tuple(replace(b, inline=b"") if b.is_inline else b for b in v.blobs))


def put(conn: sqlite3.Connection, cmd: c.PutVersion) -> ObjectVersion:
    kb = cmd.key.encode()
    stored = on_nodes(cmd.attrs.blobs)
    if stored:
        ref = conn.execute(
            "SELECT bucket_id, key, rev FROM consumed WHERE blob_id = ?", (stored[0].blob_id,)
        ).fetchone()
        if ref is not None:  # a retried or late duplicate of a commit that already happened
            if (ref[0], bytes(ref[1])) != (cmd.bucket_id, kb) or not ref[2]:
                raise InvalidArgument("blob already belongs to another object")
            row = conn.execute(
                f"SELECT {VERSION_COLS} FROM versions WHERE bucket_id = ? AND key = ? AND rev = ?", ref
            ).fetchone()
            if row is None:  # that version is gone and its blobs with it: never re-attach them
                raise IntentExpired("the blob's version was already replaced or deleted")
            current = current_row(conn, cmd.bucket_id, kb)
            return version_from_row(cmd.bucket, row, current is not None and current[1] == row[1])
    return without_inline(
        commit_version(
            conn,
            cmd.bucket,
            cmd.bucket_id,
            cmd.key,
            cmd.version,
            cmd.is_null,
            cmd.now_ms,
            VersionBody(cmd.attrs),
            cmd.if_match,
            cmd.if_none_match,
        )
    )


def set_tags(conn: sqlite3.Connection, cmd: c.SetTags) -> str:
    """Rewrite one version's tags in its body; returns the version's id. NoSuchKey /
    NoSuchVersion as a read; MethodNotAllowed on a delete marker."""
    return _rewrite_attrs(conn, cmd.bucket_id, cmd.key, cmd.version_id, lambda a: replace(a, tags=cmd.tags))


def set_acl(conn: sqlite3.Connection, cmd: c.SetAcl) -> str:
    """Rewrite one version's ACL in its body; returns the version's id (errors as set_tags)."""
    return _rewrite_attrs(conn, cmd.bucket_id, cmd.key, cmd.version_id, lambda a: replace(a, acl=cmd.acl))


def _rewrite_attrs(
    conn: sqlite3.Connection,
    bucket_id: str,
    key: str,
    version_id: str | None,
    change: Callable[[ObjectAttrs], ObjectAttrs],
) -> str:
    kb = key.encode()
    row = current_row(conn, bucket_id, kb) if version_id is None else None
    if version_id is None and (row is None or row[3]):
        raise NoSuchKey("The specified key does not exist.")
    if version_id is not None:
        row = find_row(conn, bucket_id, kb, version_id)
        if row is None:
            raise NoSuchVersion("The specified version does not exist.", version_id=version_id)
    assert row is not None
    refuse_marker(row)
    body = canonical_json.loads(VersionBody, row[11])
    new_body = replace(body, attrs=change(body.attrs))
    conn.execute(
        "UPDATE versions SET body = ? WHERE bucket_id = ? AND key = ? AND rev = ?",
        (canonical_json.dumps(new_body), bucket_id, kb, row[1]),
    )
    return public_version_id(row[1], row[2])


def record_intent(conn: sqlite3.Connection, cmd: c.RecordIntent) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO intents (blob_id, pg, expires_ms, bucket_id, key) VALUES (?, ?, ?, ?, ?)",
        (cmd.blob_id, cmd.pg, cmd.expires_ms, cmd.bucket_id, cmd.key.encode()),
    )


def delete(conn: sqlite3.Connection, cmd: c.DeleteVersion) -> DeleteResult:
    kb = cmd.key.encode()
    if cmd.version_id is not None:
        row = find_row(conn, cmd.bucket_id, kb, cmd.version_id)
        if row is None:
            return DeleteResult(cmd.version_id, False)
        _remove_row(conn, cmd.bucket_id, row, GcReason.DELETED, cmd.now_ms)
        _refresh_live(conn, cmd.bucket_id, kb)
        return DeleteResult(cmd.version_id, bool(row[3]))
    if cmd.versioning is not VersioningState.ENABLED:
        old = find_row(conn, cmd.bucket_id, kb, NULL_VERSION_ID)
        if old is not None:
            _remove_row(conn, cmd.bucket_id, old, GcReason.DELETED, cmd.now_ms)
        if cmd.versioning is VersioningState.UNVERSIONED:
            _refresh_live(conn, cmd.bucket_id, kb)
            return DeleteResult(None, False)
    is_null = cmd.versioning is VersioningState.SUSPENDED
    marker = VersionBody(ObjectAttrs(owner_id=cmd.owner_id))
    rev = _insert(conn, cmd.bucket_id, kb, cmd.marker_version, is_null, True, cmd.now_ms, marker)
    return DeleteResult(public_version_id(rev, is_null), True)


def ack_gc(conn: sqlite3.Connection, cmd: c.AckGc) -> int:
    """Drop reclaimed blobs from the GC queue and expired intents (remembering those as
    reclaimed, so a late commit of one is refused); returns how many were found."""
    found = 0
    for blob_id in cmd.blob_ids:
        found += conn.execute("DELETE FROM gc_queue WHERE blob_id = ?", (blob_id,)).rowcount
        expired = conn.execute("DELETE FROM intents WHERE blob_id = ?", (blob_id,)).rowcount
        if expired:
            conn.execute(
                "INSERT OR IGNORE INTO reclaimed (blob_id, reclaimed_ms) VALUES (?, ?)",
                (blob_id, cmd.now_ms),
            )
        found += expired
    return found


def put_batch(conn: sqlite3.Connection, cmd: c.PutBatch) -> list[ObjectVersion]:
    for intent in cmd.intents:
        record_intent(conn, intent)
    return [put(conn, p) for p in cmd.puts]
