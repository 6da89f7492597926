"""The one table that turns internal errors into S3 errors at the edge.

Metadata errors are matched by type (their class is the reason carried over gRPC), data path
and placement failures become 503 ServiceUnavailable, and anything unmapped is 500 InternalError
(the caller logs the traceback). Errors S3 answers with extra headers (a GET that hits a delete
marker) get `x-amz-delete-marker` / `x-amz-version-id` here.
"""

from __future__ import annotations

from cairn.api_service.blob_io import BlobIOError
from cairn.metadata import errors as md
from cairn.placement.client import PlacementUnavailable

from . import errors as s3

_BY_TYPE: dict[type[Exception], type[s3.S3Error]] = {
    md.NoSuchBucket: s3.NoSuchBucket,
    md.BucketAlreadyExists: s3.BucketAlreadyExists,
    md.BucketAlreadyOwnedByYou: s3.BucketAlreadyOwnedByYou,
    md.BucketNotEmpty: s3.BucketNotEmpty,
    md.InvalidBucketName: s3.InvalidBucketName,
    md.NoSuchBucketPolicy: s3.NoSuchBucketPolicy,
    md.NoSuchKey: s3.NoSuchKey,
    md.NoSuchVersion: s3.NoSuchVersion,
    md.MethodNotAllowed: s3.MethodNotAllowed,
    md.PreconditionFailed: s3.PreconditionFailed,
    md.InvalidArgument: s3.InvalidArgument,
    md.MalformedXML: s3.MalformedXML,
    md.NoSuchUpload: s3.NoSuchUpload,
    md.InvalidPart: s3.InvalidPart,
    md.InvalidPartOrder: s3.InvalidPartOrder,
    md.BadDigest: s3.BadDigest,
    md.EntityTooSmall: s3.EntityTooSmall,
    md.KeyTooLongError: s3.KeyTooLongError,
    # The upload outlived its write intent: its shards may already be reclaimed, so the
    # version is refused; a retry (which SDKs do on 503) writes the data afresh.
    md.IntentExpired: s3.ServiceUnavailable,
    md.MetadataUnavailable: s3.ServiceUnavailable,
    md.InternalError: s3.InternalError,
    md.NoSuchUser: s3.InvalidAccessKeyId,
    md.NoSuchAccessKey: s3.InvalidAccessKeyId,
}


_UNAVAILABLE: tuple[type[Exception], ...] = (BlobIOError, TimeoutError, PlacementUnavailable)


def to_s3_error(error: Exception) -> s3.S3Error | None:
    """The S3 error for an internal `error`, or None when it is unmapped (a 500 with a logged trace)."""
    if isinstance(error, s3.S3Error):
        return error
    for cls in type(error).__mro__:
        target = _BY_TYPE.get(cls)
        if target is not None:
            # Internal message text is shown only where it names the bad argument.
            message = str(error) if target in (s3.InvalidArgument, s3.BadDigest) else None
            return _with_headers(target(message), error)
    if isinstance(error, _UNAVAILABLE):
        return s3.ServiceUnavailable()
    return None


def _with_headers(result: s3.S3Error, error: Exception) -> s3.S3Error:
    if isinstance(error, md.MetadataError):
        if error.is_delete_marker:
            result.headers["x-amz-delete-marker"] = "true"
        if error.version_id:
            result.headers["x-amz-version-id"] = error.version_id
        if isinstance(error, md.MethodNotAllowed | md.NoSuchKey) and error.is_delete_marker:
            result.headers["allow"] = "DELETE"
    return result
