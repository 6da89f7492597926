"""Typed async client of the metadata service: one coroutine per RPC of `Metadata`.

`MetadataClient(addr)` takes and returns the dataclasses of `cairn.metadata.models` (converted by
`rpc_convert`) and calls the generated typed stub, so mypy checks each request and response
against proto/metadata.proto. Failures raise the typed errors of `cairn.metadata.errors`
(re-exported here, with the models): the reason the server sent selects the class
(`rpc_errors.ERRORS`), so callers never look at message text. A call that cannot reach the
service or exceeds its deadline raises `MetadataUnavailable`. Every call carries a deadline
(`deadline_s`, default cairn.rpc.DEFAULT_DEADLINE_S).

`addr` may list the replicas of the metadata Raft group, comma-separated, or name one of them.
The client sends each call to the replica it believes leads; a `NotLeader` answer moves it to
the leader the replica names (added to the list if it was not in it) or else the next replica
(a client of one address that gets no hint gives up), an unreachable replica or a group without a majority
(`MetadataUnavailable`) to the next one after a short backoff, until the call's deadline; then
the last error is raised. Calls of the S3 hot path made while others are in flight on the same
channel are coalesced into one `Batch` RPC (`rpc_batch.py`); each keeps its own outcome, deadline
and retries. Every mutating request carries a request id, chosen once per call and
kept across these retries: a write that a leader applied before failing to answer is not
applied again, the retry gets its first result (`dedup.py`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import grpc

from cairn import rpc
from cairn.blobs import BlobRef
from cairn.metadata import rpc_convert as cv
from cairn.metadata.errors import (  # noqa: F401  (re-exported for callers)
    AccessKeyAlreadyExists,
    BadDigest,
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
    Bucket,
    BucketConfig,
    BucketContext,
    Checksum,
    ChecksumType,
    CompletedPart,
    DeleteResult,
    GcItem,
    GcReason,
    KmsKey,
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
    RepairItem,
    RepairReport,
    ResealPage,
    User,
    VersioningState,
    WriteIntent,
)
from cairn.metadata.rpc_batch import BATCHABLE, Coalescer
from cairn.metadata.rpc_errors import ERRORS, LEADER_KEY
from cairn.proto import metadata_pb2 as pb
from cairn.proto import metadata_pb2_grpc
from cairn.replication import ReplicaStatus
from cairn.rpc import DEFAULT_DEADLINE_S

_BACKOFF_S = (0.0, 0.05, 0.1, 0.2, 0.4)


class _Replicas:
    """The generated stub's interface over every replica of the group: each method call goes to
    the believed leader and follows NotLeader hints and failures until the call's deadline."""

    def __init__(self, addrs: Sequence[str]) -> None:
        self.addrs = list(addrs)
        self.channels = [rpc.channel(a, server_role="metadata") for a in self.addrs]
        self.stubs = [metadata_pb2_grpc.MetadataStub(ch) for ch in self.channels]
        self.coalescers = [Coalescer(stub) for stub in self.stubs]
        self.current = 0

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        async def call(request: Any, *, timeout: float) -> Any:
            return await self._call(name, request, timeout)

        return call

    async def _call(self, name: str, request: Any, timeout: float) -> Any:
        if "request_id" in request.DESCRIPTOR.fields_by_name and not request.request_id:
            request.request_id = uuid.uuid4().hex  # one id per logical call, kept across retries
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        failures = 0
        while True:
            index = self.current
            remaining = deadline - loop.time()
            try:
                if name in BATCHABLE:
                    return await self.coalescers[index].call(name, request, max(remaining, 0.001))
                return await getattr(self.stubs[index], name)(request, timeout=max(remaining, 0.001))
            except grpc.RpcError as err:
                reason = rpc.reason_of(err)
                if reason == "NotLeader":
                    self.current = self._leader_of(err, index)
                elif (reason is None and rpc.status_of(err) == grpc.StatusCode.UNAVAILABLE) or (
                    reason == "MetadataUnavailable"
                ):
                    if self.current == index:
                        self.current = (index + 1) % len(self.addrs)
                else:
                    raise
                pause = _BACKOFF_S[min(failures, len(_BACKOFF_S) - 1)]
                failures += 1
                if loop.time() + pause >= deadline or len(self.addrs) == 1:
                    raise
                await asyncio.sleep(pause)

    def _leader_of(self, err: grpc.RpcError, index: int) -> int:
        """The replica a NotLeader answer names (added to the list when the client was not
        given it, e.g. a client of one address), else the next one."""
        trailing = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
        for key, value in trailing or ():
            hint = value if isinstance(value, str) else value.decode()
            if key != LEADER_KEY or not hint:
                continue
            if hint not in self.addrs:
                self.addrs.append(hint)
                self.channels.append(rpc.channel(hint))
                self.stubs.append(metadata_pb2_grpc.MetadataStub(self.channels[-1]))
                self.coalescers.append(Coalescer(self.stubs[-1]))
            if self.addrs.index(hint) != index:
                return self.addrs.index(hint)
        return (index + 1) % len(self.addrs)


class MetadataClient:
    """Async client of the metadata service at `addr` ("host:port", or a comma-separated list
    of the group's replicas)."""

    def __init__(self, addr: str, *, deadline_s: float = DEFAULT_DEADLINE_S) -> None:
        self.addr = addr
        self.deadline_s = deadline_s
        self._replicas = _Replicas([a.strip() for a in addr.split(",") if a.strip()])
        # The stub's interface (MetadataAsyncStub exists only for type checking) over the replicas.
        self._stub = cast("metadata_pb2_grpc.MetadataAsyncStub", self._replicas)

    async def close(self) -> None:
        """Close the channels."""
        for channel in self._replicas.channels:
            await channel.close()

    async def __aenter__(self) -> MetadataClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- buckets -------------------------------------------------------------------------
    async def create_bucket(self, name: str, owner_id: str, *, region: str = "") -> Bucket:
        """Create a bucket. InvalidBucketName, BucketAlreadyExists (another owner),
        BucketAlreadyOwnedByYou (same owner)."""
        request = pb.CreateBucketRequest(name=name, owner_id=owner_id, region=region)
        with ERRORS.translated():
            response = await self._stub.CreateBucket(request, timeout=self.deadline_s)
        return cv.bucket_from_pb(response.result)

    async def get_bucket(self, name: str) -> Bucket:
        """HeadBucket / bucket lookup. NoSuchBucket."""
        request = pb.GetBucketRequest(name=name)
        with ERRORS.translated():
            response = await self._stub.GetBucket(request, timeout=self.deadline_s)
        return cv.bucket_from_pb(response.result)

    async def delete_bucket(self, name: str) -> None:
        """Delete an empty bucket. NoSuchBucket; BucketNotEmpty while any version, delete
        marker or in-progress multipart upload remains."""
        request = pb.DeleteBucketRequest(name=name)
        with ERRORS.translated():
            await self._stub.DeleteBucket(request, timeout=self.deadline_s)

    async def list_buckets(self, owner_id: str | None = None) -> tuple[Bucket, ...]:
        """Buckets by name; only `owner_id`'s when given."""
        request = pb.ListBucketsRequest(owner_id=owner_id)
        with ERRORS.translated():
            response = await self._stub.ListBuckets(request, timeout=self.deadline_s)
        return tuple(cv.bucket_from_pb(b) for b in response.result)

    async def set_bucket_versioning(self, name: str, state: VersioningState) -> Bucket:
        """ENABLED or SUSPENDED (UNVERSIONED is InvalidArgument: a bucket never goes back).
        NoSuchBucket."""
        request = pb.SetBucketVersioningRequest(name=name, state=state.value)
        with ERRORS.translated():
            response = await self._stub.SetBucketVersioning(request, timeout=self.deadline_s)
        return cv.bucket_from_pb(response.result)

    async def put_bucket_policy(self, name: str, document: str) -> None:
        """Store the bucket policy verbatim. NoSuchBucket."""
        request = pb.PutBucketPolicyRequest(name=name, document=document)
        with ERRORS.translated():
            await self._stub.PutBucketPolicy(request, timeout=self.deadline_s)

    async def get_bucket_policy(self, name: str) -> Policy:
        """NoSuchBucket, NoSuchBucketPolicy."""
        request = pb.GetBucketPolicyRequest(name=name)
        with ERRORS.translated():
            response = await self._stub.GetBucketPolicy(request, timeout=self.deadline_s)
        return cv.policy_from_pb(response.result)

    async def delete_bucket_policy(self, name: str) -> None:
        """Idempotent. NoSuchBucket."""
        request = pb.DeleteBucketPolicyRequest(name=name)
        with ERRORS.translated():
            await self._stub.DeleteBucketPolicy(request, timeout=self.deadline_s)

    async def put_bucket_config(self, name: str, kind: str, document: str) -> None:
        """Store the bucket's `kind` configuration document verbatim. NoSuchBucket."""
        request = pb.PutBucketConfigRequest(bucket=name, kind=kind, document=document)
        with ERRORS.translated():
            await self._stub.PutBucketConfig(request, timeout=self.deadline_s)

    async def get_bucket_config(self, name: str, kind: str) -> BucketConfig:
        """NoSuchBucket, NoSuchBucketConfig."""
        request = pb.GetBucketConfigRequest(bucket=name, kind=kind)
        with ERRORS.translated():
            response = await self._stub.GetBucketConfig(request, timeout=self.deadline_s)
        return cv.bucket_config_from_pb(response.result)

    async def delete_bucket_config(self, name: str, kind: str) -> None:
        """Idempotent. NoSuchBucket."""
        request = pb.DeleteBucketConfigRequest(bucket=name, kind=kind)
        with ERRORS.translated():
            await self._stub.DeleteBucketConfig(request, timeout=self.deadline_s)

    async def get_bucket_context(self, name: str) -> BucketContext:
        """The bucket, its policy and every configuration document, read together. NoSuchBucket."""
        request = pb.GetBucketContextRequest(name=name)
        with ERRORS.translated():
            response = await self._stub.GetBucketContext(request, timeout=self.deadline_s)
        return cv.bucket_context_from_pb(response)

    async def list_bucket_configs(self, kind: str) -> tuple[BucketConfig, ...]:
        """Every bucket's `kind` document, by bucket name."""
        request = pb.ListBucketConfigsRequest(kind=kind)
        with ERRORS.translated():
            response = await self._stub.ListBucketConfigs(request, timeout=self.deadline_s)
        return tuple(cv.bucket_config_from_pb(b) for b in response.result)

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
        versioning is ENABLED; an inline blob without its bytes, which the caller sent). Clears the write intents of `attrs.blobs`; a replaced null
        version's blobs go to GC. `if_match`: the current version's ETag must equal it
        (PreconditionFailed; NoSuchKey when there is no current object). `if_none_match`: no
        current object may exist (PreconditionFailed). Retrying with the same first blob id
        returns the version already committed. NoSuchBucket."""
        request = pb.PutObjectRequest(
            bucket=bucket,
            key=key,
            attrs=cv.attrs_to_pb(attrs),
            if_match=if_match,
            if_none_match=if_none_match,
        )
        with ERRORS.translated():
            response = await self._stub.PutObject(request, timeout=self.deadline_s)
        return cv.version_from_pb(response.result)

    async def get_object(self, bucket: str, key: str, version_id: str | None = None) -> ObjectVersion:
        """The current version, or `version_id` ("null" names the null version).
        NoSuchBucket; NoSuchKey (is_delete_marker/version_id/last_modified_ms set when the
        current version is a delete marker); NoSuchVersion; MethodNotAllowed when
        `version_id` names a delete marker; InvalidArgument for a malformed version id."""
        request = pb.GetObjectRequest(bucket=bucket, key=key, version_id=version_id)
        with ERRORS.translated():
            response = await self._stub.GetObject(request, timeout=self.deadline_s)
        return cv.version_from_pb(response.result)

    async def head_object(self, bucket: str, key: str, version_id: str | None = None) -> ObjectVersion:
        """Same lookup and errors as get_object."""
        request = pb.HeadObjectRequest(bucket=bucket, key=key, version_id=version_id)
        with ERRORS.translated():
            response = await self._stub.HeadObject(request, timeout=self.deadline_s)
        return cv.version_from_pb(response.result)

    async def delete_object(self, bucket: str, key: str, version_id: str | None = None) -> DeleteResult:
        """DeleteObject with S3's rules: versioned bucket without version id adds a delete
        marker; with a version id removes that version or marker for good; unversioned
        removes the null version; suspended removes the null version and adds a null delete
        marker. Deleting something absent succeeds. NoSuchBucket; InvalidArgument."""
        request = pb.DeleteObjectRequest(bucket=bucket, key=key, version_id=version_id)
        with ERRORS.translated():
            response = await self._stub.DeleteObject(request, timeout=self.deadline_s)
        return cv.delete_result_from_pb(response.result)

    async def set_object_tags(
        self, bucket: str, key: str, tags: Sequence[tuple[str, str]], version_id: str | None = None
    ) -> str:
        """Replace the tag set of a version (the current one without version_id; () removes
        every tag); returns that version's id. NoSuchBucket; NoSuchKey; NoSuchVersion;
        MethodNotAllowed on a delete marker; InvalidArgument."""
        request = pb.SetObjectTagsRequest(
            bucket=bucket, key=key, version_id=version_id, tags=cv.pairs_to_pb(tuple(tags))
        )
        with ERRORS.translated():
            response = await self._stub.SetObjectTags(request, timeout=self.deadline_s)
        return response.version_id

    async def set_object_acl(self, bucket: str, key: str, acl: str, version_id: str | None = None) -> str:
        """Replace the ACL of a version (the current one without version_id); returns that
        version's id. Errors as set_object_tags."""
        request = pb.SetObjectAclRequest(bucket=bucket, key=key, version_id=version_id, acl=acl)
        with ERRORS.translated():
            response = await self._stub.SetObjectAcl(request, timeout=self.deadline_s)
        return response.version_id

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
        request = pb.ListObjectsV2Request(
            bucket=bucket,
            prefix=prefix,
            delimiter=delimiter,
            max_keys=max_keys,
            continuation_token=continuation_token,
            start_after=start_after,
            fetch_owner=fetch_owner,
        )
        with ERRORS.translated():
            response = await self._stub.ListObjectsV2(request, timeout=self.deadline_s)
        return cv.objects_v2_page_from_pb(response.result)

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
        request = pb.ListObjectsV1Request(
            bucket=bucket, prefix=prefix, delimiter=delimiter, max_keys=max_keys, marker=marker
        )
        with ERRORS.translated():
            response = await self._stub.ListObjectsV1(request, timeout=self.deadline_s)
        return cv.objects_v1_page_from_pb(response.result)

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
        request = pb.ListObjectVersionsRequest(
            bucket=bucket,
            prefix=prefix,
            delimiter=delimiter,
            max_keys=max_keys,
            key_marker=key_marker,
            version_id_marker=version_id_marker,
        )
        with ERRORS.translated():
            response = await self._stub.ListObjectVersions(request, timeout=self.deadline_s)
        return cv.versions_page_from_pb(response.result)

    # --- write intents and GC --------------------------------------------------------------
    async def record_write_intent(
        self, bucket: str, key: str, blob_id: bytes, pg: int, *, ttl_s: float | None = None
    ) -> WriteIntent:
        """Record that `blob_id` is about to be written on `pg` for (bucket, key); the service
        chooses the expiry (ttl_s or its configured default). Committing a version or
        registering a part that names the blob clears it. NoSuchBucket."""
        request = pb.RecordWriteIntentRequest(bucket=bucket, key=key, blob_id=blob_id, pg=pg, ttl_s=ttl_s)
        with ERRORS.translated():
            response = await self._stub.RecordWriteIntent(request, timeout=self.deadline_s)
        return cv.intent_from_pb(response.result)

    async def list_gc_work(self, limit: int = 1000) -> tuple[GcItem, ...]:
        """Blobs to reclaim: the GC queue plus expired write intents never committed."""
        request = pb.ListGcWorkRequest(limit=limit)
        with ERRORS.translated():
            response = await self._stub.ListGcWork(request, timeout=self.deadline_s)
        return tuple(cv.gc_item_from_pb(i) for i in response.result)

    async def find_blobs(self, blob_ids: Sequence[bytes]) -> tuple[bytes, ...]:
        """Which of `blob_ids` metadata still knows (a version, an open upload's part, a write
        intent or the GC queue), in the order given; the others are orphans."""
        request = pb.FindBlobsRequest(blob_ids=blob_ids)
        with ERRORS.translated():
            response = await self._stub.FindBlobs(request, timeout=self.deadline_s)
        return tuple(response.result)

    async def ack_gc_work(self, blob_ids: Sequence[bytes]) -> int:
        """Drop reclaimed blobs from the GC queue / intents; returns how many were found."""
        request = pb.AckGcWorkRequest(blob_ids=blob_ids)
        with ERRORS.translated():
            response = await self._stub.AckGcWork(request, timeout=self.deadline_s)
        return response.result

    # --- the repair queue ------------------------------------------------------------------
    async def queue_repairs(self, reports: Sequence[RepairReport]) -> int:
        """Queue shards found missing or corrupt for the repair worker; returns how many."""
        request = pb.QueueRepairsRequest(reports=[cv.repair_report_to_pb(r) for r in reports])
        with ERRORS.translated():
            response = await self._stub.QueueRepairs(request, timeout=self.deadline_s)
        return response.result

    async def list_repair_queue(self, limit: int = 1000) -> tuple[RepairItem, ...]:
        """The queued repair items, oldest first."""
        request = pb.ListRepairQueueRequest(limit=limit)
        with ERRORS.translated():
            response = await self._stub.ListRepairQueue(request, timeout=self.deadline_s)
        return tuple(cv.repair_item_from_pb(i) for i in response.result)

    async def ack_repairs(self, ids: Sequence[int]) -> int:
        """Drop repaired items by id; returns how many were still queued."""
        request = pb.AckRepairsRequest(ids=ids)
        with ERRORS.translated():
            response = await self._stub.AckRepairs(request, timeout=self.deadline_s)
        return response.result

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
        request = pb.CreateMultipartUploadRequest(
            bucket=bucket,
            key=key,
            attrs=cv.attrs_to_pb(attrs),
            checksum_algorithm=checksum_algorithm,
            checksum_type=checksum_type.value,
        )
        with ERRORS.translated():
            response = await self._stub.CreateMultipartUpload(request, timeout=self.deadline_s)
        return cv.upload_from_pb(response.result)

    async def get_multipart_upload(self, bucket: str, key: str, upload_id: str) -> MultipartUpload:
        """An in-progress upload. NoSuchBucket, NoSuchUpload."""
        request = pb.GetMultipartUploadRequest(bucket=bucket, key=key, upload_id=upload_id)
        with ERRORS.translated():
            response = await self._stub.GetMultipartUpload(request, timeout=self.deadline_s)
        return cv.upload_from_pb(response.result)

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
        request = pb.RegisterPartRequest(
            bucket=bucket,
            key=key,
            upload_id=upload_id,
            part_number=part_number,
            size=size,
            etag=etag,
            blobs=[cv.blob_to_pb(b) for b in blobs],
            checksums=[cv.checksum_to_pb(c) for c in checksums],
        )
        with ERRORS.translated():
            response = await self._stub.RegisterPart(request, timeout=self.deadline_s)
        return cv.part_from_pb(response.result)

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
        request = pb.ListPartsRequest(
            bucket=bucket,
            key=key,
            upload_id=upload_id,
            max_parts=max_parts,
            part_number_marker=part_number_marker,
        )
        with ERRORS.translated():
            response = await self._stub.ListParts(request, timeout=self.deadline_s)
        return cv.parts_page_from_pb(response.result)

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
        request = pb.ListMultipartUploadsRequest(
            bucket=bucket,
            prefix=prefix,
            delimiter=delimiter,
            max_uploads=max_uploads,
            key_marker=key_marker,
            upload_id_marker=upload_id_marker,
        )
        with ERRORS.translated():
            response = await self._stub.ListMultipartUploads(request, timeout=self.deadline_s)
        return cv.uploads_page_from_pb(response.result)

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
        `checksums`: the object checksum the client stated (FULL_OBJECT, or COMPOSITE: the
        checksum of the part checksums), checked against the one the parts make when the upload
        has that algorithm (BadDigest), stored as given when the parts carry no CRC to combine.
        Errors: MalformedXML (empty list), InvalidArgument (part number outside 1..10000),
        InvalidPartOrder, InvalidPart, EntityTooSmall, BadDigest, NoSuchUpload, PreconditionFailed.
        Completing again with the same list returns the same version. Unlisted parts go to
        GC."""
        request = pb.CompleteMultipartUploadRequest(
            bucket=bucket,
            key=key,
            upload_id=upload_id,
            parts=[cv.completed_part_to_pb(p) for p in parts],
            checksums=[cv.checksum_to_pb(c) for c in checksums],
            if_match=if_match,
            if_none_match=if_none_match,
        )
        with ERRORS.translated():
            response = await self._stub.CompleteMultipartUpload(request, timeout=self.deadline_s)
        return cv.version_from_pb(response.result)

    async def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """Drop the upload; its parts' blobs go to GC. NoSuchBucket, NoSuchUpload."""
        request = pb.AbortMultipartUploadRequest(bucket=bucket, key=key, upload_id=upload_id)
        with ERRORS.translated():
            await self._stub.AbortMultipartUpload(request, timeout=self.deadline_s)

    # --- IAM -------------------------------------------------------------------------------
    async def create_user(self, name: str) -> User:
        """UserAlreadyExists."""
        request = pb.CreateUserRequest(name=name)
        with ERRORS.translated():
            response = await self._stub.CreateUser(request, timeout=self.deadline_s)
        return cv.user_from_pb(response.result)

    async def get_user(self, name: str) -> User:
        """NoSuchUser."""
        request = pb.GetUserRequest(name=name)
        with ERRORS.translated():
            response = await self._stub.GetUser(request, timeout=self.deadline_s)
        return cv.user_from_pb(response.result)

    async def list_users(self) -> tuple[User, ...]:
        request = pb.ListUsersRequest()
        with ERRORS.translated():
            response = await self._stub.ListUsers(request, timeout=self.deadline_s)
        return tuple(cv.user_from_pb(u) for u in response.result)

    async def delete_user(self, name: str) -> None:
        """NoSuchUser; DeleteConflict while it has access keys or policies."""
        request = pb.DeleteUserRequest(name=name)
        with ERRORS.translated():
            await self._stub.DeleteUser(request, timeout=self.deadline_s)

    async def create_access_key(
        self,
        user_name: str,
        *,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> AccessKey:
        """A new key pair (generated unless given). NoSuchUser, AccessKeyAlreadyExists."""
        request = pb.CreateAccessKeyRequest(
            user_name=user_name, access_key_id=access_key_id, secret_access_key=secret_access_key
        )
        with ERRORS.translated():
            response = await self._stub.CreateAccessKey(request, timeout=self.deadline_s)
        return cv.access_key_from_pb(response.result)

    async def get_access_key(self, access_key_id: str) -> AccessKey:
        """The key's status and owning user; its secret is empty (see `signing_key`). NoSuchAccessKey."""
        request = pb.GetAccessKeyRequest(access_key_id=access_key_id)
        with ERRORS.translated():
            response = await self._stub.GetAccessKey(request, timeout=self.deadline_s)
        return cv.access_key_from_pb(response.result)

    async def signing_key(self, access_key_id: str, date: str, region: str, service: str) -> bytes:
        """SigV4's derived key for one date, region and service. NoSuchAccessKey, InvalidArgument."""
        request = pb.GetSigningKeyRequest(
            access_key_id=access_key_id, date=date, region=region, service=service
        )
        with ERRORS.translated():
            response = await self._stub.GetSigningKey(request, timeout=self.deadline_s)
        return response.signing_key

    async def sigv2_matches(self, access_key_id: str, string_to_sign: bytes, signature: str) -> bool:
        """Whether a V2 presigned signature is right. NoSuchAccessKey."""
        request = pb.VerifySigV2Request(
            access_key_id=access_key_id, string_to_sign=string_to_sign, signature=signature
        )
        with ERRORS.translated():
            response = await self._stub.VerifySigV2(request, timeout=self.deadline_s)
        return response.valid

    async def list_access_keys(self, user_name: str) -> tuple[AccessKey, ...]:
        """NoSuchUser."""
        request = pb.ListAccessKeysRequest(user_name=user_name)
        with ERRORS.translated():
            response = await self._stub.ListAccessKeys(request, timeout=self.deadline_s)
        return tuple(cv.access_key_from_pb(k) for k in response.result)

    async def set_access_key_status(self, access_key_id: str, status: AccessKeyStatus) -> AccessKey:
        """NoSuchAccessKey."""
        request = pb.SetAccessKeyStatusRequest(access_key_id=access_key_id, status=status.value)
        with ERRORS.translated():
            response = await self._stub.SetAccessKeyStatus(request, timeout=self.deadline_s)
        return cv.access_key_from_pb(response.result)

    async def delete_access_key(self, access_key_id: str) -> None:
        """NoSuchAccessKey."""
        request = pb.DeleteAccessKeyRequest(access_key_id=access_key_id)
        with ERRORS.translated():
            await self._stub.DeleteAccessKey(request, timeout=self.deadline_s)

    async def put_user_policy(self, user_name: str, policy_name: str, document: str) -> None:
        """Attach (or replace) a named inline policy, stored verbatim. NoSuchUser."""
        request = pb.PutUserPolicyRequest(user_name=user_name, policy_name=policy_name, document=document)
        with ERRORS.translated():
            await self._stub.PutUserPolicy(request, timeout=self.deadline_s)

    async def get_user_policy(self, user_name: str, policy_name: str) -> Policy:
        """NoSuchUser, NoSuchPolicy."""
        request = pb.GetUserPolicyRequest(user_name=user_name, policy_name=policy_name)
        with ERRORS.translated():
            response = await self._stub.GetUserPolicy(request, timeout=self.deadline_s)
        return cv.policy_from_pb(response.result)

    async def list_user_policies(self, user_name: str) -> tuple[Policy, ...]:
        """All of a user's policies with their documents, by name. NoSuchUser."""
        request = pb.ListUserPoliciesRequest(user_name=user_name)
        with ERRORS.translated():
            response = await self._stub.ListUserPolicies(request, timeout=self.deadline_s)
        return tuple(cv.policy_from_pb(p) for p in response.result)

    async def delete_user_policy(self, user_name: str, policy_name: str) -> None:
        """NoSuchUser, NoSuchPolicy."""
        request = pb.DeleteUserPolicyRequest(user_name=user_name, policy_name=policy_name)
        with ERRORS.translated():
            await self._stub.DeleteUserPolicy(request, timeout=self.deadline_s)

    # --- the Raft group -------------------------------------------------------------------
    async def replica_status(self) -> ReplicaStatus:
        """The answering replica's Raft view (role, term, commit/applied index, peers); any
        replica answers, so give the client one address to ask that one."""
        with ERRORS.translated():
            response = await self._stub.GetReplicaStatus(
                pb.GetReplicaStatusRequest(), timeout=self.deadline_s
            )
        return cv.replica_status_from_pb(response)

    # --- KMS (metadata/kms.py) ------------------------------------------------------------
    async def create_kms_key(self, alias: str = "", description: str = "") -> KmsKey:
        """A new enabled KMS key. KmsAliasExists, InvalidArgument, KmsNotConfigured."""
        request = pb.CreateKmsKeyRequest(alias=alias, description=description)
        with ERRORS.translated():
            response = await self._stub.CreateKmsKey(request, timeout=self.deadline_s)
        return cv.kms_key_from_pb(response.result)

    async def get_kms_key(self, key: str) -> KmsKey:
        """The key named by id, ARN, alias/NAME or alias ARN ("": the default key aws/s3, created
        on first use). NoSuchKmsKey."""
        request = pb.GetKmsKeyRequest(key=key)
        with ERRORS.translated():
            response = await self._stub.GetKmsKey(request, timeout=self.deadline_s)
        return cv.kms_key_from_pb(response.result)

    async def list_kms_keys(self) -> tuple[KmsKey, ...]:
        with ERRORS.translated():
            response = await self._stub.ListKmsKeys(pb.ListKmsKeysRequest(), timeout=self.deadline_s)
        return tuple(cv.kms_key_from_pb(k) for k in response.result)

    async def set_kms_key_enabled(self, key: str, enabled: bool) -> KmsKey:
        """NoSuchKmsKey."""
        request = pb.SetKmsKeyEnabledRequest(key=key, enabled=enabled)
        with ERRORS.translated():
            response = await self._stub.SetKmsKeyEnabled(request, timeout=self.deadline_s)
        return cv.kms_key_from_pb(response.result)

    async def generate_data_key(self, key: str, context: bytes) -> tuple[KmsKey, bytes, bytes]:
        """(the KMS key, a new data key, the data key sealed under it). NoSuchKmsKey, KmsKeyDisabled."""
        request = pb.GenerateKmsDataKeyRequest(key=key, context=context)
        with ERRORS.translated():
            response = await self._stub.GenerateKmsDataKey(request, timeout=self.deadline_s)
        return cv.kms_key_from_pb(response.key), response.plaintext, response.ciphertext

    async def decrypt(self, ciphertext: bytes, context: bytes) -> tuple[KmsKey, bytes]:
        """(the KMS key, the data key) of a generate_data_key ciphertext. NoSuchKmsKey,
        KmsKeyDisabled, KmsInvalidCiphertext."""
        request = pb.GetKmsDataKeyRequest(ciphertext=ciphertext, context=context)
        with ERRORS.translated():
            response = await self._stub.GetKmsDataKey(request, timeout=self.deadline_s)
        return cv.kms_key_from_pb(response.key), response.plaintext

    async def reseal_master_keys(self, target: int, cursor: str = "", limit: int = 500) -> ResealPage:
        """One page of a master-key rotation (metadata/kms.py). InvalidArgument, KmsNotConfigured."""
        request = pb.ResealMasterKeysRequest(target=target, cursor=cursor, limit=limit)
        with ERRORS.translated():
            r = await self._stub.ResealMasterKeys(request, timeout=self.deadline_s)
        return ResealPage(r.active, r.resealed, tuple(r.in_use), r.next_cursor, r.done, r.shards)
