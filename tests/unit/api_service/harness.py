"""An in-process S3 endpoint for handler tests: the real app under uvicorn on a free port, with the
real metadata domain service in memory and an in-memory blob store. Driven by boto3 over HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
from collections.abc import AsyncIterable, AsyncIterator, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
import uvicorn
from botocore.config import Config
from botocore.exceptions import ClientError

from cairn.api_service.app import S3App
from cairn.api_service.auth import CredentialCache
from cairn.api_service.bucket_context import BucketContextCache
from cairn.api_service.config import ApiConfig
from cairn.api_service.context import Services
from cairn.api_service.inline import InlineBlobStore
from cairn.api_service.server import uvicorn_options
from cairn.blobs import BlobRef
from cairn.ids import new_blob_id
from cairn.metadata import errors as md
from cairn.metadata.service import MetadataService
from cairn.metadata.store import Store
from cairn.sse_crypto import Keyring
from tests.support import raw_http
from tests.support.procs import free_port

ROOT_KEY, ROOT_SECRET = "ROOTKEY", "rootsecret/0123456789"


class MemoryBlobStore:
    """The in-memory twin of data_path.BlobStore: like ClusterBlobStore it records the write
    intent in the metadata service before taking the body, so commits meet the intent rule."""

    def __init__(self, metadata: MetadataService) -> None:
        self.blobs: dict[bytes, bytes] = {}
        self.fail_writes = False
        self.metadata = metadata

    async def write(self, bucket: str, key: str, body: AsyncIterable[bytes], part_number: int = 0) -> BlobRef:
        blob_id = new_blob_id()
        await self.metadata.record_write_intent(bucket, key, blob_id, 0)
        data = bytearray()
        async for piece in body:
            data += piece
        if self.fail_writes:
            raise TimeoutError("simulated quorum loss")
        self.blobs[blob_id] = bytes(data)
        return BlobRef(blob_id, 0, len(data), 1 << 20, 8, 4, part_number)

    async def read(self, blobs: Sequence[BlobRef], start: int, end: int) -> AsyncIterator[bytes]:
        data = b"".join(self.blobs[b.blob_id] for b in blobs)
        for i in range(start, end + 1, 7000):
            yield data[i : min(i + 7000, end + 1)]


INLINE_ENV = "CAIRN_API_INLINE_MAX_BYTES"


class Endpoint:
    def __init__(self, url: str, app: S3App, blobs: MemoryBlobStore) -> None:
        self.url = url
        self.app = app
        self.blobs = blobs
        self.loop: asyncio.AbstractEventLoop | None = None

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run a coroutine on the server's loop (e.g. against the metadata service)."""
        if self.loop is None:
            raise RuntimeError("server not started")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    @property
    def metadata(self) -> MetadataService:
        return self.blobs.metadata

    def stored(self, blobs: Sequence[BlobRef]) -> bytes:
        """The bytes an object's blobs hold as stored: inline in the version, or in the blob store."""
        return b"".join(b.inline if b.is_inline else self.blobs.blobs[b.blob_id] for b in blobs)

    def client(self, key: str = ROOT_KEY, secret: str = ROOT_SECRET, **config: Any) -> Any:
        s3 = {"addressing_style": "path", **config.pop("s3", {})}
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=Config(s3=s3, retries={"max_attempts": 1}, **{"signature_version": "s3v4", **config}),
        )

    def signed_head(self, method: str, path: str, headers: dict[str, str]) -> bytes:
        """A root-signed request head (UNSIGNED-PAYLOAD) to write to a raw socket."""
        return raw_http.signed_head(self.url, method, path, headers, (ROOT_KEY, ROOT_SECRET), "us-east-1")

    def new_user(self, name: str) -> tuple[str, str]:
        self.run(self.metadata.create_user(name))
        key = self.run(self.metadata.create_access_key(name))
        return key.access_key_id, key.secret_access_key


@contextmanager
def serve(config: ApiConfig | None = None, loop: str = "asyncio") -> Iterator[Endpoint]:
    """Serve the app with `config` (its port replaced by a free one) and production's uvicorn
    options (server.uvicorn_options: HTTP protocol, limits, timeouts), on the `loop` event loop."""
    port = free_port()
    # The in-memory twin of the metadata client (Services.metadata: MetadataApi); it is loaded
    # and given the root key on the server's own loop, at startup.
    metadata = MetadataService(Store.open(None, 2))
    blobs = MemoryBlobStore(metadata)
    given = config is not None
    config = dataclasses.replace(config or ApiConfig(), port=port)
    endpoint: Endpoint

    async def startup() -> None:
        await metadata.ensure_root(ROOT_KEY, ROOT_SECRET)
        app.lookup = CredentialCache(metadata, (md.NoSuchAccessKey, md.NoSuchUser), ttl_s=0)
        endpoint.loop = asyncio.get_running_loop()

    contexts = BucketContextCache(metadata.get_bucket_context, config.bucket_cache_ttl_s)
    # $CAIRN_API_INLINE_MAX_BYTES (as a `cairn up` API process reads it) runs the suite at another
    # inline threshold; a test giving its own config keeps that config's.
    inline_max = (
        config.inline_max_bytes if given else int(os.environ.get(INLINE_ENV, config.inline_max_bytes))
    )
    stored = InlineBlobStore(blobs, inline_max)
    services = Services(metadata, stored, config, lambda: datetime.now(UTC), Keyring.generate(), contexts)
    metadata.keyring = services.keyring  # the KMS key store's master keys (SSE-KMS)
    app = S3App(services, _no_lookup, startup=startup, shutdown=metadata.close)
    endpoint = Endpoint(f"http://127.0.0.1:{port}", app, blobs)
    options = {**uvicorn_options(config), "host": "127.0.0.1", "port": port}
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", loop=loop, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = 100
        while not server.started and deadline:
            threading.Event().wait(0.05)
            deadline -= 1
        if not server.started:
            raise RuntimeError("the in-process S3 endpoint did not start")
        yield endpoint
    finally:
        server.should_exit = True
        thread.join(10)


async def _no_lookup(_: str) -> None:
    return None


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    """(S3 error code, HTTP status) of a boto3 ClientError."""
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]
