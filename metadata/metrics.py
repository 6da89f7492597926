"""The metadata service's metrics and readiness (served by cairn.ops_http when `ops_port` is set).

Its requests are the gRPC counters every service has (cairn.grpc_metrics); this adds
`cairn_metadata_files_bytes`, the bytes of the SQLite files (catalog, shards, WAL) in its data
directory, refreshed before each scrape. Ready: the service opened its stores (the endpoint
starts only then) and its data directory is still there.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from prometheus_client import Gauge

from cairn.ops_http import Health

FILES_BYTES = Gauge("cairn_metadata_files_bytes", "Bytes of the SQLite files in the data directory")


def _files_bytes(data_dir: Path) -> int:
    return sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file())


class MetadataMetrics:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)

    async def refresh(self) -> None:
        FILES_BYTES.set(await asyncio.to_thread(_files_bytes, self.data_dir))

    async def readiness(self) -> Health:
        present = await asyncio.to_thread(self.data_dir.is_dir)
        return Health(present, {"data_dir": str(self.data_dir)})
