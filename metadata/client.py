"""Typed async client of the metadata service (the only caller-side module touching its stubs).

`MetadataClient(addr)` exposes one coroutine per RPC, taking and returning the dataclasses of
`cairn.metadata.models`. Failures raise the typed errors of `cairn.metadata.errors` (re-exported
here): the server's reason string selects the class, so callers never look at message text.
A call that cannot reach the service or exceeds its deadline raises `MetadataUnavailable`.
Every call carries a deadline (`deadline_s`, default cairn.rpc.DEFAULT_DEADLINE_S).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
import grpc.aio

from cairn import rpc
from cairn.metadata import wire
from cairn.metadata.errors import (  # noqa: F401  (re-exported for callers)
    ERRORS_BY_REASON,
    AccessKeyAlreadyExists,
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    DeleteConflict,
    EntityTooSmall,
    IntentExpired,
    InternalError,
    InvalidArgument,
    InvalidBucketName,
    InvalidPart,
    InvalidPartOrder,
    KeyTooLongError,
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
from cairn.proto import metadata_pb2
from cairn.rpc import DEFAULT_DEADLINE_S

_SERVICE = "/cairn.metadata.v1.Metadata/"
_VERSION_ID_KEY = "cairn-version-id"
_DELETE_MARKER_KEY = "cairn-delete-marker"
_LAST_MODIFIED_KEY = "cairn-last-modified-ms"
_UNAVAILABLE = (
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
)


def error_from_rpc(err: grpc.RpcError) -> MetadataError:
    """The typed error a failed call stands for (MetadataUnavailable when no reason came)."""
    reason = rpc.reason_of(err)
    cls = ERRORS_BY_REASON.get(reason or "")
    details = err.details() if hasattr(err, "details") else ""
    if cls is None:
        status = rpc.status_of(err)
        text = f"metadata service call failed: {status} {details or ''}"
        if status in _UNAVAILABLE:
            return MetadataUnavailable(text)
        return InternalError(text)
    extra: dict[str, str] = {}
    trailing = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    for key, value in trailing or ():
        extra[key] = value if isinstance(value, str) else value.decode()
    return cls(
        details or "",
        version_id=extra.get(_VERSION_ID_KEY),
        is_delete_marker=extra.get(_DELETE_MARKER_KEY) == "true",
        last_modified_ms=int(extra.get(_LAST_MODIFIED_KEY, "0") or 0),
    )


class MetadataClient:
    """Async client for one metadata service at `addr` ("host:port")."""

    def __init__(self, addr: str, *, deadline_s: float = DEFAULT_DEADLINE_S) -> None:
        self.addr = addr
        self.deadline_s = deadline_s
        self._channel = rpc.channel(addr)
        self._methods: dict[str, Any] = {}

    async def close(self) -> None:
        """Close the channel."""
        await self._channel.close()

    async def _call(self, rpc_name: str, result_type: Any, **fields: Any) -> Any:
        method = self._methods.get(rpc_name)
        request_cls = getattr(metadata_pb2, f"{rpc_name}Request")
        response_cls = getattr(metadata_pb2, f"{rpc_name}Response")
        if method is None:
            method = self._channel.unary_unary(
                _SERVICE + rpc_name,
                request_serializer=request_cls.SerializeToString,
                response_deserializer=response_cls.FromString,
            )
            self._methods[rpc_name] = method
        request = request_cls()
        for name, value in fields.items():
            wire.set_field(request, name, value)
        try:
            response = await method(request, timeout=self.deadline_s)
        except grpc.RpcError as err:
            raise error_from_rpc(err) from None
        return None if result_type is None else wire.get_field(response, "result", result_type)

    async def __aenter__(self) -> MetadataClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- buckets -------------------------------------------------------------------------
    async def create_bucket(self, name: str, owner_id: str, *, region: str = "") -> Bucket:
        """Create a bucket. InvalidBucketName, BucketAlreadyExists (another owner),
        BucketAlreadyOwnedByYou (same owner)."""
        result: Bucket = await self._call("CreateBucket", Bucket, name=name, owner_id=owner_id, region=region)
        return result

    async def get_bucket(self, name: str) -> Bucket:
        """HeadBucket / bucket lookup. NoSuchBucket."""
        result: Bucket = await self._call("GetBucket", Bucket, name=name)
        return result

    async def delete_bucket(self, name: str) -> None:
        """Delete an empty bucket. NoSuchBucket; BucketNotEmpty while any version, delete
        marker or in-progress multipart upload remains."""
        await self._call("DeleteBucket", None, name=name)

    async def list_buckets(self, owner_id: str | None = None) -> tuple[Bucket, ...]:
        """Buckets by name; only `owner_id`'s when given."""
        result: tuple[Bucket, ...] = await self._call("ListBuckets", tuple[Bucket, ...], owner_id=owner_id)
        return result

    async def set_bucket_versioning(self, name: str, state: VersioningState) -> Bucket:
        """ENABLED or SUSPENDED (UNVERSIONED is InvalidArgument: a bucket never goes back).
        NoSuchBucket."""
        result: Bucket = await self._call("SetBucketVersioning", Bucket, name=name, state=state)
        return result

    async def put_bucket_policy(self, name: str, document: str) -> None:
        """Store the bucket policy verbatim. NoSuchBucket."""
        await self._call("PutBucketPolicy", None, name=name, document=document)

    async def get_bucket_policy(self, name: str) -> Policy:
        """NoSuchBucket, NoSuchBucketPolicy."""
        result: Policy = await self._call("GetBucketPolicy", Policy, name=name)
        return result

    async def delete_bucket_policy(self, name: str) -> None:
        """Idempotent. NoSuchBucket."""
        await self._call("DeleteBucketPolicy", None, name=name)

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
        result: ObjectVersion = await self._call(
            "PutObject",
            ObjectVersion,
            bucket=bucket,
            key=key,
            attrs=attrs,
            if_match=if_match,
            if_none_match=if_none_match,
        )
        return result

    async def get_object(self, bucket: str, key: str, version_id: str | None = None) -> ObjectVersion:
        """The current version, or `version_id` ("null" names the null version).
        NoSuchBucket; NoSuchKey (is_delete_marker/version_id/last_modified_ms set when the
        current version is a delete marker); NoSuchVersion; MethodNotAllowed when
        `version_id` names a delete marker; InvalidArgument for a malformed version id."""
        result: ObjectVersion = await self._call(
            "GetObject", ObjectVersion, bucket=bucket, key=key, version_id=version_id
        )
        return result

    async def head_object(self, bucket: str, key: str, version_id: str | None = None) -> ObjectVersion:
        """Same lookup and errors as get_object."""
        result: ObjectVersion = await self._call(
            "HeadObject", ObjectVersion, bucket=bucket, key=key, version_id=version_id
        )
        return result

    async def delete_object(self, bucket: str, key: str, version_id: str | None = None) -> DeleteResult:
        """DeleteObject with S3's rules: versioned bucket without version id adds a delete
        marker; with a version id removes that version or marker for good; unversioned
        removes the null version; suspended removes the null version and adds a null delete
        marker. Deleting something absent succeeds. NoSuchBucket; InvalidArgument."""
        result: DeleteResult = await self._call(
            "DeleteObject", DeleteResult, bucket=bucket, key=key, version_id=version_id
        )
        return result

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
        result: ListObjectsV2Page = await self._call(
            "ListObjectsV2",
            ListObjectsV2Page,
            bucket=bucket,
            prefix=prefix,
            delimiter=delimiter,
            max_keys=max_keys,
            continuation_token=continuation_token,
            start_after=start_after,
            fetch_owner=fetch_owner,
        )
        return result

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
        result: ListObjectsV1Page = await self._call(
            "ListObjectsV1",
            ListObjectsV1Page,
            bucket=bucket,
            prefix=prefix,
            delimiter=delimiter,
            max_keys=max_keys,
            marker=marker,
        )
        return result

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
        result: ListVersionsPage = await self._call(
            "ListObjectVersions",
            ListVersionsPage,
            bucket=bucket,
            prefix=prefix,
            delimiter=delimiter,
            max_keys=max_keys,
            key_marker=key_marker,
            version_id_marker=version_id_marker,
        )
        return result

    # --- write intents and GC --------------------------------------------------------------
    async def record_write_intent(
        self, bucket: str, key: str, blob_id: bytes, pg: int, *, ttl_s: float | None = None
    ) -> WriteIntent:
        """Record that `blob_id` is about to be written on `pg` for (bucket, key); the service
        chooses the expiry (ttl_s or its configured default). Committing a version or
        registering a part that names the blob clears it. NoSuchBucket."""
        result: WriteIntent = await self._call(
            "RecordWriteIntent", WriteIntent, bucket=bucket, key=key, blob_id=blob_id, pg=pg, ttl_s=ttl_s
        )
        return result

    async def list_gc_work(self, limit: int = 1000) -> tuple[GcItem, ...]:
        """Blobs to reclaim: the GC queue plus expired write intents never committed."""
        result: tuple[GcItem, ...] = await self._call("ListGcWork", tuple[GcItem, ...], limit=limit)
        return result

    async def ack_gc_work(self, blob_ids: Sequence[bytes]) -> int:
        """Drop reclaimed blobs from the GC queue / intents; returns how many were found."""
        result: int = await self._call("AckGcWork", int, blob_ids=blob_ids)
        return result

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
        result: MultipartUpload = await self._call(
            "CreateMultipartUpload",
            MultipartUpload,
            bucket=bucket,
            key=key,
            attrs=attrs,
            checksum_algorithm=checksum_algorithm,
            checksum_type=checksum_type,
        )
        return result

    async def get_multipart_upload(self, bucket: str, key: str, upload_id: str) -> MultipartUpload:
        """An in-progress upload. NoSuchBucket, NoSuchUpload."""
        result: MultipartUpload = await self._call(
            "GetMultipartUpload", MultipartUpload, bucket=bucket, key=key, upload_id=upload_id
        )
        return result

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
        result: Part = await self._call(
            "RegisterPart",
            Part,
            bucket=bucket,
            key=key,
            upload_id=upload_id,
            part_number=part_number,
            size=size,
            etag=etag,
            blobs=blobs,
            checksums=checksums,
        )
        return result

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
        result: ListPartsPage = await self._call(
            "ListParts",
            ListPartsPage,
            bucket=bucket,
            key=key,
            upload_id=upload_id,
            max_parts=max_parts,
            part_number_marker=part_number_marker,
        )
        return result

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
        result: ListUploadsPage = await self._call(
            "ListMultipartUploads",
            ListUploadsPage,
            bucket=bucket,
            prefix=prefix,
            delimiter=delimiter,
            max_uploads=max_uploads,
            key_marker=key_marker,
            upload_id_marker=upload_id_marker,
        )
        return result

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
        result: ObjectVersion = await self._call(
            "CompleteMultipartUpload",
            ObjectVersion,
            bucket=bucket,
            key=key,
            upload_id=upload_id,
            parts=parts,
            checksums=checksums,
            if_match=if_match,
            if_none_match=if_none_match,
        )
        return result

    async def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """Drop the upload; its parts' blobs go to GC. NoSuchBucket, NoSuchUpload."""
        await self._call("AbortMultipartUpload", None, bucket=bucket, key=key, upload_id=upload_id)

    # --- IAM -------------------------------------------------------------------------------
    async def create_user(self, name: str) -> User:
        """UserAlreadyExists."""
        result: User = await self._call("CreateUser", User, name=name)
        return result

    async def get_user(self, name: str) -> User:
        """NoSuchUser."""
        result: User = await self._call("GetUser", User, name=name)
        return result

    async def list_users(self) -> tuple[User, ...]:
        result: tuple[User, ...] = await self._call("ListUsers", tuple[User, ...])
        return result

    async def delete_user(self, name: str) -> None:
        """NoSuchUser; DeleteConflict while it has access keys or policies."""
        await self._call("DeleteUser", None, name=name)

    async def create_access_key(
        self,
        user_name: str,
        *,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> AccessKey:
        """A new key pair (generated unless given). NoSuchUser, AccessKeyAlreadyExists."""
        result: AccessKey = await self._call(
            "CreateAccessKey",
            AccessKey,
            user_name=user_name,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
        )
        return result

    async def get_access_key(self, access_key_id: str) -> AccessKey:
        """For SigV4: the secret, status and owning user. NoSuchAccessKey."""
        result: AccessKey = await self._call("GetAccessKey", AccessKey, access_key_id=access_key_id)
        return result

    async def list_access_keys(self, user_name: str) -> tuple[AccessKey, ...]:
        """NoSuchUser."""
        result: tuple[AccessKey, ...] = await self._call(
            "ListAccessKeys", tuple[AccessKey, ...], user_name=user_name
        )
        return result

    async def set_access_key_status(self, access_key_id: str, status: AccessKeyStatus) -> AccessKey:
        """NoSuchAccessKey."""
        result: AccessKey = await self._call(
            "SetAccessKeyStatus", AccessKey, access_key_id=access_key_id, status=status
        )
        return result

    async def delete_access_key(self, access_key_id: str) -> None:
        """NoSuchAccessKey."""
        await self._call("DeleteAccessKey", None, access_key_id=access_key_id)

    async def put_user_policy(self, user_name: str, policy_name: str, document: str) -> None:
        """Attach (or replace) a named inline policy, stored verbatim. NoSuchUser."""
        await self._call(
            "PutUserPolicy", None, user_name=user_name, policy_name=policy_name, document=document
        )

    async def get_user_policy(self, user_name: str, policy_name: str) -> Policy:
        """NoSuchUser, NoSuchPolicy."""
        result: Policy = await self._call(
            "GetUserPolicy", Policy, user_name=user_name, policy_name=policy_name
        )
        return result

    async def list_user_policies(self, user_name: str) -> tuple[Policy, ...]:
        """All of a user's policies with their documents, by name. NoSuchUser."""
        result: tuple[Policy, ...] = await self._call(
            "ListUserPolicies", tuple[Policy, ...], user_name=user_name
        )
        return result

    async def delete_user_policy(self, user_name: str, policy_name: str) -> None:
        """NoSuchUser, NoSuchPolicy."""
        await self._call("DeleteUserPolicy", None, user_name=user_name, policy_name=policy_name)
