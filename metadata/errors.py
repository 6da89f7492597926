"""Typed errors of the metadata service, one plain class per reason.

The class name *is* the reason carried across gRPC: the RPC edge (`rpc_errors.ERRORS`, used
only by `rpc_server` and `client`) maps each class to a status code and the client re-raises
the class named by the reason, so the API service maps errors to S3 responses by type, never
by message text. Nothing here knows about gRPC. Errors that S3 answers with extra headers (a
GET that hits a delete marker) carry the `version_id`, `is_delete_marker` and
`last_modified_ms` the API needs.
"""

from __future__ import annotations

from collections.abc import Iterator


class MetadataError(Exception):
    """Base of every error the metadata service reports."""

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


# --- buckets -----------------------------------------------------------------------------
class NoSuchBucket(MetadataError):
    pass


class BucketAlreadyExists(MetadataError):
    """The name belongs to another owner."""


class BucketAlreadyOwnedByYou(MetadataError):
    """The caller already owns a bucket with this name."""


class BucketNotEmpty(MetadataError):
    """A version, delete marker or in-progress multipart upload remains."""


class InvalidBucketName(MetadataError):
    pass


class NoSuchBucketPolicy(MetadataError):
    pass


class NoSuchBucketConfig(MetadataError):
    """The bucket has no configuration document of the asked kind."""


# --- objects -----------------------------------------------------------------------------
class NoSuchKey(MetadataError):
    """No current version; `is_delete_marker`/`version_id` say whether a marker is current."""


class NoSuchVersion(MetadataError):
    pass


class MethodNotAllowed(MetadataError):
    """GET/HEAD of a specific version that is a delete marker (S3 answers 405)."""


class PreconditionFailed(MetadataError):
    """If-Match did not match the current ETag, or If-None-Match: * found a current object."""


class InvalidArgument(MetadataError):
    """A malformed argument: version id, continuation token, part number, max-keys, ..."""


class KeyTooLongError(MetadataError):
    """The key is longer than 1024 bytes of UTF-8."""


class MalformedXML(MetadataError):
    """The CompleteMultipartUpload part list is empty."""


# --- multipart ---------------------------------------------------------------------------
class NoSuchUpload(MetadataError):
    pass


class InvalidPart(MetadataError):
    """A listed part was not uploaded, or its ETag/checksum does not match."""


class InvalidPartOrder(MetadataError):
    """The part list is not in strictly ascending part-number order."""


class BadDigest(MetadataError):
    """The object checksum a completion states is not the one its parts make."""


class EntityTooSmall(MetadataError):
    """A part other than the last is smaller than 5 MiB."""


class IntentExpired(MetadataError):
    """A blob's write intent expired (its shards may already be reclaimed): write it again."""


# --- IAM ---------------------------------------------------------------------------------
class NoSuchUser(MetadataError):
    pass


class UserAlreadyExists(MetadataError):
    pass


class NoSuchAccessKey(MetadataError):
    pass


class AccessKeyAlreadyExists(MetadataError):
    pass


class NoSuchPolicy(MetadataError):
    pass


class DeleteConflict(MetadataError):
    """A user still has access keys or policies attached."""


# --- KMS: the built-in key store (kms.py) ------------------------------------------------
class NoSuchKmsKey(MetadataError):
    """No KMS key has this id, ARN or alias (S3: 400 KMS.NotFoundException)."""


class KmsKeyDisabled(MetadataError):
    """The KMS key is disabled (S3: 400 KMS.DisabledException)."""


class KmsAliasExists(MetadataError):
    pass


class KmsInvalidCiphertext(MetadataError):
    """A sealed data key did not open under its KMS key and context (KMS: InvalidCiphertextException)."""


class KmsNotConfigured(MetadataError):
    """This metadata service has no cluster master keyring, so it keeps no KMS keys."""


# --- service -----------------------------------------------------------------------------
class MetadataUnavailable(MetadataError):
    """The service could not be reached or did not answer within the deadline (S3: 503)."""


class NotLeader(MetadataUnavailable):
    """This replica is not the metadata group's leader; `leader_addr` names the leader if known."""

    def __init__(self, message: str = "", *, leader_addr: str = "", **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.leader_addr = leader_addr


class InternalError(MetadataError):
    """The service failed unexpectedly (a bug; S3: 500). The traceback is in its log."""


def _subclasses(cls: type[MetadataError]) -> Iterator[type[MetadataError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def error_class(reason: str) -> type[MetadataError]:
    """The error class named `reason` (MetadataError itself for a reason no class has)."""
    return next((cls for cls in _subclasses(MetadataError) if cls.__name__ == reason), MetadataError)
