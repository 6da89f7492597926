"""Server-side encryption in the S3 handlers: which encryption a write asks for, sealing the body
before it is erasure coded, opening it again on reads, and the response headers.

A handler calls `requested` (PutObject, CopyObject, CreateMultipartUpload) to learn the
`Encryption` of the object it writes, passes it to handlers_object.write_stream, which calls
`encrypting` to wrap the verified plaintext stream, and stores it in the version's attrs. Reads go
through `read_plain`, which for an encrypted version unseals each blob's data key and decrypts
just the segments of the requested range (sse_crypto). Only the S3 API holds keys: the metadata
service stores sealed keys, the data nodes ciphertext; repair and GC never need a key.

Implemented: SSE-S3 (`x-amz-server-side-encryption: AES256`), with data keys sealed under the
cluster keyring (ApiConfig.master_keyring or $CAIRN_MASTER_KEYRING). SSE-C and SSE-KMS answer
501 NotImplemented.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass

from cairn import sse_crypto
from cairn.blobs import BlobRef
from cairn.metadata import errors as md
from cairn.metadata.models import NOT_ENCRYPTED, Encryption, ObjectVersion
from cairn.sse_crypto import Identity, Keyring

from .context import S3Request
from .errors import InternalError, InvalidArgument
from .errors import NotImplemented as S3NotImplemented

AES256 = "AES256"
KMS = "aws:kms"
HEADER = "x-amz-server-side-encryption"
_CUSTOMER = "x-amz-server-side-encryption-customer-"
_KMS_HEADERS = ("x-amz-server-side-encryption-aws-kms-key-id", "x-amz-server-side-encryption-context")
#: The kind of the bucket configuration document holding a bucket's default encryption.
BUCKET_CONFIG_KIND = "encryption"


@dataclass(frozen=True, slots=True)
class DefaultEncryption:
    """A bucket's default encryption (handlers_encryption.py parses and renders it)."""

    algorithm: str
    kms_key_id: str = ""
    bucket_key_enabled: bool = False

    def to_json(self) -> str:
        return json.dumps(
            {
                "algorithm": self.algorithm,
                "kms_key_id": self.kms_key_id,
                "bucket_key": self.bucket_key_enabled,
            },
            sort_keys=True,
        )

    @staticmethod
    def from_json(text: str) -> DefaultEncryption:
        doc = json.loads(text)
        return DefaultEncryption(doc["algorithm"], doc.get("kms_key_id", ""), bool(doc.get("bucket_key")))


async def bucket_default(req: S3Request) -> DefaultEncryption | None:
    """The default encryption of the request's bucket, or None."""
    try:
        config = await req.metadata.get_bucket_config(req.bucket_name, BUCKET_CONFIG_KIND)
    except md.NoSuchBucketConfig:
        return None
    return DefaultEncryption.from_json(config.document)


async def requested(req: S3Request) -> Encryption:
    """The encryption a write asks for in its headers, else its bucket's default encryption,
    else NOT_ENCRYPTED."""
    asked = requested_in_headers(req)
    if asked.algorithm:
        return asked
    default = await bucket_default(req)
    if default is None:
        return NOT_ENCRYPTED
    _keyring(req)
    return Encryption(algorithm=default.algorithm)


def requested_in_headers(req: S3Request) -> Encryption:
    """The encryption a write asks for in its headers (NOT_ENCRYPTED when none)."""
    headers = req.headers
    if any(name.startswith(_CUSTOMER) for name in headers):
        raise S3NotImplemented(
            "Cairn does not implement SSE-C (customer-provided keys) yet.", Header=_CUSTOMER
        )
    value = headers.get(HEADER)
    if value is None:
        if any(name in headers for name in _KMS_HEADERS):
            raise InvalidArgument(
                "Server Side Encryption with AWS KMS managed key requires HTTP header "
                "x-amz-server-side-encryption : aws:kms",
                ArgumentName=HEADER,
            )
        return NOT_ENCRYPTED
    if value == KMS:
        raise S3NotImplemented("Cairn does not implement SSE-KMS yet.", Header=HEADER)
    if value != AES256:
        raise InvalidArgument(
            "The encryption method specified is not supported", ArgumentName=HEADER, ArgumentValue=value
        )
    if any(name in headers for name in _KMS_HEADERS):
        raise InvalidArgument(
            "Server Side Encryption with AWS KMS managed key requires HTTP header "
            "x-amz-server-side-encryption : aws:kms",
            ArgumentName=HEADER,
        )
    _keyring(req)  # refuse before the body is read when this endpoint cannot encrypt
    return Encryption(algorithm=AES256)


def _keyring(req: S3Request) -> Keyring:
    keyring = req.services.keyring
    if keyring is None:
        raise S3NotImplemented(
            "This endpoint has no master keyring, so it cannot encrypt (see ApiConfig.master_keyring).",
            Header=HEADER,
        )
    return keyring


def response_headers(encryption: Encryption) -> dict[str, str]:
    """The encryption headers of a response about an object (PUT, GET, HEAD, copy, multipart)."""
    if encryption.algorithm == AES256:
        return {HEADER: AES256}
    return {}


def encrypting(
    req: S3Request, encryption: Encryption, body: AsyncIterable[bytes], identity: Identity
) -> tuple[AsyncIterator[bytes], bytes]:
    """`body` sealed for storage as the blob `identity`, and the blob's sealed data key."""
    data_key = sse_crypto.new_data_key()
    sealed = _keyring(req).seal(data_key, identity)
    return sse_crypto.encrypt_stream(body, data_key, identity), sealed


def plain_sizes(v: ObjectVersion) -> list[int]:
    """Plaintext bytes of each of the version's blobs."""
    if not v.encryption.algorithm:
        return [b.size for b in v.blobs]
    return [sse_crypto.plain_size(b.size) for b in v.blobs]


def read_plain(req: S3Request, v: ObjectVersion, start: int, end: int) -> AsyncIterator[bytes]:
    """Plaintext bytes [start, end] (inclusive) of version `v`."""
    if not v.encryption.algorithm:
        return req.services.blobs.read(v.blobs, start, end)
    return _decrypted(req, v, start, end)


def _data_key(req: S3Request, v: ObjectVersion, blob: BlobRef) -> bytes:
    identity = Identity(v.bucket, v.key, blob.part_number)
    try:
        return _keyring(req).unseal(blob.sealed_key, identity)
    except (sse_crypto.KeyUnavailable, sse_crypto.DecryptFailed) as exc:
        raise InternalError(f"The object's data key could not be unsealed: {exc}") from exc


async def _decrypted(req: S3Request, v: ObjectVersion, start: int, end: int) -> AsyncIterator[bytes]:
    offset = 0
    for blob, size in zip(v.blobs, plain_sizes(v), strict=True):
        lo, hi = max(start - offset, 0), min(end - offset, size - 1)
        if lo <= hi:
            first, c_lo, c_hi = sse_crypto.cipher_range(blob.size, lo, hi)
            chunks = req.services.blobs.read((blob,), c_lo, c_hi)
            plain = sse_crypto.decrypt_segments(
                chunks,
                _data_key(req, v, blob),
                Identity(v.bucket, v.key, blob.part_number),
                blob.size,
                first,
                lo - first * sse_crypto.SEGMENT,
                hi - lo + 1,
            )
            try:
                async for piece in plain:
                    yield piece
            except sse_crypto.DecryptFailed as exc:
                raise InternalError(f"The object's stored bytes did not authenticate: {exc}") from exc
            finally:
                await plain.aclose()  # type: ignore[attr-defined]
                await chunks.aclose()  # type: ignore[attr-defined]
        offset += size
        if offset > end:
            return


def seal_blobs(blobs: Sequence[BlobRef], sealed_key: bytes) -> tuple[BlobRef, ...]:
    return tuple(dataclasses.replace(b, sealed_key=sealed_key) for b in blobs)
