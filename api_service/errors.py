"""S3 errors: one `S3Error` base and one subclass per AWS error code the S3 edge emits.

Every subclass is named after its AWS code and carries the HTTP status and AWS's default
message; a raise site may pass a more specific message and extra XML fields (for example
`BucketName`, `Key`, `ArgumentName`). `render_error` turns any S3Error into the S3 XML body.

Invariants: internal errors never subclass S3Error (they are mapped at the edge by
`error_mapping.py`); `NotModified` and errors answering HEAD carry no body.
"""

from __future__ import annotations

from collections.abc import Mapping
from xml.sax.saxutils import escape


class S3Error(Exception):
    """An error answered to the client as S3 XML with an AWS error code."""

    code: str = "InternalError"
    status: int = 500
    default_message: str = "We encountered an internal error. Please try again."

    def __init__(self, message: str | None = None, **fields: str | int) -> None:
        self.message = message or self.default_message
        self.fields: dict[str, str] = {k: str(v) for k, v in fields.items()}
        self.headers: dict[str, str] = {}
        super().__init__(f"{self.code}: {self.message}")

    def with_headers(self, headers: Mapping[str, str]) -> S3Error:
        """Attach response headers (e.g. `x-amz-delete-marker`) and return self."""
        self.headers.update(headers)
        return self


# 3xx/4xx: the request is wrong or a condition failed.
class NotModified(S3Error):
    code, status, default_message = "NotModified", 304, "Not Modified"


class BadDigest(S3Error):
    code, status = "BadDigest", 400
    default_message = "The Content-MD5 you specified did not match what we received."


class InvalidDigest(S3Error):
    code, status = "InvalidDigest", 400
    default_message = "The Content-MD5 you specified is not valid."


class XAmzContentSHA256Mismatch(S3Error):
    code, status = "XAmzContentSHA256Mismatch", 400
    default_message = "The provided 'x-amz-content-sha256' header does not match what was computed."


class InvalidBucketName(S3Error):
    code, status, default_message = "InvalidBucketName", 400, "The specified bucket is not valid."


class KeyTooLongError(S3Error):
    code, status, default_message = "KeyTooLongError", 400, "Your key is too long"


class MalformedXML(S3Error):
    code, status = "MalformedXML", 400
    default_message = (
        "The XML you provided was not well-formed or did not validate against our published schema"
    )


class InvalidTag(S3Error):
    code, status, default_message = "InvalidTag", 400, "The tag provided was not a valid tag."


class InvalidArgument(S3Error):
    code, status, default_message = "InvalidArgument", 400, "Invalid Argument"


class InvalidRequest(S3Error):
    code, status, default_message = "InvalidRequest", 400, "Invalid Request"


class RequestHeaderSectionTooLarge(S3Error):
    code, status = "RequestHeaderSectionTooLarge", 400
    default_message = "Your request header section exceeds the maximum allowed size."


class RequestTimeout(S3Error):
    code, status = "RequestTimeout", 400
    default_message = (
        "Your socket connection to the server was not read from or written to within the timeout period."
    )


class AccessControlListNotSupported(S3Error):
    """ACLs are disabled (S3 Object Ownership `BucketOwnerEnforced`, the only mode Cairn has)."""

    code, status, default_message = "AccessControlListNotSupported", 400, "The bucket does not allow ACLs"


class InvalidBucketAclWithObjectOwnership(S3Error):
    code, status = "InvalidBucketAclWithObjectOwnership", 400
    default_message = "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"


class MalformedPOSTRequest(S3Error):
    code, status = "MalformedPOSTRequest", 400
    default_message = "The body of your POST request is not well-formed multipart/form-data."


class InvalidPolicyDocument(S3Error):
    code, status = "InvalidPolicyDocument", 400
    default_message = "The content of the form does not meet the conditions specified in the policy document."


class MaxPostPreDataLengthExceeded(S3Error):
    code, status = "MaxPostPreDataLengthExceeded", 400
    default_message = "Your POST request fields preceeding the upload file was too large."


class IncompleteBody(S3Error):
    code, status = "IncompleteBody", 400
    default_message = "You did not provide the number of bytes specified by the Content-Length HTTP header"


class EntityTooLarge(S3Error):
    code, status = "EntityTooLarge", 400
    default_message = "Your proposed upload exceeds the maximum allowed object size."


class EntityTooSmall(S3Error):
    code, status = "EntityTooSmall", 400
    default_message = "Your proposed upload is smaller than the minimum allowed object size."


class InvalidPart(S3Error):
    code, status = "InvalidPart", 400
    default_message = (
        "One or more of the specified parts could not be found. The part may not have been uploaded, "
        "or the specified entity tag may not match the part's entity tag."
    )


class InvalidPartOrder(S3Error):
    code, status = "InvalidPartOrder", 400
    default_message = "The list of parts was not in ascending order. Parts must be ordered by part number."


class MetadataTooLarge(S3Error):
    code, status = "MetadataTooLarge", 400
    default_message = "Your metadata headers exceed the maximum allowed metadata size."


class InvalidLocationConstraint(S3Error):
    code, status = "InvalidLocationConstraint", 400
    default_message = "The specified location-constraint is not valid"


class IllegalVersioningConfigurationException(S3Error):
    code, status = "IllegalVersioningConfigurationException", 400
    default_message = "The Versioning element must be specified"


class AuthorizationHeaderMalformed(S3Error):
    code, status = "AuthorizationHeaderMalformed", 400
    default_message = "The authorization header is malformed."


class AuthorizationQueryParametersError(S3Error):
    code, status = "AuthorizationQueryParametersError", 400
    default_message = "Error parsing the X-Amz-Credential parameter."


class InvalidStorageClass(S3Error):
    code, status = "InvalidStorageClass", 400
    default_message = "The storage class you specified is not valid"


class InvalidObjectState(S3Error):
    code, status = "InvalidObjectState", 403
    default_message = "The operation is not valid for the current state of the object."


class SignatureDoesNotMatch(S3Error):
    code, status = "SignatureDoesNotMatch", 403
    default_message = (
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method."
    )


class InvalidAccessKeyId(S3Error):
    code, status = "InvalidAccessKeyId", 403
    default_message = "The AWS Access Key Id you provided does not exist in our records."


class AccessDenied(S3Error):
    code, status, default_message = "AccessDenied", 403, "Access Denied"


class RequestExpired(AccessDenied):
    """AWS answers an expired presigned URL with AccessDenied "Request has expired"."""

    default_message = "Request has expired"


class RequestTimeTooSkewed(S3Error):
    code, status = "RequestTimeTooSkewed", 403
    default_message = "The difference between the request time and the current time is too large."


class NoSuchBucket(S3Error):
    code, status, default_message = "NoSuchBucket", 404, "The specified bucket does not exist"


class NoSuchKey(S3Error):
    code, status, default_message = "NoSuchKey", 404, "The specified key does not exist."


class NoSuchVersion(S3Error):
    code, status = "NoSuchVersion", 404
    default_message = "The specified version does not exist."


class NoSuchUpload(S3Error):
    code, status = "NoSuchUpload", 404
    default_message = (
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have "
        "been aborted or completed."
    )


class NoSuchBucketPolicy(S3Error):
    code, status, default_message = "NoSuchBucketPolicy", 404, "The bucket policy does not exist"


class NoSuchCORSConfiguration(S3Error):
    code, status, default_message = "NoSuchCORSConfiguration", 404, "The CORS configuration does not exist"


class NoSuchTagSet(S3Error):
    code, status, default_message = "NoSuchTagSet", 404, "The TagSet does not exist"


class NoSuchLifecycleConfiguration(S3Error):
    code, status = "NoSuchLifecycleConfiguration", 404
    default_message = "The lifecycle configuration does not exist"


class AccessForbidden(S3Error):
    """A CORS preflight S3 refuses (403, with `Method` and `ResourceType`)."""

    code, status, default_message = "AccessForbidden", 403, "CORSResponse: This CORS request is not allowed."


class BadRequest(S3Error):
    code, status, default_message = "BadRequest", 400, "Bad Request"


class ObjectLockConfigurationNotFoundError(S3Error):
    code, status = "ObjectLockConfigurationNotFoundError", 404
    default_message = "Object Lock configuration does not exist for this bucket"


class MethodNotAllowed(S3Error):
    code, status = "MethodNotAllowed", 405
    default_message = "The specified method is not allowed against this resource."


class BucketAlreadyExists(S3Error):
    code, status = "BucketAlreadyExists", 409
    default_message = (
        "The requested bucket name is not available. The bucket namespace is shared by all users "
        "of the system. Please select a different name and try again."
    )


class BucketAlreadyOwnedByYou(S3Error):
    code, status = "BucketAlreadyOwnedByYou", 409
    default_message = "Your previous request to create the named bucket succeeded and you already own it."


class InvalidBucketState(S3Error):
    code, status = "InvalidBucketState", 409
    default_message = "The request is not valid with the current state of the bucket."


class BucketNotEmpty(S3Error):
    code, status = "BucketNotEmpty", 409
    default_message = "The bucket you tried to delete is not empty"


class OperationAborted(S3Error):
    code, status = "OperationAborted", 409
    default_message = "A conflicting conditional operation is currently in progress against this resource."


class MissingContentLength(S3Error):
    code, status = "MissingContentLength", 411
    default_message = "You must provide the Content-Length HTTP header."


class PreconditionFailed(S3Error):
    code, status = "PreconditionFailed", 412
    default_message = "At least one of the pre-conditions you specified did not hold"


class InvalidRange(S3Error):
    code, status = "InvalidRange", 416
    default_message = "The requested range is not satisfiable"


class InvalidPartNumber(S3Error):
    code, status, default_message = "InvalidPartNumber", 416, "The requested partnumber is not satisfiable"


# 5xx: our side.
class InternalError(S3Error):
    code, status = "InternalError", 500
    default_message = "We encountered an internal error. Please try again."


class NotImplemented(S3Error):  # shadows the builtin on purpose: named after the AWS code
    code, status = "NotImplemented", 501
    default_message = "A header you provided implies functionality that is not implemented"


class ServiceUnavailable(S3Error):
    code, status = "ServiceUnavailable", 503
    default_message = "Please reduce your request rate."


class SlowDown(S3Error):
    code, status, default_message = "SlowDown", 503, "Please reduce your request rate."


def has_body(error: S3Error, method: str) -> bool:
    """Whether the error response carries an XML body (never for HEAD or 304)."""
    return method != "HEAD" and error.status != 304


def render_error(error: S3Error, resource: str, request_id: str) -> bytes:
    """The S3 XML body of `error` for `resource` (the request path)."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error>',
        f"<Code>{escape(error.code)}</Code>",
        f"<Message>{escape(error.message)}</Message>",
    ]
    parts.extend(f"<{name}>{escape(value)}</{name}>" for name, value in error.fields.items())
    parts.append(f"<Resource>{escape(resource)}</Resource>")
    parts.append(f"<RequestId>{escape(request_id)}</RequestId>")
    parts.append("</Error>")
    return "".join(parts).encode()


__all__ = [
    name for name, obj in list(globals().items()) if isinstance(obj, type) and issubclass(obj, S3Error)
]
__all__ += ["has_body", "render_error"]


class ServerSideEncryptionConfigurationNotFoundError(S3Error):
    code, status = "ServerSideEncryptionConfigurationNotFoundError", 404
    default_message = "The server side encryption configuration was not found"


class InvalidEncryptionAlgorithmError(S3Error):
    code, status = "InvalidEncryptionAlgorithmError", 400
    default_message = "The encryption request you specified is not valid. Supported value: AES256."


class KMSNotFoundException(S3Error):
    """SSE-KMS named a key the key store does not have."""

    code, status, default_message = "KMS.NotFoundException", 400, "Invalid keyId"


class KMSDisabledException(S3Error):
    """SSE-KMS named, or an object was stored under, a disabled key."""

    code, status, default_message = "KMS.DisabledException", 400, "The KMS key is disabled."
