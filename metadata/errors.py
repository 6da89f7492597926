"""Typed errors of the metadata service, one class per reason.

The class name *is* the reason string carried across gRPC (cairn.rpc): the server aborts with
`(error.grpc_code, type(error).__name__)` and the client re-raises the class registered under
that reason, so the API service maps errors to S3 responses by type, never by message text.
Errors that S3 answers with extra headers (a GET that hits a delete marker) carry the
`version_id`, `is_delete_marker` and `last_modified_ms` the API needs.
"""

from __future__ import annotations

import grpc


class MetadataError(Exception):
    """Base of every error the metadata service reports."""

    grpc_code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        message: str = "",
        *,
        version_id: str | None = None,
        is_delete_marker: bool = False,
        last_modified_ms: int = 0,
    ) -> None:
        super().__init__(message or type(self).__name__)
        self.message = message or type(self).__name__
        self.version_id = version_id
        self.is_delete_marker = is_delete_marker
        self.last_modified_ms = last_modified_ms

    @property
    def reason(self) -> str:
        return type(self).__name__


class _NotFound(MetadataError):
    grpc_code = grpc.StatusCode.NOT_FOUND


class _Conflict(MetadataError):
    grpc_code = grpc.StatusCode.FAILED_PRECONDITION


class _Invalid(MetadataError):
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT


class _Exists(MetadataError):
    grpc_code = grpc.StatusCode.ALREADY_EXISTS


# --- buckets -----------------------------------------------------------------------------
class NoSuchBucket(_NotFound):
    pass


class BucketAlreadyExists(_Exists):
    """The name belongs to another owner."""


class BucketAlreadyOwnedByYou(_Exists):
    """The caller already owns a bucket with this name."""


class BucketNotEmpty(_Conflict):
    """A version, delete marker or in-progress multipart upload remains."""


class InvalidBucketName(_Invalid):
    pass


class NoSuchBucketPolicy(_NotFound):
    pass


# --- objects -----------------------------------------------------------------------------
class NoSuchKey(_NotFound):
    """No current version; `is_delete_marker`/`version_id` say whether a marker is current."""


class NoSuchVersion(_NotFound):
    pass


class MethodNotAllowed(_Conflict):
    """GET/HEAD of a specific version that is a delete marker (S3 answers 405)."""


class PreconditionFailed(_Conflict):
    """If-Match did not match the current ETag, or If-None-Match: * found a current object."""


class InvalidArgument(_Invalid):
    """A malformed argument: version id, continuation token, part number, max-keys, ..."""


class KeyTooLongError(_Invalid):
    """The key is longer than 1024 bytes of UTF-8."""


class MalformedXML(_Invalid):
    """The CompleteMultipartUpload part list is empty."""


# --- multipart ---------------------------------------------------------------------------
class NoSuchUpload(_NotFound):
    pass


class InvalidPart(_Invalid):
    """A listed part was not uploaded, or its ETag/checksum does not match."""


class InvalidPartOrder(_Invalid):
    """The part list is not in strictly ascending part-number order."""


class EntityTooSmall(_Invalid):
    """A part other than the last is smaller than 5 MiB."""


class IntentExpired(_Conflict):
    """A blob's write intent expired (its shards may already be reclaimed): write it again."""


# --- IAM ---------------------------------------------------------------------------------
class NoSuchUser(_NotFound):
    pass


class UserAlreadyExists(_Exists):
    pass


class NoSuchAccessKey(_NotFound):
    pass


class AccessKeyAlreadyExists(_Exists):
    pass


class NoSuchPolicy(_NotFound):
    pass


class DeleteConflict(_Conflict):
    """A user still has access keys or policies attached."""


# --- service -----------------------------------------------------------------------------
class MetadataUnavailable(MetadataError):
    """The service could not be reached or did not answer within the deadline (S3: 503)."""

    grpc_code = grpc.StatusCode.UNAVAILABLE


class InternalError(MetadataError):
    """The service failed unexpectedly (a bug; S3: 500). The traceback is in its log."""

    grpc_code = grpc.StatusCode.INTERNAL


ERRORS_BY_REASON: dict[str, type[MetadataError]] = {
    cls.__name__: cls
    for cls in (
        NoSuchBucket,
        BucketAlreadyExists,
        BucketAlreadyOwnedByYou,
        BucketNotEmpty,
        InvalidBucketName,
        NoSuchBucketPolicy,
        NoSuchKey,
        NoSuchVersion,
        MethodNotAllowed,
        PreconditionFailed,
        InvalidArgument,
        MalformedXML,
        KeyTooLongError,
        NoSuchUpload,
        IntentExpired,
        InvalidPart,
        InvalidPartOrder,
        EntityTooSmall,
        NoSuchUser,
        UserAlreadyExists,
        NoSuchAccessKey,
        AccessKeyAlreadyExists,
        NoSuchPolicy,
        DeleteConflict,
        MetadataUnavailable,
        InternalError,
    )
}
