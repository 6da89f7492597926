"""What every handler receives: the routed, authenticated request and the services behind it.

`S3Request` can only be built from an `AuthenticatedRequest`, so no handler runs for a request
whose signature was not checked. Its body helpers wrap the wire stream in the SigV4 payload
verification (and, for small XML bodies, Ingest's Content-MD5 / x-amz-checksum-* checks);
`bucket()` looks the bucket up and authorizes the request's operation on it (access.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cairn.metadata.models import Bucket, BucketContext
from cairn.sse_crypto import MasterKeys

from . import access
from .bucket_context import BucketContextCache
from .checksums import ChecksumAlgorithm
from .config import ApiConfig
from .data_path import BlobStore
from .errors import EntityTooLarge, InvalidArgument, MalformedXML
from .ingest import Ingest
from .metadata_api import MetadataApi
from .router import Endpoint
from .s3_xml import MAX_XML_BODY
from .sigv4 import AuthenticatedRequest, VerifiedBody


@dataclass(frozen=True, slots=True)
class Services:
    metadata: MetadataApi  # cairn.metadata.client.MetadataClient, or the in-memory MetadataService
    blobs: BlobStore
    config: ApiConfig
    clock: Callable[[], datetime]
    keyring: MasterKeys | None = None  # the cluster master keys sealing data keys (sse.py); None: no SSE
    bucket_contexts: BucketContextCache | None = None  # None: every request reads its bucket's context


@dataclass(slots=True)
class S3Request:
    endpoint: Endpoint
    auth: AuthenticatedRequest
    method: str
    raw_path: str
    headers: dict[str, str]
    wire: AsyncIterable[bytes]
    services: Services
    request_id: str
    client_ip: str = ""
    secure: bool = False  # arrived over TLS
    policies: dict[str, Any] = field(default_factory=dict)  # access.py's per-request cache

    @property
    def bucket_name(self) -> str:
        return self.endpoint.bucket

    @property
    def key(self) -> str:
        return self.endpoint.key

    @property
    def query(self) -> dict[str, str]:
        return self.endpoint.query

    @property
    def metadata(self) -> MetadataApi:
        return self.services.metadata

    def body(self) -> VerifiedBody:
        """The decoded, verified request body (consume it once)."""
        return self.auth.body(self.wire)

    async def read_body(self, limit: int = MAX_XML_BODY, object_checksum: bool = False) -> bytes:
        """The whole (small) body, verified like an upload (Content-MD5, x-amz-checksum-* header or
        trailer: BadDigest); MalformedXML beyond `limit` bytes. With `object_checksum` the
        x-amz-checksum-* headers describe an object, not this body (CompleteMultipartUpload), and
        are left to the caller."""
        headers: Mapping[str, str] = self.headers
        if object_checksum:
            headers = {
                name: value
                for name, value in headers.items()
                if not (name.startswith("x-amz-checksum-") and ChecksumAlgorithm.parse(name))
            }
        ingest = Ingest(self.body(), headers, max_size=limit, trailer_names=self.auth.trailer_names)
        out = bytearray()
        try:
            async for piece in ingest:
                out += piece
        except EntityTooLarge:
            raise MalformedXML("The XML you provided was too large.") from None
        return bytes(out)

    async def bucket(self) -> Bucket:
        """The bucket of this request, after checking the caller may take its operation."""
        await access.prefetch(self, self.bucket_name)  # reads the bucket's context too
        context = await self.bucket_context(self.bucket_name)
        await access.authorize(self, context.bucket)
        return context.bucket

    async def bucket_context(self, name: str | None = None) -> BucketContext:
        """The bucket (default: this request's), its policy and configuration documents
        (bucket_context.py: one metadata read, cached briefly); the same answer for the whole
        request. NoSuchBucket."""
        name = self.bucket_name if name is None else name
        cache_key = "context " + name
        found = self.policies.get(cache_key)
        if found is None:
            cache = self.services.bucket_contexts
            found = await (cache.get(name) if cache is not None else self.metadata.get_bucket_context(name))
            self.policies[cache_key] = found
        return found  # type: ignore[no-any-return]

    def int_query(self, name: str, default: int, low: int = 0, high: int | None = None) -> int:
        raw = self.query.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise InvalidArgument(
                f"Provided {name} not an integer or within integer range",
                ArgumentName=name,
                ArgumentValue=raw,
            ) from None
        if value < low or (high is not None and value > high):
            raise InvalidArgument(
                f"Argument {name} must be an integer between {low} and {high}",
                ArgumentName=name,
                ArgumentValue=raw,
            )
        return value
