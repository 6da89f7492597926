"""Conversion between the metadata messages (proto/metadata.proto) and the dataclasses of `models`.

The one place where a message field meets a dataclass field, one explicit function per type
and direction (`bucket_to_pb`, `bucket_from_pb`, ...), so mypy checks every field name and
type against the generated stubs. Used only by `rpc_server` and `client`.

Mapping: tuples <-> repeated fields; (name, value) pairs <-> repeated KeyValue; enums <-> their
string value (an unknown string is InvalidArgument); `X | None` <-> a proto3 `optional` field
(absent is None); a dataclass <-> its message.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import TypeVar

from cairn.blobs import BlobRef
from cairn.metadata.errors import InvalidArgument
from cairn.metadata.models import (
    AccessKey,
    AccessKeyStatus,
    Bucket,
    BucketConfig,
    BucketContext,
    Checksum,
    ChecksumType,
    CompletedPart,
    DeleteResult,
    Encryption,
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
    User,
    VersioningState,
    WriteIntent,
)
from cairn.proto import metadata_pb2 as pb
from cairn.replication import PeerStatus, ReplicaStatus

E = TypeVar("E", bound=enum.Enum)


def enum_from_pb(cls: type[E], value: str) -> E:
    """`cls(value)`, with an unknown value reported as the caller's InvalidArgument."""
    try:
        return cls(value)
    except ValueError:
        raise InvalidArgument(f"unknown {cls.__name__} {value!r}") from None


def pairs_to_pb(pairs: Iterable[tuple[str, str]]) -> list[pb.KeyValue]:
    return [pb.KeyValue(key=k, value=v) for k, v in pairs]


def pairs_from_pb(items: Iterable[pb.KeyValue]) -> tuple[tuple[str, str], ...]:
    return tuple((i.key, i.value) for i in items)


# --- values ------------------------------------------------------------------------------
def checksum_to_pb(c: Checksum) -> pb.Checksum:
    return pb.Checksum(algorithm=c.algorithm, value=c.value, type=c.type.value)


def checksum_from_pb(m: pb.Checksum) -> Checksum:
    return Checksum(algorithm=m.algorithm, value=m.value, type=enum_from_pb(ChecksumType, m.type))


def checksums_from_pb(items: Iterable[pb.Checksum]) -> tuple[Checksum, ...]:
    return tuple(checksum_from_pb(c) for c in items)


def blob_to_pb(b: BlobRef) -> pb.BlobRef:
    return pb.BlobRef(
        blob_id=b.blob_id,
        pg=b.pg,
        size=b.size,
        stripe_size=b.stripe_size,
        data_shards=b.data_shards,
        parity_shards=b.parity_shards,
        part_number=b.part_number,
        sealed_key=b.sealed_key,
        inline=b.inline,
    )


def blob_from_pb(m: pb.BlobRef) -> BlobRef:
    return BlobRef(
        blob_id=m.blob_id,
        pg=m.pg,
        size=m.size,
        stripe_size=m.stripe_size,
        data_shards=m.data_shards,
        parity_shards=m.parity_shards,
        part_number=m.part_number,
        sealed_key=m.sealed_key,
        inline=m.inline,
    )


def encryption_to_pb(e: Encryption) -> pb.Encryption:
    return pb.Encryption(
        algorithm=e.algorithm,
        kms_key_id=e.kms_key_id,
        kms_context=e.kms_context,
        customer_key_hmac=e.customer_key_hmac,
        bucket_key_enabled=e.bucket_key_enabled,
    )


def encryption_from_pb(m: pb.Encryption) -> Encryption:
    return Encryption(
        algorithm=m.algorithm,
        kms_key_id=m.kms_key_id,
        kms_context=m.kms_context,
        customer_key_hmac=m.customer_key_hmac,
        bucket_key_enabled=m.bucket_key_enabled,
    )


def blobs_from_pb(items: Iterable[pb.BlobRef]) -> tuple[BlobRef, ...]:
    return tuple(blob_from_pb(b) for b in items)


def bucket_to_pb(b: Bucket) -> pb.Bucket:
    return pb.Bucket(
        name=b.name,
        id=b.id,
        owner_id=b.owner_id,
        versioning=b.versioning.value,
        created_ms=b.created_ms,
        region=b.region,
    )


def bucket_from_pb(m: pb.Bucket) -> Bucket:
    return Bucket(
        name=m.name,
        id=m.id,
        owner_id=m.owner_id,
        versioning=enum_from_pb(VersioningState, m.versioning),
        created_ms=m.created_ms,
        region=m.region,
    )


def attrs_to_pb(a: ObjectAttrs) -> pb.ObjectAttrs:
    return pb.ObjectAttrs(
        size=a.size,
        etag=a.etag,
        content_type=a.content_type,
        content_encoding=a.content_encoding,
        content_disposition=a.content_disposition,
        content_language=a.content_language,
        cache_control=a.cache_control,
        expires=a.expires,
        website_redirect_location=a.website_redirect_location,
        storage_class=a.storage_class,
        user_metadata=pairs_to_pb(a.user_metadata),
        tags=pairs_to_pb(a.tags),
        checksums=[checksum_to_pb(c) for c in a.checksums],
        blobs=[blob_to_pb(b) for b in a.blobs],
        owner_id=a.owner_id,
        encryption=encryption_to_pb(a.encryption),
        acl=a.acl,
    )


def attrs_from_pb(m: pb.ObjectAttrs) -> ObjectAttrs:
    return ObjectAttrs(
        size=m.size,
        etag=m.etag,
        content_type=m.content_type,
        content_encoding=m.content_encoding,
        content_disposition=m.content_disposition,
        content_language=m.content_language,
        cache_control=m.cache_control,
        expires=m.expires,
        website_redirect_location=m.website_redirect_location,
        storage_class=m.storage_class,
        user_metadata=pairs_from_pb(m.user_metadata),
        tags=pairs_from_pb(m.tags),
        checksums=checksums_from_pb(m.checksums),
        blobs=blobs_from_pb(m.blobs),
        owner_id=m.owner_id,
        encryption=encryption_from_pb(m.encryption),
        acl=m.acl,
    )


def version_to_pb(v: ObjectVersion) -> pb.ObjectVersion:
    return pb.ObjectVersion(
        bucket=v.bucket,
        key=v.key,
        version_id=v.version_id,
        is_delete_marker=v.is_delete_marker,
        is_latest=v.is_latest,
        last_modified_ms=v.last_modified_ms,
        size=v.size,
        etag=v.etag,
        content_type=v.content_type,
        content_encoding=v.content_encoding,
        content_disposition=v.content_disposition,
        content_language=v.content_language,
        cache_control=v.cache_control,
        expires=v.expires,
        website_redirect_location=v.website_redirect_location,
        storage_class=v.storage_class,
        user_metadata=pairs_to_pb(v.user_metadata),
        tags=pairs_to_pb(v.tags),
        checksums=[checksum_to_pb(c) for c in v.checksums],
        blobs=[blob_to_pb(b) for b in v.blobs],
        owner_id=v.owner_id,
        parts_count=v.parts_count,
        part_sizes=v.part_sizes,
        encryption=encryption_to_pb(v.encryption),
        acl=v.acl,
    )


def version_from_pb(m: pb.ObjectVersion) -> ObjectVersion:
    return ObjectVersion(
        bucket=m.bucket,
        key=m.key,
        version_id=m.version_id,
        is_delete_marker=m.is_delete_marker,
        is_latest=m.is_latest,
        last_modified_ms=m.last_modified_ms,
        size=m.size,
        etag=m.etag,
        content_type=m.content_type,
        content_encoding=m.content_encoding,
        content_disposition=m.content_disposition,
        content_language=m.content_language,
        cache_control=m.cache_control,
        expires=m.expires,
        website_redirect_location=m.website_redirect_location,
        storage_class=m.storage_class,
        user_metadata=pairs_from_pb(m.user_metadata),
        tags=pairs_from_pb(m.tags),
        checksums=checksums_from_pb(m.checksums),
        blobs=blobs_from_pb(m.blobs),
        owner_id=m.owner_id,
        parts_count=m.parts_count,
        part_sizes=tuple(m.part_sizes),
        encryption=encryption_from_pb(m.encryption),
        acl=m.acl,
    )


def delete_result_to_pb(r: DeleteResult) -> pb.DeleteResult:
    return pb.DeleteResult(version_id=r.version_id, is_delete_marker=r.is_delete_marker)


def delete_result_from_pb(m: pb.DeleteResult) -> DeleteResult:
    return DeleteResult(
        version_id=m.version_id if m.HasField("version_id") else None, is_delete_marker=m.is_delete_marker
    )


# --- listings ----------------------------------------------------------------------------
def summary_to_pb(s: ObjectSummary) -> pb.ObjectSummary:
    return pb.ObjectSummary(
        key=s.key,
        version_id=s.version_id,
        is_latest=s.is_latest,
        is_delete_marker=s.is_delete_marker,
        last_modified_ms=s.last_modified_ms,
        etag=s.etag,
        size=s.size,
        storage_class=s.storage_class,
        owner_id=s.owner_id,
        checksum_algorithms=s.checksum_algorithms,
        checksum_type=s.checksum_type,
    )


def summary_from_pb(m: pb.ObjectSummary) -> ObjectSummary:
    return ObjectSummary(
        key=m.key,
        version_id=m.version_id,
        is_latest=m.is_latest,
        is_delete_marker=m.is_delete_marker,
        last_modified_ms=m.last_modified_ms,
        etag=m.etag,
        size=m.size,
        storage_class=m.storage_class,
        owner_id=m.owner_id,
        checksum_algorithms=tuple(m.checksum_algorithms),
        checksum_type=m.checksum_type,
    )


def objects_v2_page_to_pb(p: ListObjectsV2Page) -> pb.ListObjectsV2Page:
    return pb.ListObjectsV2Page(
        contents=[summary_to_pb(s) for s in p.contents],
        common_prefixes=p.common_prefixes,
        is_truncated=p.is_truncated,
        next_continuation_token=p.next_continuation_token,
        key_count=p.key_count,
    )


def objects_v2_page_from_pb(m: pb.ListObjectsV2Page) -> ListObjectsV2Page:
    return ListObjectsV2Page(
        contents=tuple(summary_from_pb(s) for s in m.contents),
        common_prefixes=tuple(m.common_prefixes),
        is_truncated=m.is_truncated,
        next_continuation_token=(
            m.next_continuation_token if m.HasField("next_continuation_token") else None
        ),
        key_count=m.key_count,
    )


def objects_v1_page_to_pb(p: ListObjectsV1Page) -> pb.ListObjectsV1Page:
    return pb.ListObjectsV1Page(
        contents=[summary_to_pb(s) for s in p.contents],
        common_prefixes=p.common_prefixes,
        is_truncated=p.is_truncated,
        next_marker=p.next_marker,
    )


def objects_v1_page_from_pb(m: pb.ListObjectsV1Page) -> ListObjectsV1Page:
    return ListObjectsV1Page(
        contents=tuple(summary_from_pb(s) for s in m.contents),
        common_prefixes=tuple(m.common_prefixes),
        is_truncated=m.is_truncated,
        next_marker=m.next_marker if m.HasField("next_marker") else None,
    )


def versions_page_to_pb(p: ListVersionsPage) -> pb.ListVersionsPage:
    return pb.ListVersionsPage(
        versions=[summary_to_pb(s) for s in p.versions],
        common_prefixes=p.common_prefixes,
        is_truncated=p.is_truncated,
        next_key_marker=p.next_key_marker,
        next_version_id_marker=p.next_version_id_marker,
    )


def versions_page_from_pb(m: pb.ListVersionsPage) -> ListVersionsPage:
    return ListVersionsPage(
        versions=tuple(summary_from_pb(s) for s in m.versions),
        common_prefixes=tuple(m.common_prefixes),
        is_truncated=m.is_truncated,
        next_key_marker=m.next_key_marker if m.HasField("next_key_marker") else None,
        next_version_id_marker=(m.next_version_id_marker if m.HasField("next_version_id_marker") else None),
    )


# --- multipart ---------------------------------------------------------------------------
def upload_to_pb(u: MultipartUpload) -> pb.MultipartUpload:
    return pb.MultipartUpload(
        bucket=u.bucket,
        key=u.key,
        upload_id=u.upload_id,
        initiated_ms=u.initiated_ms,
        attrs=attrs_to_pb(u.attrs),
        checksum_algorithm=u.checksum_algorithm,
        checksum_type=u.checksum_type.value,
    )


def upload_from_pb(m: pb.MultipartUpload) -> MultipartUpload:
    return MultipartUpload(
        bucket=m.bucket,
        key=m.key,
        upload_id=m.upload_id,
        initiated_ms=m.initiated_ms,
        attrs=attrs_from_pb(m.attrs),
        checksum_algorithm=m.checksum_algorithm,
        checksum_type=enum_from_pb(ChecksumType, m.checksum_type),
    )


def part_to_pb(p: Part) -> pb.Part:
    return pb.Part(
        part_number=p.part_number,
        size=p.size,
        etag=p.etag,
        last_modified_ms=p.last_modified_ms,
        checksums=[checksum_to_pb(c) for c in p.checksums],
        blobs=[blob_to_pb(b) for b in p.blobs],
    )


def part_from_pb(m: pb.Part) -> Part:
    return Part(
        part_number=m.part_number,
        size=m.size,
        etag=m.etag,
        last_modified_ms=m.last_modified_ms,
        checksums=checksums_from_pb(m.checksums),
        blobs=blobs_from_pb(m.blobs),
    )


def completed_part_to_pb(p: CompletedPart) -> pb.CompletedPart:
    return pb.CompletedPart(
        part_number=p.part_number, etag=p.etag, checksums=[checksum_to_pb(c) for c in p.checksums]
    )


def completed_part_from_pb(m: pb.CompletedPart) -> CompletedPart:
    return CompletedPart(part_number=m.part_number, etag=m.etag, checksums=checksums_from_pb(m.checksums))


def parts_page_to_pb(p: ListPartsPage) -> pb.ListPartsPage:
    return pb.ListPartsPage(
        upload=upload_to_pb(p.upload),
        parts=[part_to_pb(x) for x in p.parts],
        is_truncated=p.is_truncated,
        next_part_number_marker=p.next_part_number_marker,
    )


def parts_page_from_pb(m: pb.ListPartsPage) -> ListPartsPage:
    return ListPartsPage(
        upload=upload_from_pb(m.upload),
        parts=tuple(part_from_pb(x) for x in m.parts),
        is_truncated=m.is_truncated,
        next_part_number_marker=m.next_part_number_marker,
    )


def uploads_page_to_pb(p: ListUploadsPage) -> pb.ListUploadsPage:
    return pb.ListUploadsPage(
        uploads=[upload_to_pb(u) for u in p.uploads],
        common_prefixes=p.common_prefixes,
        is_truncated=p.is_truncated,
        next_key_marker=p.next_key_marker,
        next_upload_id_marker=p.next_upload_id_marker,
    )


def uploads_page_from_pb(m: pb.ListUploadsPage) -> ListUploadsPage:
    return ListUploadsPage(
        uploads=tuple(upload_from_pb(u) for u in m.uploads),
        common_prefixes=tuple(m.common_prefixes),
        is_truncated=m.is_truncated,
        next_key_marker=m.next_key_marker if m.HasField("next_key_marker") else None,
        next_upload_id_marker=m.next_upload_id_marker if m.HasField("next_upload_id_marker") else None,
    )


# --- write intents and GC ------------------------------------------------------------------
def intent_to_pb(i: WriteIntent) -> pb.WriteIntent:
    return pb.WriteIntent(blob_id=i.blob_id, pg=i.pg, expires_ms=i.expires_ms)


def intent_from_pb(m: pb.WriteIntent) -> WriteIntent:
    return WriteIntent(blob_id=m.blob_id, pg=m.pg, expires_ms=m.expires_ms)


def gc_item_to_pb(g: GcItem) -> pb.GcItem:
    return pb.GcItem(
        blob_id=g.blob_id, pg=g.pg, size=g.size, reason=g.reason.value, enqueued_ms=g.enqueued_ms
    )


def gc_item_from_pb(m: pb.GcItem) -> GcItem:
    return GcItem(
        blob_id=m.blob_id,
        pg=m.pg,
        size=m.size,
        reason=enum_from_pb(GcReason, m.reason),
        enqueued_ms=m.enqueued_ms,
    )


def repair_report_to_pb(r: RepairReport) -> pb.RepairReport:
    return pb.RepairReport(
        blob_id=r.blob_id, index=r.index, pg=r.pg, kind=r.kind, source=r.source, node=r.node
    )


def repair_report_from_pb(m: pb.RepairReport) -> RepairReport:
    return RepairReport(blob_id=m.blob_id, index=m.index, pg=m.pg, kind=m.kind, source=m.source, node=m.node)


def repair_item_to_pb(i: RepairItem) -> pb.RepairItem:
    return pb.RepairItem(id=i.id, report=repair_report_to_pb(i.report), reported_ms=i.reported_ms)


def repair_item_from_pb(m: pb.RepairItem) -> RepairItem:
    return RepairItem(id=m.id, report=repair_report_from_pb(m.report), reported_ms=m.reported_ms)


# --- IAM ---------------------------------------------------------------------------------
def user_to_pb(u: User) -> pb.User:
    return pb.User(user_id=u.user_id, name=u.name, arn=u.arn, created_ms=u.created_ms, is_root=u.is_root)


def user_from_pb(m: pb.User) -> User:
    return User(user_id=m.user_id, name=m.name, arn=m.arn, created_ms=m.created_ms, is_root=m.is_root)


def access_key_to_pb(k: AccessKey) -> pb.AccessKey:
    return pb.AccessKey(
        access_key_id=k.access_key_id,
        secret_access_key=k.secret_access_key,
        user_id=k.user_id,
        user_name=k.user_name,
        status=k.status.value,
        created_ms=k.created_ms,
    )


def access_key_from_pb(m: pb.AccessKey) -> AccessKey:
    return AccessKey(
        access_key_id=m.access_key_id,
        secret_access_key=m.secret_access_key,
        user_id=m.user_id,
        user_name=m.user_name,
        status=enum_from_pb(AccessKeyStatus, m.status),
        created_ms=m.created_ms,
    )


def policy_to_pb(p: Policy) -> pb.Policy:
    return pb.Policy(name=p.name, document=p.document, updated_ms=p.updated_ms)


def policy_from_pb(m: pb.Policy) -> Policy:
    return Policy(name=m.name, document=m.document, updated_ms=m.updated_ms)


def replica_status_to_pb(s: ReplicaStatus) -> pb.GetReplicaStatusResponse:
    return pb.GetReplicaStatusResponse(
        id=s.id,
        role=s.role,
        term=s.term,
        leader_id=s.leader_id or "",
        commit_index=s.commit_index,
        applied_index=s.applied_index,
        peers=[peer_status_to_pb(p) for p in s.peers],
    )


def replica_status_from_pb(m: pb.GetReplicaStatusResponse) -> ReplicaStatus:
    return ReplicaStatus(
        m.id,
        m.term,
        m.role,
        m.leader_id or None,
        m.commit_index,
        m.applied_index,
        tuple(peer_status_from_pb(p) for p in m.peers),
    )


def peer_status_to_pb(p: PeerStatus) -> pb.PeerStatus:
    return pb.PeerStatus(id=p.id, addr=p.addr, reachable=p.reachable, match_index=p.match_index)


def peer_status_from_pb(m: pb.PeerStatus) -> PeerStatus:
    return PeerStatus(m.id, m.addr, m.reachable, m.match_index)


def bucket_config_to_pb(b: BucketConfig) -> pb.BucketConfig:
    return pb.BucketConfig(bucket=b.bucket, kind=b.kind, document=b.document, updated_ms=b.updated_ms)


def bucket_config_from_pb(m: pb.BucketConfig) -> BucketConfig:
    return BucketConfig(bucket=m.bucket, kind=m.kind, document=m.document, updated_ms=m.updated_ms)


def kms_key_to_pb(k: KmsKey) -> pb.KmsKey:
    """A KMS key without its material."""
    return pb.KmsKey(
        key_id=k.key_id,
        arn=k.arn,
        alias=k.alias,
        description=k.description,
        enabled=k.enabled,
        created_ms=k.created_ms,
        master_key_id=k.master_key_id,
    )


def kms_key_from_pb(m: pb.KmsKey) -> KmsKey:
    return KmsKey(
        m.key_id, m.arn, m.alias, m.description, m.enabled, m.created_ms, master_key_id=m.master_key_id
    )


def bucket_context_to_pb(c: BucketContext) -> pb.GetBucketContextResponse:
    return pb.GetBucketContextResponse(
        bucket=bucket_to_pb(c.bucket),
        policy=c.policy,
        configs=[pb.BucketConfig(bucket=c.bucket.name, kind=kind, document=doc) for kind, doc in c.configs],
    )


def bucket_context_from_pb(m: pb.GetBucketContextResponse) -> BucketContext:
    return BucketContext(
        bucket=bucket_from_pb(m.bucket),
        policy=m.policy if m.HasField("policy") else None,
        configs=tuple((c.kind, c.document) for c in m.configs),
    )
