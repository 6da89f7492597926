"""Typed async client of the metadata service (the only caller-side module touching its stubs).

`MetadataClient(addr)` exposes one coroutine per RPC, taking and returning the dataclasses of
`cairn.metadata.models`. Failures raise the typed errors of `cairn.metadata.errors` (re-exported
here): the server's reason string selects the class, so callers never look at message text.
A call that cannot reach the service or exceeds its deadline raises `MetadataUnavailable`.
Every call carries a deadline (`deadline_s`, default cairn.rpc.DEFAULT_DEADLINE_S).
"""

from __future__ import annotations

from collections.abc import Sequence

from cairn.metadata.errors import (  # noqa: F401  (re-exported for callers)
    ERRORS_BY_REASON,
    AccessKeyAlreadyExists,
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    DeleteConflict,
    EntityTooSmall,
    InvalidArgument,
    InvalidBucketName,
    InvalidPart,
    InvalidPartOrder,
    MalformedXML,
    MetadataError,
    MetadataUnavailable,
    MethodNotAllowed,
    NoSuchAccessKey,
    NoSuchBucket,
    NoSuchBucketPolicy,
    NoSuchKey,
    NoSuchPolicy,
    NoSuchUpload,
    NoSuchUser,
    NoSuchVersion,
    PreconditionFailed,
    UserAlreadyExists,
)
from cairn.metadata.models import (  # noqa: F401  (re-exported for callers)
    NULL_VERSION_ID,
    AccessKey,
    AccessKeyStatus,
    BlobRef,
    Bucket,
    Checksum,
    ChecksumType,
    CompletedPart,
    DeleteResult,
    GcItem,
    GcReason,
    ListObjectsV1Page,
    ListObjectsV2Page,
    ListPartsPage,
    ListUploadsPage,
    ListVersionsPage,
    MultipartUpload,
    ObjectAttrs,
    ObjectSummary,
    ObjectVersion,
    Part,
    Policy,
    User,
    VersioningState,
    WriteIntent,
)

from cairn.rpc import DEFAULT_DEADLINE_S


class MetadataClient:
    """Async client for one metadata service at `addr` ("host:port")."""

    def __init__(self, addr: str, *, deadline_s: float = DEFAULT_DEADLINE_S) -> None:
        self.addr = addr
        self.deadline_s = deadline_s

    async def close(self) -> None:
        """Close the channel."""
        raise NotImplementedError

    async def __aenter__(self) -> MetadataClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- buckets -------------------------------------------------------------------------
    async def create_bucket(self, name: str, owner_id: str, *, region: str = "") -> Bucket:
        """Create a bucket. InvalidBucketName, BucketAlreadyExists (another owner),
        BucketAlreadyOwnedByYou (same owner)."""
        raise NotImplementedError

    async def get_bucket(self, name: str) -> Bucket:
        """HeadBucket / bucket lookup. NoSuchBucket."""
        raise NotImplementedError

    async def delete_bucket(self, name: str) -> None:
        """Delete an empty bucket. NoSuchBucket; BucketNotEmpty while any version, delete
        marker or in-progress multipart upload remains."""
        raise NotImplementedError

    async def list_buckets(self, owner_id: str | None = None) -> tuple[Bucket, ...]:
        """Buckets by name; only `owner_id`'s when given."""
        raise NotImplementedError

    async def set_bucket_versioning(self, name: str, state: VersioningState) -> Bucket:
        """ENABLED or SUSPENDED (UNVERSIONED is InvalidArgument: a bucket never goes back).
        NoSuchBucket."""
        raise NotImplementedError

    async def put_bucket_policy(self, name: str, document: str) -> None:
        """Store the bucket policy verbatim. NoSuchBucket."""
        raise NotImplementedError

    async def get_bucket_policy(self, name: str) -> Policy:
        """NoSuchBucket, NoSuchBucketPolicy."""
        raise NotImplementedError

    async def delete_bucket_policy(self, name: str) -> None:
        """Idempotent. NoSuchBucket."""
        raise NotImplementedError

    # --- objects -------------------------------------------------------------------------
    async def put_object(
        self,
        bucket: str,
        key: str,
        attrs: ObjectAttrs,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> ObjectVersion:
        """Commit a new version (PutObject / CopyObject); returns it (version_id "null" unless
        versioning is ENABLED). Clears the write intents of `attrs.blobs`; a replaced null
        version's blobs go to GC. `if_match`: the current version's ETag must equal it
        (PreconditionFailed; NoSuchKey when there is no current object). `if_none_match`: no
        current object may exist (PreconditionFailed). Retrying with the same first blob id
        returns the version already committed. NoSuchBucket."""
        raise NotImplementedError

    async def get_object(self, bucket: str, key: str, version_id: str | None = None) -> ObjectVersion:
        """The current version, or `version_id` ("null" names the null version).
        NoSuchBucket; NoSuchKey (is_delete_marker/version_id/last_modified_ms set when the
        current version is a delete marker); NoSuchVersion; MethodNotAllowed when
        `version_id` names a delete marker; InvalidArgument for a malformed version id."""
        raise NotImplementedError

    async def head_object(self, bucket: str, key: str, version_id: str | None = None) -> ObjectVersion:
        """Same lookup and errors as get_object."""
        raise NotImplementedError

    async def delete_object(self, bucket: str, key: str, version_id: str | None = None) -> DeleteResult:
        """DeleteObject with S3's rules: versioned bucket without version id adds a delete
        marker; with a version id removes that version or marker for good; unversioned
        removes the null version; suspended removes the null version and adds a null delete
        marker. Deleting something absent succeeds. NoSuchBucket; InvalidArgument."""
        raise NotImplementedError

    async def list_objects_v2(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        max_keys: int = 1000,
        continuation_token: str | None = None,
        start_after: str = "",
        fetch_owner: bool = False,
    ) -> ListObjectsV2Page:
        """ListObjectsV2 over current (non-delete-marker) versions. max_keys is clamped to
        1000. InvalidArgument for a bad token or negative max_keys. NoSuchBucket."""
        raise NotImplementedError

    async def list_objects_v1(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        max_keys: int = 1000,
        marker: str = "",
    ) -> ListObjectsV1Page:
        """ListObjects (V1). NoSuchBucket."""
        raise NotImplementedError

    async def list_object_versions(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        max_keys: int = 1000,
        key_marker: str = "",
        version_id_marker: str = "",
    ) -> ListVersionsPage:
        """ListObjectVersions: versions and delete markers, keys ascending, newest first.
        NoSuchBucket; InvalidArgument (version_id_marker without key_marker)."""
        raise NotImplementedError

    # --- write intents and GC --------------------------------------------------------------
    async def record_write_intent(
        self, bucket: str, key: str, blob_id: bytes, pg: int, *, ttl_s: float | None = None
    ) -> WriteIntent:
        """Record that `blob_id` is about to be written on `pg` for (bucket, key); the service
        chooses the expiry (ttl_s or its configured default). Committing a version or
        registering a part that names the blob clears it. NoSuchBucket."""
        raise NotImplementedError

    async def list_gc_work(self, limit: int = 1000) -> tuple[GcItem, ...]:
        """Blobs to reclaim: the GC queue plus expired write intents never committed."""
        raise NotImplementedError

    async def ack_gc_work(self, blob_ids: Sequence[bytes]) -> int:
        """Drop reclaimed blobs from the GC queue / intents; returns how many were found."""
        raise NotImplementedError

    # --- multipart -------------------------------------------------------------------------
    async def create_multipart_upload(
        self,
        bucket: str,
        key: str,
        attrs: ObjectAttrs,
        *,
        checksum_algorithm: str = "",
        checksum_type: ChecksumType = ChecksumType.COMPOSITE,
    ) -> MultipartUpload:
        """Start an upload; the service issues the upload id. NoSuchBucket."""
        raise NotImplementedError

    async def get_multipart_upload(self, bucket: str, key: str, upload_id: str) -> MultipartUpload:
        """An in-progress upload. NoSuchBucket, NoSuchUpload."""
        raise NotImplementedError

    async def register_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        *,
        size: int,
        etag: str,
        blobs: Sequence[BlobRef],
        checksums: Sequence[Checksum] = (),
    ) -> Part:
        """Record an uploaded part (UploadPart / UploadPartCopy). Re-uploading a part number
        replaces it; the old blobs go to GC. Clears the blobs' write intents. NoSuchBucket,
        NoSuchUpload, InvalidArgument (part number outside 1..10000)."""
        raise NotImplementedError

    async def list_parts(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        *,
        max_parts: int = 1000,
        part_number_marker: int = 0,
    ) -> ListPartsPage:
        """Parts with number > part_number_marker, ascending. NoSuchBucket, NoSuchUpload."""
        raise NotImplementedError

    async def list_multipart_uploads(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        max_uploads: int = 1000,
        key_marker: str = "",
        upload_id_marker: str = "",
    ) -> ListUploadsPage:
        """In-progress uploads, key ascending then initiation order. NoSuchBucket."""
        raise NotImplementedError

    async def complete_multipart_upload(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        parts: Sequence[CompletedPart],
        *,
        checksums: Sequence[Checksum] = (),
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> ObjectVersion:
        """Validate and commit the object. ETag = hex MD5 of the parts' binary MD5s + "-N".
        `checksums`: a FULL_OBJECT checksum the client sent for the whole object, stored as
        given; for COMPOSITE uploads the service computes the checksum of part checksums.
        Errors: MalformedXML (empty list), InvalidArgument (part number outside 1..10000),
        InvalidPartOrder, InvalidPart, EntityTooSmall, NoSuchUpload, PreconditionFailed.
        Completing again with the same list returns the same version. Unlisted parts go to
        GC."""
        raise NotImplementedError

    async def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """Drop the upload; its parts' blobs go to GC. NoSuchBucket, NoSuchUpload."""
        raise NotImplementedError

    # --- IAM -------------------------------------------------------------------------------
    async def create_user(self, name: str) -> User:
        """UserAlreadyExists."""
        raise NotImplementedError

    async def get_user(self, name: str) -> User:
        """NoSuchUser."""
        raise NotImplementedError

    async def list_users(self) -> tuple[User, ...]:
        raise NotImplementedError

    async def delete_user(self, name: str) -> None:
        """NoSuchUser; DeleteConflict while it has access keys or policies."""
        raise NotImplementedError

    async def create_access_key(
        self,
        user_name: str,
        *,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> AccessKey:
        """A new key pair (generated unless given). NoSuchUser, AccessKeyAlreadyExists."""
        raise NotImplementedError

    async def get_access_key(self, access_key_id: str) -> AccessKey:
        """For SigV4: the secret, status and owning user. NoSuchAccessKey."""
        raise NotImplementedError

    async def list_access_keys(self, user_name: str) -> tuple[AccessKey, ...]:
        """NoSuchUser."""
        raise NotImplementedError

    async def set_access_key_status(self, access_key_id: str, status: AccessKeyStatus) -> AccessKey:
        """NoSuchAccessKey."""
        raise NotImplementedError

    async def delete_access_key(self, access_key_id: str) -> None:
        """NoSuchAccessKey."""
        raise NotImplementedError

    async def put_user_policy(self, user_name: str, policy_name: str, document: str) -> None:
        """Attach (or replace) a named inline policy, stored verbatim. NoSuchUser."""
        raise NotImplementedError

    async def get_user_policy(self, user_name: str, policy_name: str) -> Policy:
        """NoSuchUser, NoSuchPolicy."""
        raise NotImplementedError

    async def list_user_policies(self, user_name: str) -> tuple[Policy, ...]:
        """All of a user's policies with their documents, by name. NoSuchUser."""
        raise NotImplementedError

    async def delete_user_policy(self, user_name: str, policy_name: str) -> None:
        """NoSuchUser, NoSuchPolicy."""
        raise NotImplementedError
