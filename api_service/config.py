"""Configuration of the S3 API service: one frozen dataclass tree, loaded once with cairn.config.load.

Environment overrides use the prefix `API` (e.g. `CAIRN_API_PORT=9000`, `CAIRN_API_REGION=us-east-1`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cairn import ports
from cairn.api_service.blob_io import BlobIOConfig


@dataclass(frozen=True, slots=True)
class ApiConfig:
    host: str = "127.0.0.1"
    """Address the S3 endpoint listens on."""
    port: int = ports.S3
    """Port of the S3 endpoint."""
    workers: int = 1
    """uvicorn worker processes."""
    http: str = "httptools"
    """HTTP/1.1 parser: "httptools" (C) or "h11" (pure Python); both enforce the limits below."""
    max_header_bytes: int = 8192
    """Largest header section plus query string of a request (S3's limit): 400 RequestHeaderSectionTooLarge, before any body is read."""
    header_timeout_s: float = 10.0
    """Time to send a request's whole header section, from connecting or from its first byte; then the connection is closed."""
    idle_timeout_s: float = 30.0
    """How long a keep-alive connection may stay idle between requests before it is closed."""
    body_timeout_s: float = 20.0
    """Longest wait for the next bytes of a request body (400 RequestTimeout past it)."""
    max_connections: int = 1000
    """Open connections one API process serves; requests on connections past it get 503 SlowDown and a close."""
    metadata: str = ports.local(ports.METADATA)
    """The metadata replicas' gRPC "host:port", comma-separated (the client follows the leader)."""
    placement: tuple[str, ...] = (ports.local(ports.PLACEMENT),)
    """Every placement replica's gRPC "host:port"."""
    region: str = "us-east-1"
    """The region this endpoint reports (GetBucketLocation, CreateBucket location constraints)."""
    enforce_region: bool = False
    """Reject signatures scoped to another region (AuthorizationHeaderMalformed) instead of accepting any."""
    base_domains: tuple[str, ...] = ("s3.localhost",)
    """Host suffixes that make a request virtual-hosted style (`<bucket>.<domain>`)."""
    tls_cert: Path | None = None
    """PEM certificate: serve HTTPS when set together with tls_key."""
    tls_key: Path | None = None
    """PEM private key of tls_cert."""
    max_put_size: int = 5 * 1024**3
    """Largest single PUT / part (EntityTooLarge above it)."""
    max_metadata_size: int = 2048
    """Largest total size of the x-amz-meta-* names and values (MetadataTooLarge above it)."""
    credential_cache_ttl_s: float = 10.0
    """How long an access key's secret stays cached before it is looked up again."""
    metadata_deadline_s: float = 10.0
    """Deadline of each metadata call."""
    blob_io: BlobIOConfig = field(default_factory=BlobIOConfig)
    """Tuning of the erasure-coded data path."""
    master_keyring: Path | None = None
    """The cluster's master keyring (JSON, sse_crypto.Keyring; `cairn up` writes one into its data
    directory, mode 0600). $CAIRN_MASTER_KEYRING holding the keyring's text takes precedence
    (a Kubernetes Secret). Without either, requests for server-side encryption answer 501."""
    sse_c_allow_http: bool = False
    """Accept SSE-C (customer-provided keys) over plain HTTP, which S3 refuses (400 InvalidRequest):
    for tests and TLS-terminating proxies only, since the key then crosses the wire in clear."""
    inline_max_bytes: int = 64 * 1024
    """A single PUT's body (stored bytes) up to this size is kept in the version row, not erasure
    coded: one replicated metadata commit to write, one metadata read to read (api_service/inline.py).
    0: every body goes to the data nodes."""
    bucket_cache_ttl_s: float = 1.0
    """How long this process reuses a bucket's context (the bucket, its policy and configuration
    documents: api_service/bucket_context.py) before reading it again; its own bucket-level writes
    take effect at once, other processes' within this time. 0: read it on every request."""
    access_log: bool = True
    """One log line per S3 request (logger cairn.api_service.access; see observability.py)."""

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError("port must be in 1..65535")
        if self.workers < 1:
            raise ValueError("workers must be >= 1")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        if (
            self.max_put_size <= 0
            or self.max_metadata_size <= 0
            or self.inline_max_bytes < 0
            or min(self.credential_cache_ttl_s, self.bucket_cache_ttl_s) < 0
        ):
            raise ValueError("sizes must be positive and the cache TTL non-negative")
        if self.http not in ("httptools", "h11"):
            raise ValueError('http must be "httptools" or "h11"')
        if self.max_header_bytes < 1024 or self.max_connections < 1:
            raise ValueError("max_header_bytes must be >= 1024 and max_connections >= 1")
        if min(self.header_timeout_s, self.idle_timeout_s, self.body_timeout_s) <= 0:
            raise ValueError("timeouts must be positive")
