from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class KeyValue(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: str
    def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class Checksum(_message.Message):
    __slots__ = ("algorithm", "value", "type")
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    algorithm: str
    value: bytes
    type: str
    def __init__(self, algorithm: _Optional[str] = ..., value: _Optional[bytes] = ..., type: _Optional[str] = ...) -> None: ...

class BlobRef(_message.Message):
    __slots__ = ("blob_id", "pg", "size", "stripe_size", "data_shards", "parity_shards", "part_number", "sealed_key", "inline")
    BLOB_ID_FIELD_NUMBER: _ClassVar[int]
    PG_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    STRIPE_SIZE_FIELD_NUMBER: _ClassVar[int]
    DATA_SHARDS_FIELD_NUMBER: _ClassVar[int]
    PARITY_SHARDS_FIELD_NUMBER: _ClassVar[int]
    PART_NUMBER_FIELD_NUMBER: _ClassVar[int]
    SEALED_KEY_FIELD_NUMBER: _ClassVar[int]
    INLINE_FIELD_NUMBER: _ClassVar[int]
    blob_id: bytes
    pg: int
    size: int
    stripe_size: int
    data_shards: int
    parity_shards: int
    part_number: int
    sealed_key: bytes
    inline: bytes
    def __init__(self, blob_id: _Optional[bytes] = ..., pg: _Optional[int] = ..., size: _Optional[int] = ..., stripe_size: _Optional[int] = ..., data_shards: _Optional[int] = ..., parity_shards: _Optional[int] = ..., part_number: _Optional[int] = ..., sealed_key: _Optional[bytes] = ..., inline: _Optional[bytes] = ...) -> None: ...

class Encryption(_message.Message):
    __slots__ = ("algorithm", "kms_key_id", "kms_context", "customer_key_hmac", "bucket_key_enabled")
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    KMS_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    KMS_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_KEY_HMAC_FIELD_NUMBER: _ClassVar[int]
    BUCKET_KEY_ENABLED_FIELD_NUMBER: _ClassVar[int]
    algorithm: str
    kms_key_id: str
    kms_context: str
    customer_key_hmac: bytes
    bucket_key_enabled: bool
    def __init__(self, algorithm: _Optional[str] = ..., kms_key_id: _Optional[str] = ..., kms_context: _Optional[str] = ..., customer_key_hmac: _Optional[bytes] = ..., bucket_key_enabled: _Optional[bool] = ...) -> None: ...

class Bucket(_message.Message):
    __slots__ = ("name", "id", "owner_id", "versioning", "created_ms", "region")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    VERSIONING_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    name: str
    id: str
    owner_id: str
    versioning: str
    created_ms: int
    region: str
    def __init__(self, name: _Optional[str] = ..., id: _Optional[str] = ..., owner_id: _Optional[str] = ..., versioning: _Optional[str] = ..., created_ms: _Optional[int] = ..., region: _Optional[str] = ...) -> None: ...

class ObjectAttrs(_message.Message):
    __slots__ = ("size", "etag", "content_type", "content_encoding", "content_disposition", "content_language", "cache_control", "expires", "website_redirect_location", "storage_class", "user_metadata", "tags", "checksums", "blobs", "owner_id", "encryption", "acl")
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_ENCODING_FIELD_NUMBER: _ClassVar[int]
    CONTENT_DISPOSITION_FIELD_NUMBER: _ClassVar[int]
    CONTENT_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    CACHE_CONTROL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_FIELD_NUMBER: _ClassVar[int]
    WEBSITE_REDIRECT_LOCATION_FIELD_NUMBER: _ClassVar[int]
    STORAGE_CLASS_FIELD_NUMBER: _ClassVar[int]
    USER_METADATA_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CHECKSUMS_FIELD_NUMBER: _ClassVar[int]
    BLOBS_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTION_FIELD_NUMBER: _ClassVar[int]
    ACL_FIELD_NUMBER: _ClassVar[int]
    size: int
    etag: str
    content_type: str
    content_encoding: str
    content_disposition: str
    content_language: str
    cache_control: str
    expires: str
    website_redirect_location: str
    storage_class: str
    user_metadata: _containers.RepeatedCompositeFieldContainer[KeyValue]
    tags: _containers.RepeatedCompositeFieldContainer[KeyValue]
    checksums: _containers.RepeatedCompositeFieldContainer[Checksum]
    blobs: _containers.RepeatedCompositeFieldContainer[BlobRef]
    owner_id: str
    encryption: Encryption
    acl: str
    def __init__(self, size: _Optional[int] = ..., etag: _Optional[str] = ..., content_type: _Optional[str] = ..., content_encoding: _Optional[str] = ..., content_disposition: _Optional[str] = ..., content_language: _Optional[str] = ..., cache_control: _Optional[str] = ..., expires: _Optional[str] = ..., website_redirect_location: _Optional[str] = ..., storage_class: _Optional[str] = ..., user_metadata: _Optional[_Iterable[_Union[KeyValue, _Mapping]]] = ..., tags: _Optional[_Iterable[_Union[KeyValue, _Mapping]]] = ..., checksums: _Optional[_Iterable[_Union[Checksum, _Mapping]]] = ..., blobs: _Optional[_Iterable[_Union[BlobRef, _Mapping]]] = ..., owner_id: _Optional[str] = ..., encryption: _Optional[_Union[Encryption, _Mapping]] = ..., acl: _Optional[str] = ...) -> None: ...

class ObjectVersion(_message.Message):
    __slots__ = ("bucket", "key", "version_id", "is_delete_marker", "is_latest", "last_modified_ms", "size", "etag", "content_type", "content_encoding", "content_disposition", "content_language", "cache_control", "expires", "website_redirect_location", "storage_class", "user_metadata", "tags", "checksums", "blobs", "owner_id", "parts_count", "part_sizes", "encryption", "acl")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    IS_DELETE_MARKER_FIELD_NUMBER: _ClassVar[int]
    IS_LATEST_FIELD_NUMBER: _ClassVar[int]
    LAST_MODIFIED_MS_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_ENCODING_FIELD_NUMBER: _ClassVar[int]
    CONTENT_DISPOSITION_FIELD_NUMBER: _ClassVar[int]
    CONTENT_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    CACHE_CONTROL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_FIELD_NUMBER: _ClassVar[int]
    WEBSITE_REDIRECT_LOCATION_FIELD_NUMBER: _ClassVar[int]
    STORAGE_CLASS_FIELD_NUMBER: _ClassVar[int]
    USER_METADATA_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CHECKSUMS_FIELD_NUMBER: _ClassVar[int]
    BLOBS_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    PARTS_COUNT_FIELD_NUMBER: _ClassVar[int]
    PART_SIZES_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTION_FIELD_NUMBER: _ClassVar[int]
    ACL_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    version_id: str
    is_delete_marker: bool
    is_latest: bool
    last_modified_ms: int
    size: int
    etag: str
    content_type: str
    content_encoding: str
    content_disposition: str
    content_language: str
    cache_control: str
    expires: str
    website_redirect_location: str
    storage_class: str
    user_metadata: _containers.RepeatedCompositeFieldContainer[KeyValue]
    tags: _containers.RepeatedCompositeFieldContainer[KeyValue]
    checksums: _containers.RepeatedCompositeFieldContainer[Checksum]
    blobs: _containers.RepeatedCompositeFieldContainer[BlobRef]
    owner_id: str
    parts_count: int
    part_sizes: _containers.RepeatedScalarFieldContainer[int]
    encryption: Encryption
    acl: str
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., version_id: _Optional[str] = ..., is_delete_marker: _Optional[bool] = ..., is_latest: _Optional[bool] = ..., last_modified_ms: _Optional[int] = ..., size: _Optional[int] = ..., etag: _Optional[str] = ..., content_type: _Optional[str] = ..., content_encoding: _Optional[str] = ..., content_disposition: _Optional[str] = ..., content_language: _Optional[str] = ..., cache_control: _Optional[str] = ..., expires: _Optional[str] = ..., website_redirect_location: _Optional[str] = ..., storage_class: _Optional[str] = ..., user_metadata: _Optional[_Iterable[_Union[KeyValue, _Mapping]]] = ..., tags: _Optional[_Iterable[_Union[KeyValue, _Mapping]]] = ..., checksums: _Optional[_Iterable[_Union[Checksum, _Mapping]]] = ..., blobs: _Optional[_Iterable[_Union[BlobRef, _Mapping]]] = ..., owner_id: _Optional[str] = ..., parts_count: _Optional[int] = ..., part_sizes: _Optional[_Iterable[int]] = ..., encryption: _Optional[_Union[Encryption, _Mapping]] = ..., acl: _Optional[str] = ...) -> None: ...

class DeleteResult(_message.Message):
    __slots__ = ("version_id", "is_delete_marker")
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    IS_DELETE_MARKER_FIELD_NUMBER: _ClassVar[int]
    version_id: str
    is_delete_marker: bool
    def __init__(self, version_id: _Optional[str] = ..., is_delete_marker: _Optional[bool] = ...) -> None: ...

class ObjectSummary(_message.Message):
    __slots__ = ("key", "version_id", "is_latest", "is_delete_marker", "last_modified_ms", "etag", "size", "storage_class", "owner_id", "checksum_algorithms", "checksum_type")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    IS_LATEST_FIELD_NUMBER: _ClassVar[int]
    IS_DELETE_MARKER_FIELD_NUMBER: _ClassVar[int]
    LAST_MODIFIED_MS_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    STORAGE_CLASS_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_ALGORITHMS_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_TYPE_FIELD_NUMBER: _ClassVar[int]
    key: str
    version_id: str
    is_latest: bool
    is_delete_marker: bool
    last_modified_ms: int
    etag: str
    size: int
    storage_class: str
    owner_id: str
    checksum_algorithms: _containers.RepeatedScalarFieldContainer[str]
    checksum_type: str
    def __init__(self, key: _Optional[str] = ..., version_id: _Optional[str] = ..., is_latest: _Optional[bool] = ..., is_delete_marker: _Optional[bool] = ..., last_modified_ms: _Optional[int] = ..., etag: _Optional[str] = ..., size: _Optional[int] = ..., storage_class: _Optional[str] = ..., owner_id: _Optional[str] = ..., checksum_algorithms: _Optional[_Iterable[str]] = ..., checksum_type: _Optional[str] = ...) -> None: ...

class ListObjectsV2Page(_message.Message):
    __slots__ = ("contents", "common_prefixes", "is_truncated", "next_continuation_token", "key_count")
    CONTENTS_FIELD_NUMBER: _ClassVar[int]
    COMMON_PREFIXES_FIELD_NUMBER: _ClassVar[int]
    IS_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    NEXT_CONTINUATION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    KEY_COUNT_FIELD_NUMBER: _ClassVar[int]
    contents: _containers.RepeatedCompositeFieldContainer[ObjectSummary]
    common_prefixes: _containers.RepeatedScalarFieldContainer[str]
    is_truncated: bool
    next_continuation_token: str
    key_count: int
    def __init__(self, contents: _Optional[_Iterable[_Union[ObjectSummary, _Mapping]]] = ..., common_prefixes: _Optional[_Iterable[str]] = ..., is_truncated: _Optional[bool] = ..., next_continuation_token: _Optional[str] = ..., key_count: _Optional[int] = ...) -> None: ...

class ListObjectsV1Page(_message.Message):
    __slots__ = ("contents", "common_prefixes", "is_truncated", "next_marker")
    CONTENTS_FIELD_NUMBER: _ClassVar[int]
    COMMON_PREFIXES_FIELD_NUMBER: _ClassVar[int]
    IS_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    NEXT_MARKER_FIELD_NUMBER: _ClassVar[int]
    contents: _containers.RepeatedCompositeFieldContainer[ObjectSummary]
    common_prefixes: _containers.RepeatedScalarFieldContainer[str]
    is_truncated: bool
    next_marker: str
    def __init__(self, contents: _Optional[_Iterable[_Union[ObjectSummary, _Mapping]]] = ..., common_prefixes: _Optional[_Iterable[str]] = ..., is_truncated: _Optional[bool] = ..., next_marker: _Optional[str] = ...) -> None: ...

class ListVersionsPage(_message.Message):
    __slots__ = ("versions", "common_prefixes", "is_truncated", "next_key_marker", "next_version_id_marker")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    COMMON_PREFIXES_FIELD_NUMBER: _ClassVar[int]
    IS_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    NEXT_KEY_MARKER_FIELD_NUMBER: _ClassVar[int]
    NEXT_VERSION_ID_MARKER_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[ObjectSummary]
    common_prefixes: _containers.RepeatedScalarFieldContainer[str]
    is_truncated: bool
    next_key_marker: str
    next_version_id_marker: str
    def __init__(self, versions: _Optional[_Iterable[_Union[ObjectSummary, _Mapping]]] = ..., common_prefixes: _Optional[_Iterable[str]] = ..., is_truncated: _Optional[bool] = ..., next_key_marker: _Optional[str] = ..., next_version_id_marker: _Optional[str] = ...) -> None: ...

class MultipartUpload(_message.Message):
    __slots__ = ("bucket", "key", "upload_id", "initiated_ms", "attrs", "checksum_algorithm", "checksum_type")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    INITIATED_MS_FIELD_NUMBER: _ClassVar[int]
    ATTRS_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_TYPE_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    upload_id: str
    initiated_ms: int
    attrs: ObjectAttrs
    checksum_algorithm: str
    checksum_type: str
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., upload_id: _Optional[str] = ..., initiated_ms: _Optional[int] = ..., attrs: _Optional[_Union[ObjectAttrs, _Mapping]] = ..., checksum_algorithm: _Optional[str] = ..., checksum_type: _Optional[str] = ...) -> None: ...

class Part(_message.Message):
    __slots__ = ("part_number", "size", "etag", "last_modified_ms", "checksums", "blobs")
    PART_NUMBER_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    LAST_MODIFIED_MS_FIELD_NUMBER: _ClassVar[int]
    CHECKSUMS_FIELD_NUMBER: _ClassVar[int]
    BLOBS_FIELD_NUMBER: _ClassVar[int]
    part_number: int
    size: int
    etag: str
    last_modified_ms: int
    checksums: _containers.RepeatedCompositeFieldContainer[Checksum]
    blobs: _containers.RepeatedCompositeFieldContainer[BlobRef]
    def __init__(self, part_number: _Optional[int] = ..., size: _Optional[int] = ..., etag: _Optional[str] = ..., last_modified_ms: _Optional[int] = ..., checksums: _Optional[_Iterable[_Union[Checksum, _Mapping]]] = ..., blobs: _Optional[_Iterable[_Union[BlobRef, _Mapping]]] = ...) -> None: ...

class CompletedPart(_message.Message):
    __slots__ = ("part_number", "etag", "checksums")
    PART_NUMBER_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    CHECKSUMS_FIELD_NUMBER: _ClassVar[int]
    part_number: int
    etag: str
    checksums: _containers.RepeatedCompositeFieldContainer[Checksum]
    def __init__(self, part_number: _Optional[int] = ..., etag: _Optional[str] = ..., checksums: _Optional[_Iterable[_Union[Checksum, _Mapping]]] = ...) -> None: ...

class ListPartsPage(_message.Message):
    __slots__ = ("upload", "parts", "is_truncated", "next_part_number_marker")
    UPLOAD_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    IS_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    NEXT_PART_NUMBER_MARKER_FIELD_NUMBER: _ClassVar[int]
    upload: MultipartUpload
    parts: _containers.RepeatedCompositeFieldContainer[Part]
    is_truncated: bool
    next_part_number_marker: int
    def __init__(self, upload: _Optional[_Union[MultipartUpload, _Mapping]] = ..., parts: _Optional[_Iterable[_Union[Part, _Mapping]]] = ..., is_truncated: _Optional[bool] = ..., next_part_number_marker: _Optional[int] = ...) -> None: ...

class ListUploadsPage(_message.Message):
    __slots__ = ("uploads", "common_prefixes", "is_truncated", "next_key_marker", "next_upload_id_marker")
    UPLOADS_FIELD_NUMBER: _ClassVar[int]
    COMMON_PREFIXES_FIELD_NUMBER: _ClassVar[int]
    IS_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    NEXT_KEY_MARKER_FIELD_NUMBER: _ClassVar[int]
    NEXT_UPLOAD_ID_MARKER_FIELD_NUMBER: _ClassVar[int]
    uploads: _containers.RepeatedCompositeFieldContainer[MultipartUpload]
    common_prefixes: _containers.RepeatedScalarFieldContainer[str]
    is_truncated: bool
    next_key_marker: str
    next_upload_id_marker: str
    def __init__(self, uploads: _Optional[_Iterable[_Union[MultipartUpload, _Mapping]]] = ..., common_prefixes: _Optional[_Iterable[str]] = ..., is_truncated: _Optional[bool] = ..., next_key_marker: _Optional[str] = ..., next_upload_id_marker: _Optional[str] = ...) -> None: ...

class WriteIntent(_message.Message):
    __slots__ = ("blob_id", "pg", "expires_ms")
    BLOB_ID_FIELD_NUMBER: _ClassVar[int]
    PG_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_MS_FIELD_NUMBER: _ClassVar[int]
    blob_id: bytes
    pg: int
    expires_ms: int
    def __init__(self, blob_id: _Optional[bytes] = ..., pg: _Optional[int] = ..., expires_ms: _Optional[int] = ...) -> None: ...

class GcItem(_message.Message):
    __slots__ = ("blob_id", "pg", "size", "reason", "enqueued_ms")
    BLOB_ID_FIELD_NUMBER: _ClassVar[int]
    PG_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ENQUEUED_MS_FIELD_NUMBER: _ClassVar[int]
    blob_id: bytes
    pg: int
    size: int
    reason: str
    enqueued_ms: int
    def __init__(self, blob_id: _Optional[bytes] = ..., pg: _Optional[int] = ..., size: _Optional[int] = ..., reason: _Optional[str] = ..., enqueued_ms: _Optional[int] = ...) -> None: ...

class User(_message.Message):
    __slots__ = ("user_id", "name", "arn", "created_ms", "is_root")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARN_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    IS_ROOT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    name: str
    arn: str
    created_ms: int
    is_root: bool
    def __init__(self, user_id: _Optional[str] = ..., name: _Optional[str] = ..., arn: _Optional[str] = ..., created_ms: _Optional[int] = ..., is_root: _Optional[bool] = ...) -> None: ...

class AccessKey(_message.Message):
    __slots__ = ("access_key_id", "secret_access_key", "user_id", "user_name", "status", "created_ms")
    ACCESS_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SECRET_ACCESS_KEY_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    access_key_id: str
    secret_access_key: str
    user_id: str
    user_name: str
    status: str
    created_ms: int
    def __init__(self, access_key_id: _Optional[str] = ..., secret_access_key: _Optional[str] = ..., user_id: _Optional[str] = ..., user_name: _Optional[str] = ..., status: _Optional[str] = ..., created_ms: _Optional[int] = ...) -> None: ...

class Policy(_message.Message):
    __slots__ = ("name", "document", "updated_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    document: str
    updated_ms: int
    def __init__(self, name: _Optional[str] = ..., document: _Optional[str] = ..., updated_ms: _Optional[int] = ...) -> None: ...

class CreateBucketRequest(_message.Message):
    __slots__ = ("name", "owner_id", "region", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    owner_id: str
    region: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., owner_id: _Optional[str] = ..., region: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateBucketResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: Bucket
    def __init__(self, result: _Optional[_Union[Bucket, _Mapping]] = ...) -> None: ...

class GetBucketRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetBucketResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: Bucket
    def __init__(self, result: _Optional[_Union[Bucket, _Mapping]] = ...) -> None: ...

class DeleteBucketRequest(_message.Message):
    __slots__ = ("name", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DeleteBucketResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListBucketsRequest(_message.Message):
    __slots__ = ("owner_id",)
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    def __init__(self, owner_id: _Optional[str] = ...) -> None: ...

class ListBucketsResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _containers.RepeatedCompositeFieldContainer[Bucket]
    def __init__(self, result: _Optional[_Iterable[_Union[Bucket, _Mapping]]] = ...) -> None: ...

class SetBucketVersioningRequest(_message.Message):
    __slots__ = ("name", "state", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., state: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class SetBucketVersioningResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: Bucket
    def __init__(self, result: _Optional[_Union[Bucket, _Mapping]] = ...) -> None: ...

class PutBucketPolicyRequest(_message.Message):
    __slots__ = ("name", "document", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    document: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., document: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class PutBucketPolicyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetBucketPolicyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetBucketPolicyResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: Policy
    def __init__(self, result: _Optional[_Union[Policy, _Mapping]] = ...) -> None: ...

class DeleteBucketPolicyRequest(_message.Message):
    __slots__ = ("name", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DeleteBucketPolicyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class BucketConfig(_message.Message):
    __slots__ = ("bucket", "kind", "document", "updated_ms")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_MS_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    kind: str
    document: str
    updated_ms: int
    def __init__(self, bucket: _Optional[str] = ..., kind: _Optional[str] = ..., document: _Optional[str] = ..., updated_ms: _Optional[int] = ...) -> None: ...

class PutBucketConfigRequest(_message.Message):
    __slots__ = ("bucket", "kind", "document", "request_id")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    kind: str
    document: str
    request_id: str
    def __init__(self, bucket: _Optional[str] = ..., kind: _Optional[str] = ..., document: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class PutBucketConfigResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetBucketConfigRequest(_message.Message):
    __slots__ = ("bucket", "kind")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    kind: str
    def __init__(self, bucket: _Optional[str] = ..., kind: _Optional[str] = ...) -> None: ...

class GetBucketConfigResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: BucketConfig
    def __init__(self, result: _Optional[_Union[BucketConfig, _Mapping]] = ...) -> None: ...

class DeleteBucketConfigRequest(_message.Message):
    __slots__ = ("bucket", "kind", "request_id")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    kind: str
    request_id: str
    def __init__(self, bucket: _Optional[str] = ..., kind: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DeleteBucketConfigResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListBucketConfigsRequest(_message.Message):
    __slots__ = ("kind",)
    KIND_FIELD_NUMBER: _ClassVar[int]
    kind: str
    def __init__(self, kind: _Optional[str] = ...) -> None: ...

class ListBucketConfigsResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _containers.RepeatedCompositeFieldContainer[BucketConfig]
    def __init__(self, result: _Optional[_Iterable[_Union[BucketConfig, _Mapping]]] = ...) -> None: ...

class PutObjectRequest(_message.Message):
    __slots__ = ("bucket", "key", "attrs", "if_match", "if_none_match", "request_id")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    ATTRS_FIELD_NUMBER: _ClassVar[int]
    IF_MATCH_FIELD_NUMBER: _ClassVar[int]
    IF_NONE_MATCH_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    attrs: ObjectAttrs
    if_match: str
    if_none_match: bool
    request_id: str
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., attrs: _Optional[_Union[ObjectAttrs, _Mapping]] = ..., if_match: _Optional[str] = ..., if_none_match: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class PutObjectResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: ObjectVersion
    def __init__(self, result: _Optional[_Union[ObjectVersion, _Mapping]] = ...) -> None: ...

class GetObjectRequest(_message.Message):
    __slots__ = ("bucket", "key", "version_id")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    version_id: str
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., version_id: _Optional[str] = ...) -> None: ...

class GetObjectResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: ObjectVersion
    def __init__(self, result: _Optional[_Union[ObjectVersion, _Mapping]] = ...) -> None: ...

class HeadObjectRequest(_message.Message):
    __slots__ = ("bucket", "key", "version_id")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    version_id: str
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., version_id: _Optional[str] = ...) -> None: ...

class HeadObjectResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: ObjectVersion
    def __init__(self, result: _Optional[_Union[ObjectVersion, _Mapping]] = ...) -> None: ...

class DeleteObjectRequest(_message.Message):
    __slots__ = ("bucket", "key", "version_id", "request_id")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    version_id: str
    request_id: str
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., version_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DeleteObjectResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: DeleteResult
    def __init__(self, result: _Optional[_Union[DeleteResult, _Mapping]] = ...) -> None: ...

class SetObjectTagsRequest(_message.Message):
    __slots__ = ("bucket", "key", "version_id", "tags", "request_id")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    version_id: str
    tags: _containers.RepeatedCompositeFieldContainer[KeyValue]
    request_id: str
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., version_id: _Optional[str] = ..., tags: _Optional[_Iterable[_Union[KeyValue, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class SetObjectTagsResponse(_message.Message):
    __slots__ = ("version_id",)
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    version_id: str
    def __init__(self, version_id: _Optional[str] = ...) -> None: ...

class SetObjectAclRequest(_message.Message):
    __slots__ = ("bucket", "key", "version_id", "acl", "request_id")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    ACL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    version_id: str
    acl: str
    request_id: str
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., version_id: _Optional[str] = ..., acl: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class SetObjectAclResponse(_message.Message):
    __slots__ = ("version_id",)
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    version_id: str
    def __init__(self, version_id: _Optional[str] = ...) -> None: ...

class ListObjectsV2Request(_message.Message):
    __slots__ = ("bucket", "prefix", "delimiter", "max_keys", "continuation_token", "start_after", "fetch_owner")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    DELIMITER_FIELD_NUMBER: _ClassVar[int]
    MAX_KEYS_FIELD_NUMBER: _ClassVar[int]
    CONTINUATION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    START_AFTER_FIELD_NUMBER: _ClassVar[int]
    FETCH_OWNER_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    prefix: str
    delimiter: str
    max_keys: int
    continuation_token: str
    start_after: str
    fetch_owner: bool
    def __init__(self, bucket: _Optional[str] = ..., prefix: _Optional[str] = ..., delimiter: _Optional[str] = ..., max_keys: _Optional[int] = ..., continuation_token: _Optional[str] = ..., start_after: _Optional[str] = ..., fetch_owner: _Optional[bool] = ...) -> None: ...

class ListObjectsV2Response(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: ListObjectsV2Page
    def __init__(self, result: _Optional[_Union[ListObjectsV2Page, _Mapping]] = ...) -> None: ...

class ListObjectsV1Request(_message.Message):
    __slots__ = ("bucket", "prefix", "delimiter", "max_keys", "marker")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    DELIMITER_FIELD_NUMBER: _ClassVar[int]
    MAX_KEYS_FIELD_NUMBER: _ClassVar[int]
    MARKER_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    prefix: str
    delimiter: str
    max_keys: int
    marker: str
    def __init__(self, bucket: _Optional[str] = ..., prefix: _Optional[str] = ..., delimiter: _Optional[str] = ..., max_keys: _Optional[int] = ..., marker: _Optional[str] = ...) -> None: ...

class ListObjectsV1Response(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: ListObjectsV1Page
    def __init__(self, result: _Optional[_Union[ListObjectsV1Page, _Mapping]] = ...) -> None: ...

class ListObjectVersionsRequest(_message.Message):
    __slots__ = ("bucket", "prefix", "delimiter", "max_keys", "key_marker", "version_id_marker")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    DELIMITER_FIELD_NUMBER: _ClassVar[int]
    MAX_KEYS_FIELD_NUMBER: _ClassVar[int]
    KEY_MARKER_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_MARKER_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    prefix: str
    delimiter: str
    max_keys: int
    key_marker: str
    version_id_marker: str
    def __init__(self, bucket: _Optional[str] = ..., prefix: _Optional[str] = ..., delimiter: _Optional[str] = ..., max_keys: _Optional[int] = ..., key_marker: _Optional[str] = ..., version_id_marker: _Optional[str] = ...) -> None: ...

class ListObjectVersionsResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: ListVersionsPage
    def __init__(self, result: _Optional[_Union[ListVersionsPage, _Mapping]] = ...) -> None: ...

class RecordWriteIntentRequest(_message.Message):
    __slots__ = ("bucket", "key", "blob_id", "pg", "ttl_s", "request_id")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    BLOB_ID_FIELD_NUMBER: _ClassVar[int]
    PG_FIELD_NUMBER: _ClassVar[int]
    TTL_S_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    blob_id: bytes
    pg: int
    ttl_s: float
    request_id: str
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., blob_id: _Optional[bytes] = ..., pg: _Optional[int] = ..., ttl_s: _Optional[float] = ..., request_id: _Optional[str] = ...) -> None: ...

class RecordWriteIntentResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: WriteIntent
    def __init__(self, result: _Optional[_Union[WriteIntent, _Mapping]] = ...) -> None: ...

class ListGcWorkRequest(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ...) -> None: ...

class ListGcWorkResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _containers.RepeatedCompositeFieldContainer[GcItem]
    def __init__(self, result: _Optional[_Iterable[_Union[GcItem, _Mapping]]] = ...) -> None: ...

class AckGcWorkRequest(_message.Message):
    __slots__ = ("blob_ids", "request_id")
    BLOB_IDS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    blob_ids: _containers.RepeatedScalarFieldContainer[bytes]
    request_id: str
    def __init__(self, blob_ids: _Optional[_Iterable[bytes]] = ..., request_id: _Optional[str] = ...) -> None: ...

class AckGcWorkResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: int
    def __init__(self, result: _Optional[int] = ...) -> None: ...

class FindBlobsRequest(_message.Message):
    __slots__ = ("blob_ids",)
    BLOB_IDS_FIELD_NUMBER: _ClassVar[int]
    blob_ids: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, blob_ids: _Optional[_Iterable[bytes]] = ...) -> None: ...

class FindBlobsResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, result: _Optional[_Iterable[bytes]] = ...) -> None: ...

class CreateMultipartUploadRequest(_message.Message):
    __slots__ = ("bucket", "key", "attrs", "checksum_algorithm", "checksum_type", "request_id")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    ATTRS_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    attrs: ObjectAttrs
    checksum_algorithm: str
    checksum_type: str
    request_id: str
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., attrs: _Optional[_Union[ObjectAttrs, _Mapping]] = ..., checksum_algorithm: _Optional[str] = ..., checksum_type: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateMultipartUploadResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: MultipartUpload
    def __init__(self, result: _Optional[_Union[MultipartUpload, _Mapping]] = ...) -> None: ...

class GetMultipartUploadRequest(_message.Message):
    __slots__ = ("bucket", "key", "upload_id")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    upload_id: str
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., upload_id: _Optional[str] = ...) -> None: ...

class GetMultipartUploadResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: MultipartUpload
    def __init__(self, result: _Optional[_Union[MultipartUpload, _Mapping]] = ...) -> None: ...

class RegisterPartRequest(_message.Message):
    __slots__ = ("bucket", "key", "upload_id", "part_number", "size", "etag", "blobs", "checksums", "request_id")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    PART_NUMBER_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    BLOBS_FIELD_NUMBER: _ClassVar[int]
    CHECKSUMS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    upload_id: str
    part_number: int
    size: int
    etag: str
    blobs: _containers.RepeatedCompositeFieldContainer[BlobRef]
    checksums: _containers.RepeatedCompositeFieldContainer[Checksum]
    request_id: str
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., upload_id: _Optional[str] = ..., part_number: _Optional[int] = ..., size: _Optional[int] = ..., etag: _Optional[str] = ..., blobs: _Optional[_Iterable[_Union[BlobRef, _Mapping]]] = ..., checksums: _Optional[_Iterable[_Union[Checksum, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class RegisterPartResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: Part
    def __init__(self, result: _Optional[_Union[Part, _Mapping]] = ...) -> None: ...

class ListPartsRequest(_message.Message):
    __slots__ = ("bucket", "key", "upload_id", "max_parts", "part_number_marker")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_PARTS_FIELD_NUMBER: _ClassVar[int]
    PART_NUMBER_MARKER_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    upload_id: str
    max_parts: int
    part_number_marker: int
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., upload_id: _Optional[str] = ..., max_parts: _Optional[int] = ..., part_number_marker: _Optional[int] = ...) -> None: ...

class ListPartsResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: ListPartsPage
    def __init__(self, result: _Optional[_Union[ListPartsPage, _Mapping]] = ...) -> None: ...

class ListMultipartUploadsRequest(_message.Message):
    __slots__ = ("bucket", "prefix", "delimiter", "max_uploads", "key_marker", "upload_id_marker")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    DELIMITER_FIELD_NUMBER: _ClassVar[int]
    MAX_UPLOADS_FIELD_NUMBER: _ClassVar[int]
    KEY_MARKER_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_ID_MARKER_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    prefix: str
    delimiter: str
    max_uploads: int
    key_marker: str
    upload_id_marker: str
    def __init__(self, bucket: _Optional[str] = ..., prefix: _Optional[str] = ..., delimiter: _Optional[str] = ..., max_uploads: _Optional[int] = ..., key_marker: _Optional[str] = ..., upload_id_marker: _Optional[str] = ...) -> None: ...

class ListMultipartUploadsResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: ListUploadsPage
    def __init__(self, result: _Optional[_Union[ListUploadsPage, _Mapping]] = ...) -> None: ...

class CompleteMultipartUploadRequest(_message.Message):
    __slots__ = ("bucket", "key", "upload_id", "parts", "checksums", "if_match", "if_none_match", "request_id")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    CHECKSUMS_FIELD_NUMBER: _ClassVar[int]
    IF_MATCH_FIELD_NUMBER: _ClassVar[int]
    IF_NONE_MATCH_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    upload_id: str
    parts: _containers.RepeatedCompositeFieldContainer[CompletedPart]
    checksums: _containers.RepeatedCompositeFieldContainer[Checksum]
    if_match: str
    if_none_match: bool
    request_id: str
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., upload_id: _Optional[str] = ..., parts: _Optional[_Iterable[_Union[CompletedPart, _Mapping]]] = ..., checksums: _Optional[_Iterable[_Union[Checksum, _Mapping]]] = ..., if_match: _Optional[str] = ..., if_none_match: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class CompleteMultipartUploadResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: ObjectVersion
    def __init__(self, result: _Optional[_Union[ObjectVersion, _Mapping]] = ...) -> None: ...

class AbortMultipartUploadRequest(_message.Message):
    __slots__ = ("bucket", "key", "upload_id", "request_id")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    upload_id: str
    request_id: str
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., upload_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class AbortMultipartUploadResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateUserRequest(_message.Message):
    __slots__ = ("name", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateUserResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: User
    def __init__(self, result: _Optional[_Union[User, _Mapping]] = ...) -> None: ...

class GetUserRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetUserResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: User
    def __init__(self, result: _Optional[_Union[User, _Mapping]] = ...) -> None: ...

class ListUsersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListUsersResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _containers.RepeatedCompositeFieldContainer[User]
    def __init__(self, result: _Optional[_Iterable[_Union[User, _Mapping]]] = ...) -> None: ...

class DeleteUserRequest(_message.Message):
    __slots__ = ("name", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DeleteUserResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateAccessKeyRequest(_message.Message):
    __slots__ = ("user_name", "access_key_id", "secret_access_key", "request_id")
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    ACCESS_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SECRET_ACCESS_KEY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    user_name: str
    access_key_id: str
    secret_access_key: str
    request_id: str
    def __init__(self, user_name: _Optional[str] = ..., access_key_id: _Optional[str] = ..., secret_access_key: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateAccessKeyResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: AccessKey
    def __init__(self, result: _Optional[_Union[AccessKey, _Mapping]] = ...) -> None: ...

class GetAccessKeyRequest(_message.Message):
    __slots__ = ("access_key_id",)
    ACCESS_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    access_key_id: str
    def __init__(self, access_key_id: _Optional[str] = ...) -> None: ...

class GetAccessKeyResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: AccessKey
    def __init__(self, result: _Optional[_Union[AccessKey, _Mapping]] = ...) -> None: ...

class GetSigningKeyRequest(_message.Message):
    __slots__ = ("access_key_id", "date", "region", "service")
    ACCESS_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    access_key_id: str
    date: str
    region: str
    service: str
    def __init__(self, access_key_id: _Optional[str] = ..., date: _Optional[str] = ..., region: _Optional[str] = ..., service: _Optional[str] = ...) -> None: ...

class GetSigningKeyResponse(_message.Message):
    __slots__ = ("signing_key",)
    SIGNING_KEY_FIELD_NUMBER: _ClassVar[int]
    signing_key: bytes
    def __init__(self, signing_key: _Optional[bytes] = ...) -> None: ...

class VerifySigV2Request(_message.Message):
    __slots__ = ("access_key_id", "string_to_sign", "signature")
    ACCESS_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    STRING_TO_SIGN_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    access_key_id: str
    string_to_sign: bytes
    signature: str
    def __init__(self, access_key_id: _Optional[str] = ..., string_to_sign: _Optional[bytes] = ..., signature: _Optional[str] = ...) -> None: ...

class VerifySigV2Response(_message.Message):
    __slots__ = ("valid",)
    VALID_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    def __init__(self, valid: _Optional[bool] = ...) -> None: ...

class ListAccessKeysRequest(_message.Message):
    __slots__ = ("user_name",)
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    user_name: str
    def __init__(self, user_name: _Optional[str] = ...) -> None: ...

class ListAccessKeysResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _containers.RepeatedCompositeFieldContainer[AccessKey]
    def __init__(self, result: _Optional[_Iterable[_Union[AccessKey, _Mapping]]] = ...) -> None: ...

class SetAccessKeyStatusRequest(_message.Message):
    __slots__ = ("access_key_id", "status", "request_id")
    ACCESS_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    access_key_id: str
    status: str
    request_id: str
    def __init__(self, access_key_id: _Optional[str] = ..., status: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class SetAccessKeyStatusResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: AccessKey
    def __init__(self, result: _Optional[_Union[AccessKey, _Mapping]] = ...) -> None: ...

class DeleteAccessKeyRequest(_message.Message):
    __slots__ = ("access_key_id", "request_id")
    ACCESS_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    access_key_id: str
    request_id: str
    def __init__(self, access_key_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DeleteAccessKeyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PutUserPolicyRequest(_message.Message):
    __slots__ = ("user_name", "policy_name", "document", "request_id")
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    POLICY_NAME_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    user_name: str
    policy_name: str
    document: str
    request_id: str
    def __init__(self, user_name: _Optional[str] = ..., policy_name: _Optional[str] = ..., document: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class PutUserPolicyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetUserPolicyRequest(_message.Message):
    __slots__ = ("user_name", "policy_name")
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    POLICY_NAME_FIELD_NUMBER: _ClassVar[int]
    user_name: str
    policy_name: str
    def __init__(self, user_name: _Optional[str] = ..., policy_name: _Optional[str] = ...) -> None: ...

class GetUserPolicyResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: Policy
    def __init__(self, result: _Optional[_Union[Policy, _Mapping]] = ...) -> None: ...

class ListUserPoliciesRequest(_message.Message):
    __slots__ = ("user_name",)
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    user_name: str
    def __init__(self, user_name: _Optional[str] = ...) -> None: ...

class ListUserPoliciesResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _containers.RepeatedCompositeFieldContainer[Policy]
    def __init__(self, result: _Optional[_Iterable[_Union[Policy, _Mapping]]] = ...) -> None: ...

class DeleteUserPolicyRequest(_message.Message):
    __slots__ = ("user_name", "policy_name", "request_id")
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    POLICY_NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    user_name: str
    policy_name: str
    request_id: str
    def __init__(self, user_name: _Optional[str] = ..., policy_name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DeleteUserPolicyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RepairReport(_message.Message):
    __slots__ = ("blob_id", "index", "pg", "kind", "source", "node")
    BLOB_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    PG_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    blob_id: bytes
    index: int
    pg: int
    kind: str
    source: str
    node: str
    def __init__(self, blob_id: _Optional[bytes] = ..., index: _Optional[int] = ..., pg: _Optional[int] = ..., kind: _Optional[str] = ..., source: _Optional[str] = ..., node: _Optional[str] = ...) -> None: ...

class RepairItem(_message.Message):
    __slots__ = ("id", "report", "reported_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    REPORTED_MS_FIELD_NUMBER: _ClassVar[int]
    id: int
    report: RepairReport
    reported_ms: int
    def __init__(self, id: _Optional[int] = ..., report: _Optional[_Union[RepairReport, _Mapping]] = ..., reported_ms: _Optional[int] = ...) -> None: ...

class QueueRepairsRequest(_message.Message):
    __slots__ = ("reports", "request_id")
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    reports: _containers.RepeatedCompositeFieldContainer[RepairReport]
    request_id: str
    def __init__(self, reports: _Optional[_Iterable[_Union[RepairReport, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class QueueRepairsResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: int
    def __init__(self, result: _Optional[int] = ...) -> None: ...

class ListRepairQueueRequest(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ...) -> None: ...

class ListRepairQueueResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _containers.RepeatedCompositeFieldContainer[RepairItem]
    def __init__(self, result: _Optional[_Iterable[_Union[RepairItem, _Mapping]]] = ...) -> None: ...

class AckRepairsRequest(_message.Message):
    __slots__ = ("ids", "request_id")
    IDS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    request_id: str
    def __init__(self, ids: _Optional[_Iterable[int]] = ..., request_id: _Optional[str] = ...) -> None: ...

class AckRepairsResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: int
    def __init__(self, result: _Optional[int] = ...) -> None: ...

class GetReplicaStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PeerStatus(_message.Message):
    __slots__ = ("id", "addr", "reachable", "match_index")
    ID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    REACHABLE_FIELD_NUMBER: _ClassVar[int]
    MATCH_INDEX_FIELD_NUMBER: _ClassVar[int]
    id: str
    addr: str
    reachable: bool
    match_index: int
    def __init__(self, id: _Optional[str] = ..., addr: _Optional[str] = ..., reachable: _Optional[bool] = ..., match_index: _Optional[int] = ...) -> None: ...

class GetReplicaStatusResponse(_message.Message):
    __slots__ = ("id", "role", "term", "leader_id", "commit_index", "applied_index", "peers")
    ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    COMMIT_INDEX_FIELD_NUMBER: _ClassVar[int]
    APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    PEERS_FIELD_NUMBER: _ClassVar[int]
    id: str
    role: str
    term: int
    leader_id: str
    commit_index: int
    applied_index: int
    peers: _containers.RepeatedCompositeFieldContainer[PeerStatus]
    def __init__(self, id: _Optional[str] = ..., role: _Optional[str] = ..., term: _Optional[int] = ..., leader_id: _Optional[str] = ..., commit_index: _Optional[int] = ..., applied_index: _Optional[int] = ..., peers: _Optional[_Iterable[_Union[PeerStatus, _Mapping]]] = ...) -> None: ...

class KmsKey(_message.Message):
    __slots__ = ("key_id", "arn", "alias", "description", "enabled", "created_ms", "master_key_id")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    ARN_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    MASTER_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    arn: str
    alias: str
    description: str
    enabled: bool
    created_ms: int
    master_key_id: str
    def __init__(self, key_id: _Optional[str] = ..., arn: _Optional[str] = ..., alias: _Optional[str] = ..., description: _Optional[str] = ..., enabled: _Optional[bool] = ..., created_ms: _Optional[int] = ..., master_key_id: _Optional[str] = ...) -> None: ...

class CreateKmsKeyRequest(_message.Message):
    __slots__ = ("alias", "description", "request_id")
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    alias: str
    description: str
    request_id: str
    def __init__(self, alias: _Optional[str] = ..., description: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateKmsKeyResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: KmsKey
    def __init__(self, result: _Optional[_Union[KmsKey, _Mapping]] = ...) -> None: ...

class GetKmsKeyRequest(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class GetKmsKeyResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: KmsKey
    def __init__(self, result: _Optional[_Union[KmsKey, _Mapping]] = ...) -> None: ...

class ListKmsKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListKmsKeysResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _containers.RepeatedCompositeFieldContainer[KmsKey]
    def __init__(self, result: _Optional[_Iterable[_Union[KmsKey, _Mapping]]] = ...) -> None: ...

class SetKmsKeyEnabledRequest(_message.Message):
    __slots__ = ("key", "enabled", "request_id")
    KEY_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    key: str
    enabled: bool
    request_id: str
    def __init__(self, key: _Optional[str] = ..., enabled: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class SetKmsKeyEnabledResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: KmsKey
    def __init__(self, result: _Optional[_Union[KmsKey, _Mapping]] = ...) -> None: ...

class GenerateKmsDataKeyRequest(_message.Message):
    __slots__ = ("key", "context", "request_id")
    KEY_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    key: str
    context: bytes
    request_id: str
    def __init__(self, key: _Optional[str] = ..., context: _Optional[bytes] = ..., request_id: _Optional[str] = ...) -> None: ...

class GenerateKmsDataKeyResponse(_message.Message):
    __slots__ = ("key", "plaintext", "ciphertext")
    KEY_FIELD_NUMBER: _ClassVar[int]
    PLAINTEXT_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    key: KmsKey
    plaintext: bytes
    ciphertext: bytes
    def __init__(self, key: _Optional[_Union[KmsKey, _Mapping]] = ..., plaintext: _Optional[bytes] = ..., ciphertext: _Optional[bytes] = ...) -> None: ...

class GetKmsDataKeyRequest(_message.Message):
    __slots__ = ("ciphertext", "context")
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    ciphertext: bytes
    context: bytes
    def __init__(self, ciphertext: _Optional[bytes] = ..., context: _Optional[bytes] = ...) -> None: ...

class GetKmsDataKeyResponse(_message.Message):
    __slots__ = ("key", "plaintext")
    KEY_FIELD_NUMBER: _ClassVar[int]
    PLAINTEXT_FIELD_NUMBER: _ClassVar[int]
    key: KmsKey
    plaintext: bytes
    def __init__(self, key: _Optional[_Union[KmsKey, _Mapping]] = ..., plaintext: _Optional[bytes] = ...) -> None: ...

class ResealMasterKeysRequest(_message.Message):
    __slots__ = ("target", "cursor", "limit", "request_id")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    target: int
    cursor: str
    limit: int
    request_id: str
    def __init__(self, target: _Optional[int] = ..., cursor: _Optional[str] = ..., limit: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class ResealMasterKeysResponse(_message.Message):
    __slots__ = ("active", "resealed", "in_use", "next_cursor", "done", "shards")
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    RESEALED_FIELD_NUMBER: _ClassVar[int]
    IN_USE_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    active: str
    resealed: int
    in_use: _containers.RepeatedScalarFieldContainer[str]
    next_cursor: str
    done: bool
    shards: int
    def __init__(self, active: _Optional[str] = ..., resealed: _Optional[int] = ..., in_use: _Optional[_Iterable[str]] = ..., next_cursor: _Optional[str] = ..., done: _Optional[bool] = ..., shards: _Optional[int] = ...) -> None: ...

class BatchCall(_message.Message):
    __slots__ = ("method", "request")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    method: str
    request: bytes
    def __init__(self, method: _Optional[str] = ..., request: _Optional[bytes] = ...) -> None: ...

class BatchRequest(_message.Message):
    __slots__ = ("calls",)
    CALLS_FIELD_NUMBER: _ClassVar[int]
    calls: _containers.RepeatedCompositeFieldContainer[BatchCall]
    def __init__(self, calls: _Optional[_Iterable[_Union[BatchCall, _Mapping]]] = ...) -> None: ...

class BatchReply(_message.Message):
    __slots__ = ("code", "response", "details", "trailers")
    class TrailersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CODE_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    TRAILERS_FIELD_NUMBER: _ClassVar[int]
    code: int
    response: bytes
    details: str
    trailers: _containers.ScalarMap[str, str]
    def __init__(self, code: _Optional[int] = ..., response: _Optional[bytes] = ..., details: _Optional[str] = ..., trailers: _Optional[_Mapping[str, str]] = ...) -> None: ...

class BatchResponse(_message.Message):
    __slots__ = ("replies",)
    REPLIES_FIELD_NUMBER: _ClassVar[int]
    replies: _containers.RepeatedCompositeFieldContainer[BatchReply]
    def __init__(self, replies: _Optional[_Iterable[_Union[BatchReply, _Mapping]]] = ...) -> None: ...

class GetBucketContextRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetBucketContextResponse(_message.Message):
    __slots__ = ("bucket", "policy", "configs")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    CONFIGS_FIELD_NUMBER: _ClassVar[int]
    bucket: Bucket
    policy: str
    configs: _containers.RepeatedCompositeFieldContainer[BucketConfig]
    def __init__(self, bucket: _Optional[_Union[Bucket, _Mapping]] = ..., policy: _Optional[str] = ..., configs: _Optional[_Iterable[_Union[BucketConfig, _Mapping]]] = ...) -> None: ...
