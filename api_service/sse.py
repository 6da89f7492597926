"""Server-side encryption in the S3 handlers: which encryption a write asks for, sealing the body
before it is erasure coded, opening it again on reads, and the response headers.

A handler calls `requested` (PutObject, CopyObject, CreateMultipartUpload) to learn the
`Encryption` of the object it writes, passes it to handlers_object.write_stream, which calls
`encrypting` to wrap the verified plaintext stream, and stores it in the version's attrs. Reads go
through `read_plain`, which for an encrypted version unseals each blob's data key and decrypts
just the segments of the requested range (sse_crypto). Only the S3 API holds keys: the metadata
service stores sealed keys, the data nodes ciphertext; repair and GC never need a key.

Implemented: SSE-S3 (`x-amz-server-side-encryption: AES256`), with data keys sealed under the
cluster keyring (ApiConfig.master_keyring or $CAIRN_MASTER_KEYRING), and SSE-C (customer-provided
keys; data keys sealed under the customer's key, which is never stored: only a salted HMAC of it,
to tell a wrong key (403) from a damaged object). SSE-C is refused over plain HTTP unless
ApiConfig.sse_c_allow_http. SSE-KMS (`aws:kms`): data keys from the metadata service's key
store, see sse_kms.py; `aws:kms:dsse` answers 501 NotImplemented.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import os
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass

from cairn import sse_crypto
from cairn.blobs import BlobRef
from cairn.metadata.models import NOT_ENCRYPTED, Encryption, ObjectVersion
from cairn.sse_crypto import Identity, MasterKeys

from . import sse_kms
from .context import S3Request
from .errors import (
    AccessDenied,
    InternalError,
    InvalidArgument,
    InvalidEncryptionAlgorithmError,
    InvalidRequest,
)
from .errors import NotImplemented as S3NotImplemented

AES256 = "AES256"
KMS = "aws:kms"
SSE_C = "SSE-C"  # Encryption.algorithm of an object under a customer-provided key
HEADER = "x-amz-server-side-encryption"
_CUSTOMER = "x-amz-server-side-encryption-customer-"
COPY_SOURCE_CUSTOMER = "x-amz-copy-source-server-side-encryption-customer-"
_SALT = 16
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
    document = (await req.bucket_context()).config(BUCKET_CONFIG_KIND)
    return None if document is None else DefaultEncryption.from_json(document)


async def requested(req: S3Request) -> Encryption:
    """The encryption a write asks for in its headers, else its bucket's default encryption,
    else NOT_ENCRYPTED."""
    asked = requested_in_headers(req)
    if asked.algorithm == KMS:
        return await sse_kms.resolve(req, asked)
    if asked.algorithm:
        return asked
    default = await bucket_default(req)
    if default is None:
        return NOT_ENCRYPTED
    if default.algorithm == KMS:
        kms = Encryption(KMS, default.kms_key_id, bucket_key_enabled=default.bucket_key_enabled)
        return await sse_kms.resolve(req, kms)
    _keyring(req)
    return Encryption(algorithm=default.algorithm)


def requested_in_headers(req: S3Request) -> Encryption:
    """The encryption a write asks for in its headers (NOT_ENCRYPTED when none)."""
    headers = req.headers
    customer = customer_key(req)
    if customer is not None:
        if HEADER in headers:
            raise InvalidArgument(
                "Server Side Encryption with Customer provided key is incompatible with the encryption "
                "method specified",
                ArgumentName=HEADER,
                ArgumentValue=headers[HEADER],
            )
        return Encryption(algorithm=SSE_C, customer_key_hmac=customer.fingerprint())
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
        return sse_kms.from_headers(req)
    if value == "aws:kms:dsse":
        raise S3NotImplemented("Cairn does not implement aws:kms:dsse.", Header=HEADER)
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


def _keyring(req: S3Request) -> MasterKeys:
    keyring = req.services.keyring
    if keyring is None:
        raise S3NotImplemented(
            "This endpoint has no master keyring, so it cannot encrypt (see ApiConfig.master_keyring).",
            Header=HEADER,
        )
    return keyring


# --- SSE-C: customer-provided keys -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CustomerKey:
    """A customer's 256-bit key as given in a request, and its MD5 (base64) as the client sent it."""

    key: bytes
    md5: str

    def fingerprint(self, salt: bytes | None = None) -> bytes:
        """A salted HMAC-SHA256 of the key (salt first): stored to recognise the key, never the key."""
        salt = os.urandom(_SALT) if salt is None else salt
        return salt + hmac.new(salt, b"cairn-sse-c-v1" + self.key, hashlib.sha256).digest()

    def matches(self, fingerprint: bytes) -> bool:
        return hmac.compare_digest(self.fingerprint(fingerprint[:_SALT]), fingerprint)


def customer_key(req: S3Request, prefix: str = _CUSTOMER) -> CustomerKey | None:
    """The SSE-C key of the request's `prefix` headers (the copy source's with COPY_SOURCE_CUSTOMER),
    checked as S3 checks it; None when none of the three headers is present."""
    headers = req.headers
    algorithm, key, md5 = (headers.get(prefix + name) for name in ("algorithm", "key", "key-md5"))
    if algorithm is None and key is None and md5 is None:
        return None
    if not req.secure and not req.services.config.sse_c_allow_http:
        raise InvalidRequest(
            "Requests specifying Server Side Encryption with Customer provided keys must be made over "
            "a secure connection."
        )
    if algorithm is None:
        raise InvalidArgument(
            "Requests specifying Server Side Encryption with Customer provided keys must provide a valid "
            "encryption algorithm.",
            ArgumentName=prefix + "algorithm",
        )
    if algorithm != AES256:
        raise InvalidEncryptionAlgorithmError(ArgumentName=prefix + "algorithm", ArgumentValue=algorithm)
    if key is None:
        raise InvalidArgument(
            "Requests specifying Server Side Encryption with Customer provided keys must provide an "
            "appropriate secret key.",
            ArgumentName=prefix + "key",
        )
    if md5 is None:
        raise InvalidArgument(
            "Requests specifying Server Side Encryption with Customer provided keys must provide the "
            "client calculated MD5 of the secret key.",
            ArgumentName=prefix + "key-MD5",
        )
    try:
        raw = base64.b64decode(key, validate=True)
    except ValueError:
        raw = b""
    if len(raw) != sse_crypto.KEY_BYTES:
        raise InvalidArgument(
            "The secret key was invalid for the specified algorithm.", ArgumentName=prefix + "key"
        )
    if base64.b64encode(hashlib.md5(raw, usedforsecurity=False).digest()).decode() != md5.strip():
        raise InvalidArgument(
            "The calculated MD5 hash of the key did not match the hash that was provided.",
            ArgumentName=prefix + "key-MD5",
        )
    return CustomerKey(raw, md5.strip())


def key_for_read(req: S3Request, v: ObjectVersion, prefix: str = _CUSTOMER) -> CustomerKey | None:
    """The request's SSE-C key for reading `v` (GET, HEAD, a copy source), checked against the
    object: 400 when an SSE-C object is read without it or another object with one, 403 when it is
    not the object's key."""
    given = customer_key(req, prefix)
    if v.encryption.algorithm != SSE_C:
        if given is not None:
            raise InvalidRequest("The encryption parameters are not applicable to this object.")
        return None
    if given is None:
        raise InvalidRequest(
            "The object was stored using a form of Server Side Encryption. The correct parameters must "
            "be provided to retrieve the object."
        )
    if not given.matches(v.encryption.customer_key_hmac):
        raise AccessDenied("The provided SSE-C key does not match the key the object was stored with.")
    return given


def key_for_part(req: S3Request, upload_encryption: Encryption) -> None:
    """UploadPart and UploadPartCopy of an SSE-C upload carry the upload's key; of another, none."""
    given = customer_key(req)
    if upload_encryption.algorithm != SSE_C:
        if given is not None:
            raise InvalidRequest(
                "The multipart upload was not initiated with Server Side Encryption with Customer provided keys."
            )
        return
    if given is None:
        raise InvalidRequest(
            "The multipart upload initiate requested encryption. Subsequent part requests must include "
            "the appropriate encryption parameters."
        )
    if not given.matches(upload_encryption.customer_key_hmac):
        raise InvalidArgument(
            "The provided encryption parameters did not match the ones used originally.",
            ArgumentName=_CUSTOMER + "key",
        )


def response_headers(encryption: Encryption, req: S3Request | None = None) -> dict[str, str]:
    """The encryption headers of a response about an object (PUT, GET, HEAD, copy, multipart);
    for SSE-C, the algorithm and the key's MD5 as the request gave it."""
    if encryption.algorithm == AES256:
        return {HEADER: AES256}
    if encryption.algorithm == KMS:
        return sse_kms.response_headers(encryption, req)
    if encryption.algorithm == SSE_C and req is not None and _CUSTOMER + "key-md5" in req.headers:
        md5 = req.headers[_CUSTOMER + "key-md5"].strip()
        return {_CUSTOMER + "algorithm": AES256, _CUSTOMER + "key-MD5": md5}
    return {}


def etag(encryption: Encryption, plaintext_md5: str) -> str:
    """The ETag of a body stored with `encryption`: the plaintext's MD5 unencrypted and for SSE-S3,
    as S3 does; for SSE-C and SSE-KMS an opaque value that says nothing about the plaintext (S3's
    is not its MD5)."""
    if encryption.algorithm in (SSE_C, KMS):
        return os.urandom(16).hex()
    return plaintext_md5


async def encrypting(
    req: S3Request, encryption: Encryption, body: AsyncIterable[bytes], identity: Identity
) -> tuple[AsyncIterator[bytes], bytes]:
    """`body` sealed for storage as the blob `identity`, and the blob's sealed data key (under the
    cluster keyring, for SSE-C under the request's customer key, for SSE-KMS under the KMS key)."""
    data_key = sse_crypto.new_data_key()
    if encryption.algorithm == KMS:
        data_key, sealed = await sse_kms.new_data_key(req, encryption, identity)
    elif encryption.algorithm == SSE_C:
        given = customer_key(req)
        if given is None or not given.matches(encryption.customer_key_hmac):
            raise InternalError("the SSE-C key of the request changed")  # requested()/key_for_part checked it
        sealed = sse_crypto.seal_with(given.key, "", data_key, identity)
    else:
        sealed = _keyring(req).seal(data_key, identity)
    return sse_crypto.encrypt_stream(body, data_key, identity), sealed


def plain_sizes(v: ObjectVersion) -> list[int]:
    """Plaintext bytes of each of the version's blobs."""
    if not v.encryption.algorithm:
        return [b.size for b in v.blobs]
    return [sse_crypto.plain_size(b.size) for b in v.blobs]


def read_plain(
    req: S3Request, v: ObjectVersion, start: int, end: int, customer: CustomerKey | None = None
) -> AsyncIterator[bytes]:
    """Plaintext bytes [start, end] (inclusive) of version `v`; `customer` is key_for_read's."""
    if not v.encryption.algorithm:
        return req.services.blobs.read(v.blobs, start, end)
    return _decrypted(req, v, start, end, customer)


async def _data_key(req: S3Request, v: ObjectVersion, blob: BlobRef, customer: CustomerKey | None) -> bytes:
    identity = Identity(v.bucket, v.key, blob.part_number)
    if v.encryption.algorithm == KMS:
        return await sse_kms.data_key(req, v.encryption, blob.sealed_key, identity)
    try:
        if v.encryption.algorithm == SSE_C:
            if customer is None:
                raise InternalError("an SSE-C object read without its key")  # key_for_read refuses it
            return sse_crypto.unseal_with(customer.key, blob.sealed_key, identity)
        return _keyring(req).unseal(blob.sealed_key, identity)
    except (sse_crypto.KeyUnavailable, sse_crypto.DecryptFailed) as exc:
        raise InternalError(f"The object's data key could not be unsealed: {exc}") from exc


async def _decrypted(
    req: S3Request, v: ObjectVersion, start: int, end: int, customer: CustomerKey | None
) -> AsyncIterator[bytes]:
    offset = 0
    for blob, size in zip(v.blobs, plain_sizes(v), strict=True):
        lo, hi = max(start - offset, 0), min(end - offset, size - 1)
        if lo <= hi:
            first, c_lo, c_hi = sse_crypto.cipher_range(blob.size, lo, hi)
            chunks = req.services.blobs.read((blob,), c_lo, c_hi)
            plain = sse_crypto.decrypt_segments(
                chunks,
                await _data_key(req, v, blob, customer),
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
