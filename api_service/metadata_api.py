"""What the S3 handlers need of the metadata service: the `MetadataApi` protocol.

`cairn.metadata.client.MetadataClient` (production, over gRPC) and
`cairn.metadata.service.MetadataService` (the in-memory twin of the handler tests) both satisfy
it; mypy checks both (api_service/server.py and tests/unit/api_service/harness.py assign them to
`Services.metadata`). Signatures and errors are those of the client; see its docstrings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from cairn.blobs import BlobRef
from cairn.metadata.models import (
    Bucket,
    BucketConfig,
    BucketContext,
    Checksum,
    ChecksumType,
    CompletedPart,
    DeleteResult,
    KmsKey,
    ListObjectsV1Page,
    ListObjectsV2Page,
    ListPartsPage,
    ListUploadsPage,
    ListVersionsPage,
    MultipartUpload,
    ObjectAttrs,
    ObjectVersion,
    Part,
    Policy,
    User,
    VersioningState,
)


class MetadataApi(Protocol):
    # --- buckets -------------------------------------------------------------------------
    async def create_bucket(self, name: str, owner_id: str, *, region: str = "") -> Bucket: ...

    async def get_bucket(self, name: str) -> Bucket: ...

    async def delete_bucket(self, name: str) -> None: ...

    async def list_buckets(self, owner_id: str | None = None) -> tuple[Bucket, ...]: ...

    async def set_bucket_versioning(self, name: str, state: VersioningState) -> Bucket: ...

    async def put_bucket_policy(self, name: str, document: str) -> None: ...

    async def get_bucket_policy(self, name: str) -> Policy: ...

    async def delete_bucket_policy(self, name: str) -> None: ...

    async def put_bucket_config(self, name: str, kind: str, document: str) -> None: ...

    async def get_bucket_config(self, name: str, kind: str) -> BucketConfig: ...

    async def get_bucket_context(self, name: str) -> BucketContext: ...

    async def delete_bucket_config(self, name: str, kind: str) -> None: ...

    # --- objects -------------------------------------------------------------------------
    async def put_object(
        self,
        bucket: str,
        key: str,
        attrs: ObjectAttrs,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> ObjectVersion: ...

    async def get_object(self, bucket: str, key: str, version_id: str | None = None) -> ObjectVersion: ...

    async def delete_object(self, bucket: str, key: str, version_id: str | None = None) -> DeleteResult: ...

    async def set_object_tags(
        self, bucket: str, key: str, tags: Sequence[tuple[str, str]], version_id: str | None = None
    ) -> str: ...

    async def set_object_acl(self, bucket: str, key: str, acl: str, version_id: str | None = None) -> str: ...

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
    ) -> ListObjectsV2Page: ...

    async def list_objects_v1(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        max_keys: int = 1000,
        marker: str = "",
    ) -> ListObjectsV1Page: ...

    async def list_object_versions(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        max_keys: int = 1000,
        key_marker: str = "",
        version_id_marker: str = "",
    ) -> ListVersionsPage: ...

    # --- multipart -------------------------------------------------------------------------
    async def create_multipart_upload(
        self,
        bucket: str,
        key: str,
        attrs: ObjectAttrs,
        *,
        checksum_algorithm: str = "",
        checksum_type: ChecksumType = ChecksumType.COMPOSITE,
    ) -> MultipartUpload: ...

    async def get_multipart_upload(self, bucket: str, key: str, upload_id: str) -> MultipartUpload: ...

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
    ) -> Part: ...

    async def list_parts(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        *,
        max_parts: int = 1000,
        part_number_marker: int = 0,
    ) -> ListPartsPage: ...

    async def list_multipart_uploads(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        max_uploads: int = 1000,
        key_marker: str = "",
        upload_id_marker: str = "",
    ) -> ListUploadsPage: ...

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
    ) -> ObjectVersion: ...

    async def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None: ...

    # --- IAM (access.py reads a caller's policies; a bucket policy names users) ---------------
    async def get_user(self, name: str) -> User: ...

    async def list_user_policies(self, user_name: str) -> tuple[Policy, ...]: ...

    # --- KMS (sse_kms.py): data keys from the metadata service's key store ---------------------
    async def get_kms_key(self, key: str) -> KmsKey: ...

    async def generate_data_key(self, key: str, context: bytes) -> tuple[KmsKey, bytes, bytes]: ...

    async def decrypt(self, ciphertext: bytes, context: bytes) -> tuple[KmsKey, bytes]: ...
