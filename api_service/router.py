"""The pure S3 router: (method, host, path, query) -> one typed endpoint naming one S3 operation.

Addressing: virtual-hosted style when the Host header is `<bucket>.<base domain>` for a
configured base domain, path style (`/<bucket>/<key>`) otherwise. The key is the percent-decoded
rest of the path, taken verbatim (`..`, `//` and backslashes are ordinary key bytes); it can
never name another bucket because the bucket is fixed by the first segment or the host.

Sub-resources S3 has and Cairn does not (analytics, website, replication, ...) are
`NotImplemented`, except the (method, sub-resource) pairs in `SUBRESOURCE_OPS`: object tagging
(handlers_tagging.py), bucket policies (handlers_policy.py), bucket CORS, tagging and lifecycle
(handlers_bucket_config.py), ACLs and Object Ownership (handlers_acl.py), and Object Lock, which
S3 answers with 2xx or 4xx on a bucket where it is off, as it is on every Cairn bucket
(handlers_disabled.py). A POST on a bucket is a browser form upload (`POST_OBJECT`) unless it is
`?delete`; an OPTIONS on a bucket or object is a CORS preflight (`CORS_PREFLIGHT`); a POST on an
object other than the multipart ones is `MethodNotAllowed`, as S3 answers it. Nothing here does I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from . import errors
from .errors import InvalidArgument, InvalidRequest, MethodNotAllowed


class Op(enum.Enum):
    LIST_BUCKETS = "ListBuckets"
    CREATE_BUCKET = "CreateBucket"
    HEAD_BUCKET = "HeadBucket"
    DELETE_BUCKET = "DeleteBucket"
    GET_BUCKET_LOCATION = "GetBucketLocation"
    GET_BUCKET_VERSIONING = "GetBucketVersioning"
    PUT_BUCKET_VERSIONING = "PutBucketVersioning"
    LIST_OBJECTS = "ListObjects"
    LIST_OBJECTS_V2 = "ListObjectsV2"
    LIST_OBJECT_VERSIONS = "ListObjectVersions"
    LIST_MULTIPART_UPLOADS = "ListMultipartUploads"
    DELETE_OBJECTS = "DeleteObjects"
    PUT_OBJECT = "PutObject"
    COPY_OBJECT = "CopyObject"
    GET_OBJECT = "GetObject"
    HEAD_OBJECT = "HeadObject"
    DELETE_OBJECT = "DeleteObject"
    CREATE_MULTIPART_UPLOAD = "CreateMultipartUpload"
    UPLOAD_PART = "UploadPart"
    UPLOAD_PART_COPY = "UploadPartCopy"
    COMPLETE_MULTIPART_UPLOAD = "CompleteMultipartUpload"
    ABORT_MULTIPART_UPLOAD = "AbortMultipartUpload"
    LIST_PARTS = "ListParts"
    POST_OBJECT = "PostObject"
    GET_BUCKET_ACL = "GetBucketAcl"
    PUT_BUCKET_ACL = "PutBucketAcl"
    GET_OBJECT_ACL = "GetObjectAcl"
    PUT_OBJECT_ACL = "PutObjectAcl"
    GET_BUCKET_OWNERSHIP_CONTROLS = "GetBucketOwnershipControls"
    PUT_BUCKET_OWNERSHIP_CONTROLS = "PutBucketOwnershipControls"
    DELETE_BUCKET_OWNERSHIP_CONTROLS = "DeleteBucketOwnershipControls"
    GET_OBJECT_LOCK_CONFIGURATION = "GetObjectLockConfiguration"
    PUT_OBJECT_LOCK_CONFIGURATION = "PutObjectLockConfiguration"
    GET_OBJECT_RETENTION = "GetObjectRetention"
    PUT_OBJECT_RETENTION = "PutObjectRetention"
    GET_OBJECT_LEGAL_HOLD = "GetObjectLegalHold"
    PUT_OBJECT_LEGAL_HOLD = "PutObjectLegalHold"
    GET_OBJECT_TAGGING = "GetObjectTagging"
    PUT_OBJECT_TAGGING = "PutObjectTagging"
    DELETE_OBJECT_TAGGING = "DeleteObjectTagging"
    GET_OBJECT_ATTRIBUTES = "GetObjectAttributes"
    GET_BUCKET_POLICY = "GetBucketPolicy"
    PUT_BUCKET_POLICY = "PutBucketPolicy"
    DELETE_BUCKET_POLICY = "DeleteBucketPolicy"
    GET_BUCKET_POLICY_STATUS = "GetBucketPolicyStatus"
    GET_BUCKET_CORS = "GetBucketCors"
    PUT_BUCKET_CORS = "PutBucketCors"
    DELETE_BUCKET_CORS = "DeleteBucketCors"
    CORS_PREFLIGHT = "PreflightRequest"
    GET_BUCKET_TAGGING = "GetBucketTagging"
    PUT_BUCKET_TAGGING = "PutBucketTagging"
    DELETE_BUCKET_TAGGING = "DeleteBucketTagging"
    GET_BUCKET_LIFECYCLE = "GetBucketLifecycleConfiguration"
    PUT_BUCKET_LIFECYCLE = "PutBucketLifecycleConfiguration"
    DELETE_BUCKET_LIFECYCLE = "DeleteBucketLifecycle"
    GET_BUCKET_ENCRYPTION = "GetBucketEncryption"
    PUT_BUCKET_ENCRYPTION = "PutBucketEncryption"
    DELETE_BUCKET_ENCRYPTION = "DeleteBucketEncryption"


@dataclass(frozen=True, slots=True)
class Endpoint:
    op: Op
    bucket: str = ""
    key: str = ""
    query: dict[str, str] = field(default_factory=dict)


# Sub-resources we recognise and refuse (501) unless SUBRESOURCE_OPS answers them. Keys of the
# query that name S3 features.
UNSUPPORTED_SUBRESOURCES = frozenset(
    {
        "accelerate",
        "acl",
        "analytics",
        "attributes",
        "cors",
        "encryption",
        "intelligent-tiering",
        "inventory",
        "legal-hold",
        "lifecycle",
        "logging",
        "metadataTable",
        "metrics",
        "notification",
        "object-lock",
        "ownershipControls",
        "policy",
        "policyStatus",
        "publicAccessBlock",
        "replication",
        "requestPayment",
        "restore",
        "retention",
        "select",
        "session",
        "tagging",
        "torrent",
        "website",
        "renameObject",
    }
)


# (method, on an object?, sub-resource) -> the operation, for the sub-resources answered anyway.
SUBRESOURCE_OPS: dict[tuple[str, bool, str], Op] = {
    ("GET", False, "acl"): Op.GET_BUCKET_ACL,
    ("PUT", False, "acl"): Op.PUT_BUCKET_ACL,
    ("GET", True, "acl"): Op.GET_OBJECT_ACL,
    ("PUT", True, "acl"): Op.PUT_OBJECT_ACL,
    ("GET", False, "ownershipControls"): Op.GET_BUCKET_OWNERSHIP_CONTROLS,
    ("PUT", False, "ownershipControls"): Op.PUT_BUCKET_OWNERSHIP_CONTROLS,
    ("DELETE", False, "ownershipControls"): Op.DELETE_BUCKET_OWNERSHIP_CONTROLS,
    ("GET", False, "object-lock"): Op.GET_OBJECT_LOCK_CONFIGURATION,
    ("PUT", False, "object-lock"): Op.PUT_OBJECT_LOCK_CONFIGURATION,
    ("GET", True, "retention"): Op.GET_OBJECT_RETENTION,
    ("PUT", True, "retention"): Op.PUT_OBJECT_RETENTION,
    ("GET", True, "legal-hold"): Op.GET_OBJECT_LEGAL_HOLD,
    ("PUT", True, "legal-hold"): Op.PUT_OBJECT_LEGAL_HOLD,
    ("GET", True, "tagging"): Op.GET_OBJECT_TAGGING,
    ("PUT", True, "tagging"): Op.PUT_OBJECT_TAGGING,
    ("DELETE", True, "tagging"): Op.DELETE_OBJECT_TAGGING,
    ("GET", True, "attributes"): Op.GET_OBJECT_ATTRIBUTES,
    ("GET", False, "policy"): Op.GET_BUCKET_POLICY,
    ("PUT", False, "policy"): Op.PUT_BUCKET_POLICY,
    ("DELETE", False, "policy"): Op.DELETE_BUCKET_POLICY,
    ("GET", False, "policyStatus"): Op.GET_BUCKET_POLICY_STATUS,
    ("GET", False, "cors"): Op.GET_BUCKET_CORS,
    ("PUT", False, "cors"): Op.PUT_BUCKET_CORS,
    ("DELETE", False, "cors"): Op.DELETE_BUCKET_CORS,
    ("GET", False, "tagging"): Op.GET_BUCKET_TAGGING,
    ("PUT", False, "tagging"): Op.PUT_BUCKET_TAGGING,
    ("DELETE", False, "tagging"): Op.DELETE_BUCKET_TAGGING,
    ("GET", False, "lifecycle"): Op.GET_BUCKET_LIFECYCLE,
    ("PUT", False, "lifecycle"): Op.PUT_BUCKET_LIFECYCLE,
    ("DELETE", False, "lifecycle"): Op.DELETE_BUCKET_LIFECYCLE,
    ("GET", False, "encryption"): Op.GET_BUCKET_ENCRYPTION,
    ("PUT", False, "encryption"): Op.PUT_BUCKET_ENCRYPTION,
    ("DELETE", False, "encryption"): Op.DELETE_BUCKET_ENCRYPTION,
}


def parse_query(query_string: str) -> dict[str, str]:
    """Percent-decoded query parameters; the first of repeated names wins; `?uploads` -> ''."""
    out: dict[str, str] = {}
    for item in query_string.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        key = _decode(name.replace("+", " "))
        out.setdefault(key, _decode(value.replace("+", " ")))
    return out


def _decode(text: str) -> str:
    try:
        return unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument("The request is not valid UTF-8.") from None


def split_host(host: str, base_domains: Sequence[str]) -> str | None:
    """The bucket named by a virtual-hosted-style Host header, or None for path style."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.lower().rstrip(".")
    for domain in base_domains:
        domain = domain.lower()
        if name.endswith("." + domain):
            return name[: -len(domain) - 1]
    return None


def route(
    method: str,
    host: str,
    raw_path: str,
    query_string: str,
    headers: dict[str, str],
    base_domains: Sequence[str] = (),
) -> Endpoint:
    """Name the S3 operation of a request (or raise the S3 error for an unroutable one)."""
    query = parse_query(query_string)
    path = _decode(raw_path)
    if not path.startswith("/"):
        raise InvalidRequest("The request path must start with '/'.")
    vhost_bucket = split_host(host, base_domains)
    if vhost_bucket is not None:
        bucket, key = vhost_bucket, path[1:]
    else:
        bucket, _, key = path[1:].partition("/")
    if method == "OPTIONS" and bucket:  # a browser's CORS preflight, whatever the query
        return Endpoint(Op.CORS_PREFLIGHT, bucket, key, query)
    for name in query:
        if name in UNSUPPORTED_SUBRESOURCES:
            op = SUBRESOURCE_OPS.get((method, bool(key), name)) if bucket else None
            if op is None:
                raise errors.NotImplemented(f"The {name} sub-resource is not implemented.")
            return Endpoint(op, bucket, key, query)
    if not bucket:
        if method == "GET":
            return Endpoint(Op.LIST_BUCKETS, query=query)
        raise MethodNotAllowed()
    if not key:
        return Endpoint(_bucket_op(method, query), bucket, "", query)
    return Endpoint(_object_op(method, query, headers), bucket, key, query)


def _bucket_op(method: str, query: dict[str, str]) -> Op:
    if method == "GET":
        if "location" in query:
            return Op.GET_BUCKET_LOCATION
        if "versioning" in query:
            return Op.GET_BUCKET_VERSIONING
        if "versions" in query:
            return Op.LIST_OBJECT_VERSIONS
        if "uploads" in query:
            return Op.LIST_MULTIPART_UPLOADS
        if query.get("list-type") == "2":
            return Op.LIST_OBJECTS_V2
        if "list-type" in query:
            raise InvalidArgument("Invalid list type specified", ArgumentName="list-type")
        return Op.LIST_OBJECTS
    if method == "PUT":
        if "versioning" in query:
            return Op.PUT_BUCKET_VERSIONING
        return Op.CREATE_BUCKET
    if method == "HEAD":
        return Op.HEAD_BUCKET
    if method == "DELETE":
        return Op.DELETE_BUCKET
    if method == "POST":
        return Op.DELETE_OBJECTS if "delete" in query else Op.POST_OBJECT
    raise MethodNotAllowed()


def _object_op(method: str, query: dict[str, str], headers: dict[str, str]) -> Op:
    copy = "x-amz-copy-source" in headers
    if method == "PUT":
        if "partNumber" in query or "uploadId" in query:
            if "partNumber" not in query or "uploadId" not in query:
                raise InvalidRequest("UploadPart needs both partNumber and uploadId.")
            return Op.UPLOAD_PART_COPY if copy else Op.UPLOAD_PART
        return Op.COPY_OBJECT if copy else Op.PUT_OBJECT
    if method == "GET":
        return Op.LIST_PARTS if "uploadId" in query else Op.GET_OBJECT
    if method == "HEAD":
        return Op.HEAD_OBJECT
    if method == "DELETE":
        return Op.ABORT_MULTIPART_UPLOAD if "uploadId" in query else Op.DELETE_OBJECT
    if method == "POST":
        if "uploads" in query:
            return Op.CREATE_MULTIPART_UPLOAD
        if "uploadId" in query:
            return Op.COMPLETE_MULTIPART_UPLOAD
        raise MethodNotAllowed(Method="POST", ResourceType="OBJECT")
    raise MethodNotAllowed()
