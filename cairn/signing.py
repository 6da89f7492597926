"""The secret-key arithmetic of S3 request signatures, shared by the metadata service (which
holds the secrets) and the S3 API (which verifies requests without them).

`signing_key` is SigV4's derived key of one date, region and service: what the API needs to
check a request's and its streamed chunks' signatures, useless for any other day, region or
service. `sigv2_signature` is the legacy V2 presigned-URL signature, which has no derived key;
the API asks the metadata service to compare it instead. `Signer` is what the API holds in
place of a secret; `SecretSigner` is one that holds the secret itself (tests, tools).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Protocol


def signing_key(secret: str, date: str, region: str, service: str = "s3") -> bytes:
    """SigV4's key for `date` (YYYYMMDD), `region` and `service`, derived from `secret`."""
    k = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def sigv2_signature(secret: str, string_to_sign: bytes) -> bytes:
    """base64(HMAC-SHA1(secret, string_to_sign)), as a V2 presigned URL carries it."""
    return base64.b64encode(hmac.new(secret.encode(), string_to_sign, hashlib.sha1).digest())


def sigv2_matches(secret: str, string_to_sign: bytes, signature: str) -> bool:
    return hmac.compare_digest(sigv2_signature(secret, string_to_sign), signature.encode())


class Signer(Protocol):
    """Signature checks with one access key's secret, by whoever holds it."""

    async def sigv4_key(self, date: str, region: str, service: str) -> bytes: ...

    async def sigv2_matches(self, string_to_sign: bytes, signature: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class SecretSigner:
    """A `Signer` that holds the secret."""

    secret: str

    async def sigv4_key(self, date: str, region: str, service: str) -> bytes:
        return signing_key(self.secret, date, region, service)

    async def sigv2_matches(self, string_to_sign: bytes, signature: str) -> bool:
        return sigv2_matches(self.secret, string_to_sign, signature)
