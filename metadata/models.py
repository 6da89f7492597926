"""Value types of the metadata service: buckets, object versions, uploads, IAM records, GC work.

Every type is a frozen slotted dataclass shared by the store, the gRPC server and the typed
client, so the S3 API works on exactly these values (`BlobRef`, shared with the data path, is
`cairn.blobs.BlobRef`). Conventions:

- times are integer milliseconds since the Unix epoch, chosen by the metadata service;
- ETags are stored and returned *without* quotes (`"d41d8cd98f00b204e9800998ecf8427e"` on the
  wire is `d41d8cd98f00b204e9800998ecf8427e` here; multipart ETags end in `-N`);
- checksum values are raw digest bytes (not base64);
- user metadata is an ordered tuple of (name, value) pairs kept exactly as given;
- the `null` version of an unversioned or suspended bucket has `version_id == "null"`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from cairn.blobs import BlobRef

NULL_VERSION_ID = "null"

#: S3 limits the metadata service enforces.
MAX_KEYS_LIMIT = 1000
MIN_PART_NUMBER = 1
MAX_PART_NUMBER = 10_000
MIN_PART_SIZE = 5 * 1024 * 1024


class VersioningState(enum.StrEnum):
    """A bucket's versioning state; it never returns to UNVERSIONED once changed."""

    UNVERSIONED = "Unversioned"
    ENABLED = "Enabled"
    SUSPENDED = "Suspended"


class ChecksumType(enum.StrEnum):
    """Whether a checksum covers the whole object or is a checksum of the parts' checksums."""

    FULL_OBJECT = "FULL_OBJECT"
    COMPOSITE = "COMPOSITE"


class AccessKeyStatus(enum.StrEnum):
    ACTIVE = "Active"
    INACTIVE = "Inactive"


class GcReason(enum.StrEnum):
    """Why a blob was put on the GC queue."""

    OVERWRITTEN = "overwritten"  # a null version was replaced
    DELETED = "deleted"  # a version was removed for good
    PART_REPLACED = "part_replaced"  # a part number was uploaded again
    PART_UNUSED = "part_unused"  # a registered part was left out of CompleteMultipartUpload
    UPLOAD_ABORTED = "upload_aborted"
    BUCKET_DELETED = "bucket_deleted"
    INTENT_EXPIRED = "intent_expired"  # a write intent expired without a commit


@dataclass(frozen=True, slots=True)
class Checksum:
    """One checksum: `algorithm` is CRC32, CRC32C, CRC64NVME, SHA1 or SHA256; `value` raw bytes.

    A COMPOSITE checksum of a multipart object is the checksum of the concatenated part
    checksums; S3 shows it as `base64(value)-N` where N is the object's `parts_count`.
    """

    algorithm: str
    value: bytes
    type: ChecksumType = ChecksumType.FULL_OBJECT


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    id: str  # internal id; object rows are keyed by it, so a recreated name starts empty
    owner_id: str
    versioning: VersioningState
    created_ms: int
    region: str = ""


@dataclass(frozen=True, slots=True)
class Encryption:
    """How an object's blobs are encrypted at rest (the S3 API's sse.py writes and reads it).

    `algorithm`: "" (not encrypted), "AES256" (SSE-S3), "aws:kms" (SSE-KMS) or "SSE-C";
    `kms_key_id` and `kms_context` (the encryption context as sent, base64 JSON) for SSE-KMS;
    `customer_key_hmac` for SSE-C: a salted HMAC of the customer's key (salt first), never the key;
    `bucket_key_enabled`: the client asked for an S3 Bucket Key (accepted and echoed; every blob
    still gets its own data key). Each blob's own data key is sealed in its `BlobRef.sealed_key`.
    """

    algorithm: str = ""
    kms_key_id: str = ""
    kms_context: str = ""
    customer_key_hmac: bytes = b""
    bucket_key_enabled: bool = False


NOT_ENCRYPTED = Encryption()


@dataclass(frozen=True, slots=True)
class ObjectAttrs:
    """What the API knows about an object when it commits a version (or starts an upload).

    For CreateMultipartUpload, `size`, `etag`, `checksums` and `blobs` are ignored.
    """

    size: int = 0
    etag: str = ""
    content_type: str = ""
    content_encoding: str = ""
    content_disposition: str = ""
    content_language: str = ""
    cache_control: str = ""
    expires: str = ""  # the Expires header value, verbatim
    website_redirect_location: str = ""
    storage_class: str = "STANDARD"
    user_metadata: tuple[tuple[str, str], ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    checksums: tuple[Checksum, ...] = ()
    blobs: tuple[BlobRef, ...] = ()
    owner_id: str = ""
    encryption: Encryption = NOT_ENCRYPTED
    acl: str = ""  # the version's access control list as the API encodes it; "" is the owner's default


@dataclass(frozen=True, slots=True)
class ObjectVersion:
    """One version of a key (an object or a delete marker) as stored."""

    bucket: str
    key: str
    version_id: str  # "null" for the null version
    is_delete_marker: bool
    is_latest: bool
    last_modified_ms: int
    size: int = 0
    etag: str = ""
    content_type: str = ""
    content_encoding: str = ""
    content_disposition: str = ""
    content_language: str = ""
    cache_control: str = ""
    expires: str = ""
    website_redirect_location: str = ""
    storage_class: str = "STANDARD"
    user_metadata: tuple[tuple[str, str], ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    checksums: tuple[Checksum, ...] = ()
    blobs: tuple[BlobRef, ...] = ()
    owner_id: str = ""
    parts_count: int = 0  # > 0 for an object made by CompleteMultipartUpload
    part_sizes: tuple[int, ...] = ()  # size of each part, in part order (multipart objects)
    encryption: Encryption = NOT_ENCRYPTED
    acl: str = ""  # as ObjectAttrs.acl


@dataclass(frozen=True, slots=True)
class DeleteResult:
    """What DeleteObject did: S3 reports `x-amz-version-id` and `x-amz-delete-marker` from it.

    `version_id` is the marker's id when a marker was created, the removed version's id when a
    version id was given, and None for a plain delete in an unversioned bucket.
    `is_delete_marker` is true when a marker was created or the removed version was a marker.
    """

    version_id: str | None
    is_delete_marker: bool


@dataclass(frozen=True, slots=True)
class ObjectSummary:
    """One entry of a listing (ListObjects V1/V2: current versions; ListObjectVersions: all)."""

    key: str
    version_id: str
    is_latest: bool
    is_delete_marker: bool
    last_modified_ms: int
    etag: str = ""
    size: int = 0
    storage_class: str = "STANDARD"
    owner_id: str = ""  # filled when fetch_owner (V2) and always for V1 / versions
    checksum_algorithms: tuple[str, ...] = ()
    checksum_type: str = ""


@dataclass(frozen=True, slots=True)
class ListObjectsV2Page:
    contents: tuple[ObjectSummary, ...]
    common_prefixes: tuple[str, ...]
    is_truncated: bool
    next_continuation_token: str | None  # opaque; pass back as continuation_token
    key_count: int


@dataclass(frozen=True, slots=True)
class ListObjectsV1Page:
    contents: tuple[ObjectSummary, ...]
    common_prefixes: tuple[str, ...]
    is_truncated: bool
    next_marker: str | None  # set only when truncated and a delimiter was given (as S3 does)


@dataclass(frozen=True, slots=True)
class ListVersionsPage:
    versions: tuple[ObjectSummary, ...]  # versions and delete markers, key asc then newest first
    common_prefixes: tuple[str, ...]
    is_truncated: bool
    next_key_marker: str | None
    next_version_id_marker: str | None


@dataclass(frozen=True, slots=True)
class MultipartUpload:
    bucket: str
    key: str
    upload_id: str
    initiated_ms: int
    attrs: ObjectAttrs  # the object's metadata given at CreateMultipartUpload
    checksum_algorithm: str = ""  # "" when none was requested
    checksum_type: ChecksumType = ChecksumType.COMPOSITE


@dataclass(frozen=True, slots=True)
class Part:
    part_number: int
    size: int
    etag: str
    last_modified_ms: int
    checksums: tuple[Checksum, ...] = ()
    blobs: tuple[BlobRef, ...] = ()


@dataclass(frozen=True, slots=True)
class CompletedPart:
    """One entry of the CompleteMultipartUpload request body."""

    part_number: int
    etag: str
    checksums: tuple[Checksum, ...] = ()  # when given, must equal the registered part's


@dataclass(frozen=True, slots=True)
class ListPartsPage:
    upload: MultipartUpload
    parts: tuple[Part, ...]
    is_truncated: bool
    next_part_number_marker: int


@dataclass(frozen=True, slots=True)
class ListUploadsPage:
    uploads: tuple[MultipartUpload, ...]
    common_prefixes: tuple[str, ...]
    is_truncated: bool
    next_key_marker: str | None
    next_upload_id_marker: str | None


@dataclass(frozen=True, slots=True)
class WriteIntent:
    blob_id: bytes
    pg: int
    expires_ms: int


@dataclass(frozen=True, slots=True)
class GcItem:
    """A blob whose shards may be deleted. Ack it (by blob id) once the shards are gone."""

    blob_id: bytes
    pg: int
    size: int
    reason: GcReason
    enqueued_ms: int


@dataclass(frozen=True, slots=True)
class RepairReport:
    """A shard found missing or corrupt, for the repair worker: `kind` is `missing` or
    `corrupt`; `source` says who found it (`put`: a PUT could not write it, `read`: a reader,
    `scrub`: a data node's scrub); `node` is the address or id of the node it was on ("": none)."""

    blob_id: bytes
    index: int
    pg: int
    kind: str
    source: str
    node: str


@dataclass(frozen=True, slots=True)
class RepairItem:
    """A queued repair report. `id` grows with every report (a shard reported again gets a new
    one), so an ack of an older id leaves a newer report queued."""

    id: int
    report: RepairReport
    reported_ms: int


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    name: str
    arn: str
    created_ms: int
    is_root: bool = False


@dataclass(frozen=True, slots=True)
class AccessKey:
    access_key_id: str
    secret_access_key: str
    user_id: str
    user_name: str
    status: AccessKeyStatus
    created_ms: int


@dataclass(frozen=True, slots=True)
class BucketConfig:
    """One configuration document of a bucket (its CORS rules, tag set, lifecycle rules, ...),
    stored and returned verbatim under its `kind`; the metadata service never reads it."""

    bucket: str
    kind: str
    document: str
    updated_ms: int = field(default=0)


@dataclass(frozen=True, slots=True)
class BucketContext:
    """Everything about a bucket an S3 request needs, read at one point in time: the bucket, its
    policy document (None: no policy) and every configuration document by kind."""

    bucket: Bucket
    policy: str | None = None
    configs: tuple[tuple[str, str], ...] = ()  # (kind, document), by kind

    def config(self, kind: str) -> str | None:
        """The `kind` configuration document, or None when the bucket has none."""
        for name, document in self.configs:
            if name == kind:
                return document
        return None


@dataclass(frozen=True, slots=True)
class Policy:
    """A policy document, stored and returned verbatim (never evaluated here)."""

    name: str  # the policy name (user policies) or "" (the bucket policy)
    document: str
    updated_ms: int = field(default=0)


@dataclass(frozen=True, slots=True)
class KmsKey:
    """A key of the built-in KMS key store (metadata/kms.py).

    `key_id` is a UUID, `arn` looks like AWS's (`arn:aws:kms:<region>:<account>:key/<id>`),
    `alias` is without its `alias/` prefix ("" for none; `aws/s3` is the default key).
    `sealed_material` is the 256-bit key sealed under the cluster master key `master_key_id`
    (sse_crypto format, naming that master key); it never leaves the metadata service.
    """

    key_id: str
    arn: str
    alias: str
    description: str
    enabled: bool
    created_ms: int
    sealed_material: bytes = b""  # empty outside the metadata service
    master_key_id: str = ""  # the cluster master key sealing the material


@dataclass(frozen=True, slots=True)
class ResealPage:
    """One page of a master-key rotation: the active master key, how many seals were re-sealed
    under it, which master keys the page's seals name afterwards (any other than the active one
    did not open here), the cursor of the next page and whether the target is done."""

    active: str
    resealed: int
    in_use: tuple[str, ...]
    next_cursor: str
    done: bool
    shards: int
