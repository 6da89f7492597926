"""The metadata service's error edge: each domain error class and its gRPC status code.

Used only by `rpc_server` (which ends a failed call with the error's status, its class name as
the `cairn-reason` trailer, see cairn.rpc) and `client` (which raises the same class again).
NoSuchKey, NoSuchVersion and MethodNotAllowed also carry the delete-marker details S3 needs in
the trailers `cairn-version-id`, `cairn-delete-marker` ("true"/"false") and
`cairn-last-modified-ms`; NotLeader (UNAVAILABLE, a follower of the Raft group) carries the
leader's address, when known, in `cairn-leader-addr`. A call that reaches no service or outlives its deadline is
`MetadataUnavailable`; an unlisted failure is `InternalError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from grpc import StatusCode

from cairn import rpc
from cairn.metadata.errors import (
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
    KmsAliasExists,
    KmsInvalidCiphertext,
    KmsKeyDisabled,
    KmsNotConfigured,
    MalformedXML,
    MetadataError,
    MetadataUnavailable,
    MethodNotAllowed,
    NoSuchAccessKey,
    NoSuchBucket,
    NoSuchBucketConfig,
    NoSuchBucketPolicy,
    NoSuchKey,
    NoSuchKmsKey,
    NoSuchPolicy,
    NoSuchUpload,
    NoSuchUser,
    NoSuchVersion,
    NotLeader,
    PreconditionFailed,
    UserAlreadyExists,
)

VERSION_ID_KEY = "cairn-version-id"
DELETE_MARKER_KEY = "cairn-delete-marker"
LAST_MODIFIED_KEY = "cairn-last-modified-ms"
LEADER_KEY = "cairn-leader-addr"

CODES: Mapping[type[Exception], StatusCode] = {
    # buckets
    NoSuchBucket: StatusCode.NOT_FOUND,
    BucketAlreadyExists: StatusCode.ALREADY_EXISTS,
    BucketAlreadyOwnedByYou: StatusCode.ALREADY_EXISTS,
    BucketNotEmpty: StatusCode.FAILED_PRECONDITION,
    InvalidBucketName: StatusCode.INVALID_ARGUMENT,
    NoSuchBucketPolicy: StatusCode.NOT_FOUND,
    NoSuchBucketConfig: StatusCode.NOT_FOUND,
    # objects
    NoSuchKey: StatusCode.NOT_FOUND,
    NoSuchVersion: StatusCode.NOT_FOUND,
    MethodNotAllowed: StatusCode.FAILED_PRECONDITION,
    PreconditionFailed: StatusCode.FAILED_PRECONDITION,
    InvalidArgument: StatusCode.INVALID_ARGUMENT,
    KeyTooLongError: StatusCode.INVALID_ARGUMENT,
    MalformedXML: StatusCode.INVALID_ARGUMENT,
    # multipart and write intents
    NoSuchUpload: StatusCode.NOT_FOUND,
    InvalidPart: StatusCode.INVALID_ARGUMENT,
    InvalidPartOrder: StatusCode.INVALID_ARGUMENT,
    BadDigest: StatusCode.INVALID_ARGUMENT,
    EntityTooSmall: StatusCode.INVALID_ARGUMENT,
    IntentExpired: StatusCode.FAILED_PRECONDITION,
    # IAM
    NoSuchUser: StatusCode.NOT_FOUND,
    UserAlreadyExists: StatusCode.ALREADY_EXISTS,
    NoSuchAccessKey: StatusCode.NOT_FOUND,
    AccessKeyAlreadyExists: StatusCode.ALREADY_EXISTS,
    NoSuchPolicy: StatusCode.NOT_FOUND,
    DeleteConflict: StatusCode.FAILED_PRECONDITION,
    # KMS
    NoSuchKmsKey: StatusCode.NOT_FOUND,
    KmsKeyDisabled: StatusCode.FAILED_PRECONDITION,
    KmsAliasExists: StatusCode.ALREADY_EXISTS,
    KmsInvalidCiphertext: StatusCode.INVALID_ARGUMENT,
    KmsNotConfigured: StatusCode.FAILED_PRECONDITION,
    # the service itself
    NotLeader: StatusCode.UNAVAILABLE,
    MetadataUnavailable: StatusCode.UNAVAILABLE,
    InternalError: StatusCode.INTERNAL,
    MetadataError: StatusCode.UNKNOWN,  # a subclass not listed above
}


def _encode(exc: Exception) -> Sequence[tuple[str, str]]:
    if not isinstance(exc, MetadataError):
        return ()
    trailers: list[tuple[str, str]] = []
    if exc.version_id is not None:
        trailers.append((VERSION_ID_KEY, exc.version_id))
    if exc.is_delete_marker:
        trailers.append((DELETE_MARKER_KEY, "true"))
    if exc.last_modified_ms:
        trailers.append((LAST_MODIFIED_KEY, str(exc.last_modified_ms)))
    if isinstance(exc, NotLeader) and exc.leader_addr:
        trailers.append((LEADER_KEY, exc.leader_addr))
    return trailers


def _decode(cls: type[Exception], message: str, trailers: Mapping[str, str]) -> Exception:
    if issubclass(cls, MetadataError):
        return _metadata_error(cls, message, trailers)
    return cls(message)


def _metadata_error(cls: type[MetadataError], message: str, trailers: Mapping[str, str]) -> MetadataError:
    if issubclass(cls, NotLeader):
        return cls(message, leader_addr=trailers.get(LEADER_KEY, ""))
    return cls(
        message,
        version_id=trailers.get(VERSION_ID_KEY),
        is_delete_marker=trailers.get(DELETE_MARKER_KEY) == "true",
        last_modified_ms=int(trailers.get(LAST_MODIFIED_KEY) or 0),
    )


ERRORS = rpc.ErrorTable(
    CODES,
    unavailable=MetadataUnavailable,
    internal=InternalError,
    encode=_encode,
    decode=_decode,
)
