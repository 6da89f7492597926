"""Multipart upload operations of the service (commands built here, applied by the shard
appliers in `multipart`).

Upload ids come from the service's time-ordered id issuer, so sorting uploads of one key by
upload id lists them in initiation order, as ListMultipartUploads requires.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from cairn.blobs import BlobRef
from cairn.metadata import commands as c
from cairn.metadata.core import ServiceCore, check_key
from cairn.metadata.errors import InvalidArgument
from cairn.metadata.listing_ops import clamp_max_keys, split
from cairn.metadata.models import (
    MAX_PART_NUMBER,
    MIN_PART_NUMBER,
    Checksum,
    ChecksumType,
    CompletedPart,
    ListPartsPage,
    ListUploadsPage,
    MultipartUpload,
    ObjectAttrs,
    ObjectVersion,
    Part,
    VersioningState,
)
from cairn.metadata.multipart import read_parts, read_upload
from cairn.metadata.shard_scan import Position, Query, merge

CHECKSUM_ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")


class MultipartOps(ServiceCore):
    async def create_multipart_upload(
        self,
        bucket: str,
        key: str,
        attrs: ObjectAttrs,
        *,
        checksum_algorithm: str = "",
        checksum_type: ChecksumType = ChecksumType.COMPOSITE,
    ) -> MultipartUpload:
        check_key(key)
        if checksum_algorithm and checksum_algorithm not in CHECKSUM_ALGORITHMS:
            raise InvalidArgument(f"unknown checksum algorithm {checksum_algorithm!r}")
        await self.leading()
        b = self.bucket(bucket)
        cmd = c.CreateUpload(
            b.id,
            b.name,
            key,
            self.issuer.issue_text(),
            attrs if attrs.owner_id else replace(attrs, owner_id=b.owner_id),
            checksum_algorithm,
            checksum_type,
            self.now_ms(),
        )
        upload: MultipartUpload = await self.write_object(b.id, key, cmd)
        return upload

    async def get_multipart_upload(self, bucket: str, key: str, upload_id: str) -> MultipartUpload:
        await self.linearize()
        b = self.bucket(bucket)
        return await self.store.shard_for(b.id, key).read(read_upload, b.name, b.id, key, upload_id)

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
        if not MIN_PART_NUMBER <= part_number <= MAX_PART_NUMBER:
            raise InvalidArgument("Part number must be an integer between 1 and 10000, inclusive")
        await self.leading()
        b = self.bucket(bucket)
        cmd = c.RegisterPart(
            b.id,
            key,
            upload_id,
            part_number,
            size,
            etag,
            tuple(checksums),
            tuple(blobs),
            self.now_ms(),
        )
        part: Part = await self.write_object(b.id, key, cmd)
        return part

    async def list_parts(
        self, bucket: str, key: str, upload_id: str, *, max_parts: int = 1000, part_number_marker: int = 0
    ) -> ListPartsPage:
        await self.linearize()
        b = self.bucket(bucket)
        max_parts = clamp_max_keys(max_parts)
        return await self.store.shard_for(b.id, key).read(
            read_parts, b.name, b.id, key, upload_id, max_parts, max(0, part_number_marker)
        )

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
        await self.linearize()
        b = self.bucket(bucket)
        max_uploads = clamp_max_keys(max_uploads)
        km = key_marker.encode()
        # S3 ignores upload-id-marker without key-marker.
        start: Position = (km, upload_id_marker.encode() if key_marker and upload_id_marker else None)
        q = Query("uploads", b.name, b.id, prefix.encode(), delimiter.encode(), km, True)
        page, truncated = split(await merge(self.store.objects, q, start, max_uploads + 1), max_uploads)
        next_key = next_upload = None
        if truncated:
            last = page[-1]
            next_key = last.key.decode()
            next_upload = None if last.is_prefix else last.item.upload_id
        return ListUploadsPage(
            uploads=tuple(e.item for e in page if not e.is_prefix),
            common_prefixes=tuple(e.key.decode() for e in page if e.is_prefix),
            is_truncated=truncated,
            next_key_marker=next_key,
            next_upload_id_marker=next_upload,
        )

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
        await self.leading()
        b = self.bucket(bucket)
        cmd = c.CompleteUpload(
            bucket_id=b.id,
            bucket=b.name,
            key=key,
            upload_id=upload_id,
            parts=tuple(parts),
            checksums=tuple(checksums),
            version=self.issuer.issue(),
            is_null=b.versioning is not VersioningState.ENABLED,
            now_ms=self.now_ms(),
            if_match=if_match,
            if_none_match=if_none_match,
        )
        version: ObjectVersion = await self.write_object(b.id, key, cmd)
        return version

    async def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        await self.leading()
        b = self.bucket(bucket)
        await self.write_object(b.id, key, c.AbortUpload(b.id, key, upload_id, self.now_ms()))
