"""Every mutation of the metadata store, as a deterministic command.

A command is a frozen dataclass holding everything its effect depends on: ids (bucket ids,
version ids as 12 raw bytes, upload ids) and timestamps are chosen by the service *before*
the command is applied, and the bucket's versioning state is captured in the command. So
applying the same command bytes to the same shard state gives the same state and result on
every replica (cairn.replication.StateMachine). Catalog commands go to the catalog shard;
object commands carry (bucket_id, key) and go to the shard that owns that pair.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cairn.blobs import BlobRef
from cairn.metadata import canonical_json
from cairn.metadata.models import (
    AccessKeyStatus,
    Checksum,
    ChecksumType,
    CompletedPart,
    ObjectAttrs,
    RepairReport,
    VersioningState,
)


# --- catalog shard -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CreateBucket:
    name: str
    bucket_id: str
    owner_id: str
    region: str
    now_ms: int


@dataclass(frozen=True, slots=True)
class DeleteBucket:
    name: str
    bucket_id: str
    now_ms: int = 0  # when the bucket's uploads in progress go to GC


@dataclass(frozen=True, slots=True)
class SetVersioning:
    name: str
    state: VersioningState


@dataclass(frozen=True, slots=True)
class PutBucketPolicy:
    name: str
    document: str | None  # None deletes
    now_ms: int


@dataclass(frozen=True, slots=True)
class PutBucketConfig:
    """Store (or, with document None, drop) the bucket's configuration document of one kind."""

    name: str
    kind: str
    document: str | None  # None deletes
    now_ms: int


@dataclass(frozen=True, slots=True)
class CreateUser:
    user_id: str
    name: str
    arn: str
    is_root: bool
    now_ms: int


@dataclass(frozen=True, slots=True)
class DeleteUser:
    name: str


@dataclass(frozen=True, slots=True)
class CreateAccessKey:
    user_name: str
    access_key_id: str
    secret_access_key: str
    now_ms: int


@dataclass(frozen=True, slots=True)
class SetAccessKeyStatus:
    access_key_id: str
    status: AccessKeyStatus


@dataclass(frozen=True, slots=True)
class DeleteAccessKey:
    access_key_id: str


@dataclass(frozen=True, slots=True)
class PutUserPolicy:
    user_name: str
    policy_name: str
    document: str | None  # None deletes
    now_ms: int


@dataclass(frozen=True, slots=True)
class EnsureRoot:
    """Make sure the root user exists and owns this access key with this secret (active)."""

    user_id: str
    name: str
    arn: str
    access_key_id: str
    secret_access_key: str
    now_ms: int


@dataclass(frozen=True, slots=True)
class QueueRepairs:
    """Queue shards for the repair worker (repair_queue.py); a shard already queued is queued
    again under a new id."""

    reports: tuple[RepairReport, ...]
    now_ms: int


@dataclass(frozen=True, slots=True)
class AckRepairs:
    """Drop queued repair items by id (ids no longer queued are ignored)."""

    ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class CreateKmsKey:
    """A KMS key (kms_store.py); with `existing_alias_ok`, an alias already taken answers the key
    holding it (how the default `aws/s3` key is created on first use, by any number of callers)."""

    key_id: str
    arn: str
    alias: str  # "" for none
    description: str
    sealed_material: bytes
    now_ms: int
    existing_alias_ok: bool = False


@dataclass(frozen=True, slots=True)
class SetKmsKeyEnabled:
    key_id: str
    enabled: bool


@dataclass(frozen=True, slots=True)
class ResealKmsKey:
    """Replace a KMS key's sealed material with the same material sealed under another master
    key, if it is still sealed as `expected` (a re-seal racing another is dropped)."""

    key_id: str
    expected: bytes
    sealed_material: bytes


# --- object shards -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PutVersion:
    bucket_id: str
    bucket: str
    key: str
    version: bytes  # 12-byte time-ordered id
    is_null: bool  # the bucket was not versioning-enabled when the command was made
    attrs: ObjectAttrs
    now_ms: int
    if_match: str | None = None
    if_none_match: bool = False


@dataclass(frozen=True, slots=True)
class PutBatch:
    """Several PutVersions of one shard in one transaction (bulk loads, replicated batches);
    `intents` are recorded first (a bulk loader names blobs it has already written)."""

    puts: tuple[PutVersion, ...]
    intents: tuple[RecordIntent, ...] = ()


@dataclass(frozen=True, slots=True)
class DeleteVersion:
    bucket_id: str
    bucket: str
    key: str
    version_id: str | None  # None: a plain DeleteObject
    versioning: VersioningState
    marker_version: bytes  # id for a delete marker, if one is created
    now_ms: int
    owner_id: str = ""  # owner recorded on a delete marker


@dataclass(frozen=True, slots=True)
class SetTags:
    """Replace the tag set of one version (the current one when version_id is None)."""

    bucket_id: str
    key: str
    version_id: str | None
    tags: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class SetAcl:
    """Replace the ACL of one version (the current one when version_id is None)."""

    bucket_id: str
    key: str
    version_id: str | None
    acl: str


@dataclass(frozen=True, slots=True)
class RecordIntent:
    bucket_id: str
    key: str
    blob_id: bytes
    pg: int
    expires_ms: int


@dataclass(frozen=True, slots=True)
class AckGc:
    blob_ids: tuple[bytes, ...]
    now_ms: int = 0


@dataclass(frozen=True, slots=True)
class PurgeBucket:
    """Drop what is left of a deleted bucket in one shard: its upload records, the parts of
    uploads still in progress going to GC (S3 deletes a bucket whose only content is such
    uploads, and the uploads with it)."""

    bucket_id: str
    now_ms: int = 0


@dataclass(frozen=True, slots=True)
class CreateUpload:
    bucket_id: str
    bucket: str
    key: str
    upload_id: str
    attrs: ObjectAttrs
    checksum_algorithm: str
    checksum_type: ChecksumType
    now_ms: int


@dataclass(frozen=True, slots=True)
class RegisterPart:
    bucket_id: str
    key: str
    upload_id: str
    part_number: int
    size: int
    etag: str
    checksums: tuple[Checksum, ...]
    blobs: tuple[BlobRef, ...]
    now_ms: int


@dataclass(frozen=True, slots=True)
class CompleteUpload:
    bucket_id: str
    bucket: str
    key: str
    upload_id: str
    parts: tuple[CompletedPart, ...]
    checksums: tuple[Checksum, ...]
    version: bytes
    is_null: bool
    now_ms: int
    if_match: str | None = None
    if_none_match: bool = False


@dataclass(frozen=True, slots=True)
class AbortUpload:
    bucket_id: str
    key: str
    upload_id: str
    now_ms: int


@dataclass(frozen=True, slots=True)
class KeyReseal:
    """One blob's data key re-sealed under another master key (kms_reseal.py): in a version row
    (`bucket_id`, `key`, `rev`) or in a part of an upload (`upload_id`, `part_number`)."""

    bucket_id: str
    key: bytes
    rev: bytes
    upload_id: str
    part_number: int
    blob_id: bytes
    expected: bytes  # replaced only if the blob still holds this sealed key
    sealed_key: bytes


@dataclass(frozen=True, slots=True)
class ResealBlobKeys:
    """Re-sealed data keys of one object shard (sent to that shard by number)."""

    items: tuple[KeyReseal, ...]


CatalogCommand = (
    CreateBucket
    | DeleteBucket
    | SetVersioning
    | PutBucketPolicy
    | PutBucketConfig
    | CreateUser
    | DeleteUser
    | CreateAccessKey
    | SetAccessKeyStatus
    | DeleteAccessKey
    | PutUserPolicy
    | EnsureRoot
    | QueueRepairs
    | AckRepairs
    | CreateKmsKey
    | SetKmsKeyEnabled
    | ResealKmsKey
)
ObjectCommand = (
    PutVersion
    | PutBatch
    | DeleteVersion
    | SetTags
    | SetAcl
    | RecordIntent
    | AckGc
    | PurgeBucket
    | CreateUpload
    | RegisterPart
    | CompleteUpload
    | AbortUpload
    | ResealBlobKeys
)
Command = CatalogCommand | ObjectCommand

_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        CreateBucket,
        DeleteBucket,
        SetVersioning,
        PutBucketPolicy,
        PutBucketConfig,
        CreateUser,
        DeleteUser,
        CreateAccessKey,
        SetAccessKeyStatus,
        DeleteAccessKey,
        PutUserPolicy,
        EnsureRoot,
        QueueRepairs,
        AckRepairs,
        CreateKmsKey,
        SetKmsKeyEnabled,
        ResealKmsKey,
        PutVersion,
        PutBatch,
        DeleteVersion,
        SetTags,
        SetAcl,
        RecordIntent,
        AckGc,
        PurgeBucket,
        CreateUpload,
        RegisterPart,
        CompleteUpload,
        AbortUpload,
        ResealBlobKeys,
    )
}


def encode(command: Command) -> bytes:
    """Canonical bytes of a command: {"type": name, "body": fields}."""
    name = type(command).__name__
    if name not in _TYPES:
        raise TypeError(f"not a command: {name}")
    doc = {"type": name, "body": canonical_json.to_plain(command)}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def decode(data: bytes) -> Command:
    """The command encoded by `encode`; ValueError for unknown or malformed input."""
    try:
        doc = json.loads(data)
        cls = _TYPES[doc["type"]]
        return canonical_json.from_plain(cls, doc["body"])  # type: ignore[no-any-return]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed command: {exc}") from exc
