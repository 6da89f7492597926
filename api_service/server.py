"""Building the production S3 app: clients of the metadata and placement services, the data path,
the credential cache, and the ASGI app that owns their lifetime (opened and closed on lifespan).

`create_app()` is the uvicorn factory: it reads `ApiConfig` from the environment (`CAIRN_API_*`),
which `__main__` fills from its flags, so every worker process builds the same app.
`uvicorn_options()` are the server settings of the endpoint (its HTTP protocol and limits), shared
by `__main__` and the in-process test endpoint.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cairn import config as config_loader
from cairn.api_service.blob_io import DataNodePool, ShardFault
from cairn.api_service.blob_reader import BlobReader
from cairn.api_service.blob_writer import BlobWriter
from cairn.api_service.repair_reports import RepairReporter
from cairn.metadata import errors as md
from cairn.metadata.client import MetadataClient
from cairn.metadata.models import RepairReport
from cairn.placement.client import PlacementClient
from cairn.sse_crypto import Keyring

from .app import S3App
from .auth import CredentialCache
from .bucket_context import BucketContextCache
from .config import ApiConfig
from .context import Services
from .data_path import ClusterBlobStore
from .http_protocol import PROTOCOLS
from .inline import InlineBlobStore
from .observability import ApiHealth, Observed

CONFIG_FILE_ENV = "CAIRN_API_CONFIG_FILE"


def load_config(path: Path | str | None = None, overrides: Mapping[str, object] | None = None) -> ApiConfig:
    path = path or os.environ.get(CONFIG_FILE_ENV) or None
    return config_loader.load(ApiConfig, path, env_prefix="API", overrides=overrides)


def uvicorn_options(config: ApiConfig) -> dict[str, Any]:
    """uvicorn.Config / uvicorn.run keywords for the S3 endpoint (without app, loop and workers)."""
    return {
        "host": config.host,
        "port": config.port,
        "http": PROTOCOLS[config.http],
        "ws": "none",  # no WebSocket upgrades: S3 has none
        "lifespan": "on",  # the app publishes the protocol's limits at startup
        "access_log": False,
        "server_header": False,
        "timeout_keep_alive": config.idle_timeout_s,
        "ssl_certfile": str(config.tls_cert) if config.tls_cert else None,
        "ssl_keyfile": str(config.tls_key) if config.tls_key else None,
    }


def build_app(config: ApiConfig) -> Observed:
    """The S3 app inside its observability layer (metrics, health endpoints, access log)."""
    metadata = MetadataClient(config.metadata, deadline_s=config.metadata_deadline_s)
    placement = PlacementClient(list(config.placement))
    pool = DataNodePool()
    reporter = RepairReporter(metadata.queue_repairs)

    def on_fault(fault: ShardFault) -> None:
        if fault.pg >= 0:
            reporter.report(
                RepairReport(fault.key.blob_id, fault.key.index, fault.pg, fault.kind, "read", fault.addr)
            )

    writer = BlobWriter(pool, config=config.blob_io)
    reader = BlobReader(pool, config=config.blob_io, on_fault=on_fault)

    async def record_intent(bucket: str, key: str, blob_id: bytes, pg: int) -> object:
        return await metadata.record_write_intent(bucket, key, blob_id, pg)

    blobs = InlineBlobStore(
        ClusterBlobStore(placement, record_intent, writer, reader, report=reporter.report),
        config.inline_max_bytes,
    )
    lookup = CredentialCache(
        metadata, (md.NoSuchAccessKey, md.NoSuchUser), ttl_s=config.credential_cache_ttl_s
    )

    async def shutdown() -> None:
        await reporter.close()
        await pool.close()
        await placement.close()
        await metadata.close()

    keyring = Keyring.from_environment(config.master_keyring)
    contexts = BucketContextCache(metadata.get_bucket_context, config.bucket_cache_ttl_s)
    services = Services(metadata, blobs, config, lambda: datetime.now(UTC), keyring, contexts)
    app = S3App(services, lookup, shutdown=shutdown)
    health = ApiHealth(placement.cluster_map, metadata.get_access_key, (md.NoSuchAccessKey,), config.blob_io)
    return Observed(app, health, config.base_domains, log_requests=config.access_log)


def create_app() -> Observed:
    """The uvicorn factory (`cairn.api_service.server:create_app`, factory=True)."""
    return build_app(load_config())
