"""Ingesting an upload body: hash it as it streams and verify every digest the client gave.

`Ingest` wraps the verified body (sigv4.VerifiedBody, whose `trailers` it reads) of a PutObject,
UploadPart or XML request and yields the same bytes while computing the MD5 (the ETag) and the requested S3 checksum. It enforces the size limit as bytes
arrive; when the stream ends it checks Content-MD5 (BadDigest), the `x-amz-checksum-*`
header or trailer value (BadDigest / InvalidRequest), and raises from inside the stream, so the
blob writer consuming it fails and nothing is committed. The declared length is not checked
here: the HTTP server holds a plain body to its Content-Length and VerifiedBody holds an
aws-chunked one to x-amz-decoded-content-length (handlers_object.declared_size reads it up front).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterable, AsyncIterator, Mapping

from cairn.metadata.models import Checksum

from .checksums import ChecksumAlgorithm, Hasher, content_md5_digest, decode_b64_digest, new_hasher
from .errors import BadDigest, EntityTooLarge, InvalidDigest, InvalidRequest


def requested_checksum(
    headers: Mapping[str, str], trailer_names: tuple[str, ...], default: str = ""
) -> tuple[ChecksumAlgorithm | None, str | None]:
    """The checksum algorithm to compute for this body and the value sent in a header, if any."""
    sent = [name for name in headers if name.startswith("x-amz-checksum-") and ChecksumAlgorithm.parse(name)]
    sent += [name for name in trailer_names if ChecksumAlgorithm.parse(name)]
    if len(sent) > 1:
        raise InvalidRequest(
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
        )
    if sent:
        alg = ChecksumAlgorithm.parse(sent[0])
        return alg, headers.get(sent[0])
    for name in ("x-amz-sdk-checksum-algorithm", "x-amz-checksum-algorithm"):
        if name in headers:
            alg = ChecksumAlgorithm.parse(headers[name])
            if alg is None:
                raise InvalidRequest(
                    "Checksum algorithm provided is unsupported. Please try again with any of the "
                    "valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]"
                )
            return alg, None
    return (ChecksumAlgorithm.parse(default) if default else None), None


class Ingest:
    """Async iterator over an upload body that verifies its digests at the end."""

    def __init__(
        self,
        body: AsyncIterable[bytes],
        headers: Mapping[str, str],
        *,
        max_size: int,
        trailer_names: tuple[str, ...] = (),
        default_algorithm: str = "",
    ) -> None:
        self._body = body
        self._max = max_size
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._content_md5: bytes | None = None
        if "content-md5" in headers:
            self._content_md5 = content_md5_digest(headers["content-md5"])
            if self._content_md5 is None:
                raise InvalidDigest()
        self.algorithm, self._sent_value = requested_checksum(headers, trailer_names, default_algorithm)
        if self.algorithm is not None and self._sent_value is not None:
            if decode_b64_digest(self.algorithm, self._sent_value) is None:
                raise InvalidRequest(
                    f"Value for x-amz-checksum-{self.algorithm.value.lower()} header is invalid."
                )
        self._hasher: Hasher | None = new_hasher(self.algorithm) if self.algorithm else None
        self.size = 0
        self.etag = ""
        self.checksum: Checksum | None = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        async for piece in _as_iter(self._body):
            self.size += len(piece)
            if self.size > self._max:
                raise EntityTooLarge(ProposedSize=self.size, MaxSizeAllowed=self._max)
            self._md5.update(piece)
            if self._hasher is not None:
                self._hasher.update(piece)
            yield piece
        self._finish()

    def _finish(self) -> None:
        digest = self._md5.digest()
        if self._content_md5 is not None and not hmac.compare_digest(digest, self._content_md5):
            raise BadDigest()
        self.etag = digest.hex()
        if self._hasher is None or self.algorithm is None:
            return
        computed = self._hasher.digest()
        sent = self._sent_value
        if sent is None:
            trailers: Mapping[str, str] = getattr(self._body, "trailers", {})
            sent = trailers.get(self.algorithm.header)
        if sent is not None:
            expected = decode_b64_digest(self.algorithm, sent)
            if expected is None:
                raise InvalidRequest(f"Value for {self.algorithm.header} trailing header is invalid.")
            if not hmac.compare_digest(expected, computed):
                raise BadDigest(
                    f"The {self.algorithm.value} you specified did not match the calculated checksum."
                )
        self.checksum = Checksum(self.algorithm.value, computed)


async def _as_iter(body: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    async for piece in body:
        yield piece
