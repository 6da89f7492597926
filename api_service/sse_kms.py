"""SSE-KMS (`x-amz-server-side-encryption: aws:kms`) in the S3 handlers, on top of sse.py.

The API holds no KMS key: the metadata service's key store (metadata/kms.py) hands out each
blob's data key (`generate_data_key`, sealed under the KMS key, the sealed form stored in the
blob's `sealed_key`) and opens it again on reads (`decrypt`); a data key lives only for the
request that uses it. The sealed data key is bound to the blob's identity (bucket, key, part)
and to the object's encryption context, so it opens for no other blob.

A write names its key with `x-amz-server-side-encryption-aws-kms-key-id` (key id, key ARN,
`alias/NAME` or alias ARN), or gets the default key `aws/s3` (created on first use); the key is
resolved to its ARN before the body is read, stored in the object's `Encryption.kms_key_id` and
returned as AWS returns it. `x-amz-server-side-encryption-context` (base64 of a JSON object of
strings) is checked, kept, bound to the data keys and echoed on writes;
`x-amz-server-side-encryption-bucket-key-enabled` is accepted and echoed (every blob still has
its own data key). Unknown keys answer 400 KMS.NotFoundException, disabled ones 400
KMS.DisabledException, as S3 does.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from contextlib import contextmanager

from cairn.metadata import errors as md
from cairn.metadata.models import Encryption
from cairn.sse_crypto import Identity

from .context import S3Request
from .errors import InternalError, InvalidArgument, KMSDisabledException, KMSNotFoundException
from .errors import NotImplemented as S3NotImplemented

KMS = "aws:kms"
KEY_ID = "x-amz-server-side-encryption-aws-kms-key-id"
CONTEXT = "x-amz-server-side-encryption-context"
BUCKET_KEY = "x-amz-server-side-encryption-bucket-key-enabled"


def from_headers(req: S3Request) -> Encryption:
    """The SSE-KMS a write asks for in its headers (`x-amz-server-side-encryption: aws:kms`
    given); the key not resolved yet (`resolve`)."""
    headers = req.headers
    context = headers.get(CONTEXT, "")
    if context:
        _check_context(context)
    bucket_key = headers.get(BUCKET_KEY, "false").strip().lower()
    if bucket_key not in ("true", "false"):
        raise InvalidArgument("Invalid bucket key enabled value.", ArgumentName=BUCKET_KEY)
    return Encryption(
        algorithm=KMS,
        kms_key_id=headers.get(KEY_ID, "").strip(),
        kms_context=context.strip(),
        bucket_key_enabled=bucket_key == "true",
    )


def _check_context(value: str) -> None:
    try:
        doc = json.loads(base64.b64decode(value.strip(), validate=True).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        doc = None
    if not isinstance(doc, dict) or not all(isinstance(v, str) for v in doc.values()):
        raise InvalidArgument(
            "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 string "
            "holding JSON which represents a string-string map",
            ArgumentName=CONTEXT,
        )


@contextmanager
def _kms_errors() -> Iterator[None]:
    """The key store's refusals as S3 answers them."""
    try:
        yield
    except md.NoSuchKmsKey as exc:
        raise KMSNotFoundException(exc.message) from exc
    except md.KmsKeyDisabled as exc:
        raise KMSDisabledException(exc.message) from exc
    except md.KmsNotConfigured as exc:
        raise S3NotImplemented(
            f"SSE-KMS is not available: {exc.message}", Header="x-amz-server-side-encryption"
        ) from exc
    except md.KmsInvalidCiphertext as exc:
        raise InternalError(f"The object's data key could not be unsealed: {exc.message}") from exc


async def resolve(req: S3Request, encryption: Encryption) -> Encryption:
    """`encryption` naming its KMS key by ARN (the default key when it names none); refuses an
    unknown or disabled key before the body is read."""
    with _kms_errors():
        key = await req.metadata.get_kms_key(encryption.kms_key_id)
    if not key.enabled:
        raise KMSDisabledException(f"{key.arn} is disabled.")
    return Encryption(
        algorithm=KMS,
        kms_key_id=key.arn,
        kms_context=encryption.kms_context,
        bucket_key_enabled=encryption.bucket_key_enabled,
    )


def _context(encryption: Encryption, identity: Identity) -> bytes:
    return identity.encode() + b"\x00" + encryption.kms_context.encode()


async def new_data_key(req: S3Request, encryption: Encryption, identity: Identity) -> tuple[bytes, bytes]:
    """(a new data key for the blob `identity`, that key sealed under the object's KMS key)."""
    with _kms_errors():
        _, plain, sealed = await req.metadata.generate_data_key(
            encryption.kms_key_id, _context(encryption, identity)
        )
    return plain, sealed


async def data_key(req: S3Request, encryption: Encryption, sealed: bytes, identity: Identity) -> bytes:
    """The data key of the blob `identity`, from its sealed form."""
    with _kms_errors():
        _, plain = await req.metadata.decrypt(sealed, _context(encryption, identity))
    return plain


def response_headers(encryption: Encryption, req: S3Request | None) -> dict[str, str]:
    headers = {"x-amz-server-side-encryption": KMS, KEY_ID: encryption.kms_key_id}
    if encryption.bucket_key_enabled:
        headers[BUCKET_KEY] = "true"
    if encryption.kms_context and req is not None and CONTEXT in req.headers:
        headers[CONTEXT] = encryption.kms_context  # writes echo the context they were given
    return headers
