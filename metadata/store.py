"""The set of shards behind the metadata service: the catalog and N object shards.

Object rows of (bucket id, key) live in shard `blake2b(bucket_id, 0x00, key) mod N`. N is
fixed when a data directory is created and recorded in `layout.json`; opening it with a
different N is refused (rows would be looked up in the wrong shard). `Store.open(None, n)`
builds the same store in memory for unit tests.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cairn.durable_file import write_atomic
from cairn.metadata.catalog import apply_catalog
from cairn.metadata.object_shard import apply_object
from cairn.metadata.schema import CATALOG_MIGRATIONS, OBJECT_MIGRATIONS
from cairn.metadata.shard import Shard

LAYOUT_FILE = "layout.json"
LAYOUT_VERSION = 1


def shard_index(bucket_id: str, key: str, shards: int) -> int:
    """The object shard of (bucket_id, key): stable across processes and versions."""
    digest = hashlib.blake2b(bucket_id.encode() + b"\x00" + key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def _check_layout(data_dir: Path, shards: int) -> None:
    path = data_dir / LAYOUT_FILE
    if path.exists():
        layout = json.loads(path.read_text())
        if layout.get("version") != LAYOUT_VERSION:
            raise RuntimeError(f"{path}: unknown layout version {layout.get('version')}")
        if layout.get("shards") != shards:
            raise RuntimeError(f"{path}: data directory has {layout.get('shards')} shards, not {shards}")
        return
    write_atomic(path, json.dumps({"version": LAYOUT_VERSION, "shards": shards}).encode())


class Store:
    def __init__(self, catalog: Shard, objects: list[Shard]) -> None:
        self.catalog = catalog
        self.objects = objects

    @classmethod
    def open(
        cls,
        data_dir: Path | None,
        shards: int = 8,
        *,
        synchronous: str = "FULL",
        cache_mb: int = 16,
        mmap_mb: int = 256,
    ) -> Store:
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
            _check_layout(data_dir, shards)

        def path(name: str) -> Path | None:
            return None if data_dir is None else data_dir / name

        catalog = Shard(
            path("catalog.sqlite"),
            CATALOG_MIGRATIONS,
            apply_catalog,
            synchronous=synchronous,
            name="catalog",
            cache_mb=cache_mb,
            mmap_mb=mmap_mb,
        )
        objects = [
            Shard(
                path(f"shard-{i:03d}.sqlite"),
                OBJECT_MIGRATIONS,
                apply_object,
                synchronous=synchronous,
                name=f"s{i}",
                cache_mb=cache_mb,
                mmap_mb=mmap_mb,
            )
            for i in range(shards)
        ]
        return cls(catalog, objects)

    def shard_for(self, bucket_id: str, key: str) -> Shard:
        return self.objects[shard_index(bucket_id, key, len(self.objects))]

    async def close(self) -> None:
        for shard in [self.catalog, *self.objects]:
            await shard.close()
