"""The metadata service's domain API: what the gRPC servicer calls, one coroutine per RPC.

`MetadataService` turns each request into deterministic commands (choosing ids and times
here, from the service's own clock and id issuer - never from the caller) and applies them to
the right shard, or runs read functions on the shards. Bucket and object operations live in
this module; listings, multipart uploads, IAM records and the repair queue in `listing_ops`,
`multipart_ops`, `iam` and `repair_queue_ops`.
"""

from __future__ import annotations

import asyncio
import heapq
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace

from cairn.metadata import catalog, versionids
from cairn.metadata import commands as c
from cairn.metadata.bucket_names import bucket_name_problem
from cairn.metadata.config import MetadataConfig
from cairn.metadata.core import ServiceCore, check_config_kind, check_key, current_request_id
from cairn.metadata.errors import (
    InvalidArgument,
    InvalidBucketName,
    NoSuchBucket,
    NoSuchBucketConfig,
    NoSuchBucketPolicy,
)
from cairn.metadata.iam import IamOps
from cairn.metadata.kms import KmsOps
from cairn.metadata.listing_ops import ListingOps
from cairn.metadata.models import (
    NULL_VERSION_ID,
    Bucket,
    BucketConfig,
    BucketContext,
    DeleteResult,
    GcItem,
    ObjectAttrs,
    ObjectVersion,
    Policy,
    VersioningState,
    WriteIntent,
)
from cairn.metadata.multipart_ops import MultipartOps
from cairn.metadata.objects import known_blobs, read_gc_work, read_version
from cairn.metadata.repair_queue_ops import RepairQueueOps
from cairn.metadata.replicated import ALL_OBJECTS, DELETE_BUCKET, MetadataMachine
from cairn.metadata.store import Store, shard_index
from cairn.replication import Replicator
from cairn.sse_crypto import Keyring


class MetadataService(ListingOps, MultipartOps, IamOps, RepairQueueOps, KmsOps, ServiceCore):
    @classmethod
    async def open(cls, config: MetadataConfig, *, in_memory: bool = False) -> MetadataService:
        """A one-replica service applying commands in this process (no Raft log: tests, bench)."""
        store = Store.open(
            None if in_memory else config.data_dir,
            config.shards,
            synchronous=config.synchronous,
            cache_mb=config.cache_mb,
            mmap_mb=config.mmap_mb,
        )
        service = cls.build(config, store, None, None, {})
        if config.root_access_key:
            await service.ensure_root(config.root_access_key, config.root_secret_key)
        return service

    @classmethod
    def build(
        cls,
        config: MetadataConfig,
        store: Store,
        machine: MetadataMachine | None,
        replicator: Replicator | None,
        peers: Mapping[str, str],
    ) -> MetadataService:
        """A service over `store` proposing through `replicator` (None: applied in process)."""
        service = cls(
            store,
            intent_ttl_s=config.intent_ttl_s,
            region=config.region,
            account_id=config.account_id,
            machine=machine,
            replicator=replicator,
            peers=peers,
            propose_timeout_s=config.propose_timeout_s,
        )
        service.keyring = Keyring.from_environment(config.master_keyring)
        return service

    # --- buckets -------------------------------------------------------------------------
    async def create_bucket(self, name: str, owner_id: str, *, region: str = "") -> Bucket:
        problem = bucket_name_problem(name)
        if problem:
            raise InvalidBucketName(f"The specified bucket is not valid: {problem}")
        await self.leading()
        cmd = c.CreateBucket(name, uuid.uuid4().hex, owner_id, region or self.region, self.now_ms())
        bucket: Bucket = await self.write_catalog(cmd)
        return bucket

    async def get_bucket(self, name: str) -> Bucket:
        await self.linearize()
        return self.bucket(name)

    async def list_buckets(self, owner_id: str | None = None) -> tuple[Bucket, ...]:
        await self.linearize()
        return tuple(b for b in self.all_buckets() if owner_id is None or b.owner_id == owner_id)

    async def delete_bucket(self, name: str) -> None:
        await self.leading()
        found = self.machine.buckets.get(name)
        if found is None and not current_request_id():
            raise NoSuchBucket(f"bucket {name!r} does not exist")
        # With a request id, a missing bucket is still proposed: a retry whose first attempt
        # deleted it gets that result back; otherwise the entry answers NoSuchBucket.
        await self.write(DELETE_BUCKET, c.DeleteBucket(name, found.id if found else "", self.now_ms()))

    async def set_bucket_versioning(self, name: str, state: VersioningState) -> Bucket:
        await self.leading()
        self.bucket(name)
        bucket: Bucket = await self.write_catalog(c.SetVersioning(name, state))
        return bucket

    async def put_bucket_policy(self, name: str, document: str) -> None:
        await self.leading()
        self.bucket(name)
        await self.write_catalog(c.PutBucketPolicy(name, document, self.now_ms()))

    async def get_bucket_policy(self, name: str) -> Policy:
        await self.linearize()
        self.bucket(name)
        policy = await self.store.catalog.read(catalog.read_bucket_policy, name)
        if policy is None:
            raise NoSuchBucketPolicy("The bucket policy does not exist")
        return policy

    async def delete_bucket_policy(self, name: str) -> None:
        await self.leading()
        self.bucket(name)
        await self.write_catalog(c.PutBucketPolicy(name, None, self.now_ms()))

    async def put_bucket_config(self, name: str, kind: str, document: str) -> None:
        check_config_kind(kind)
        await self.leading()
        self.bucket(name)
        await self.write_catalog(c.PutBucketConfig(name, kind, document, self.now_ms()))

    async def get_bucket_config(self, name: str, kind: str) -> BucketConfig:
        check_config_kind(kind)
        await self.linearize()
        self.bucket(name)
        config = await self.store.catalog.read(catalog.read_bucket_config, name, kind)
        if config is None:
            raise NoSuchBucketConfig(f"bucket {name!r} has no {kind} configuration")
        return config

    async def delete_bucket_config(self, name: str, kind: str) -> None:
        check_config_kind(kind)
        await self.leading()
        self.bucket(name)
        await self.write_catalog(c.PutBucketConfig(name, kind, None, self.now_ms()))

    async def get_bucket_context(self, name: str) -> BucketContext:
        """The bucket, its policy and its configuration documents in one read. NoSuchBucket."""
        await self.linearize()
        context: BucketContext = await self.store.catalog.read(catalog.read_bucket_context, self.bucket(name))
        return context

    async def list_bucket_configs(self, kind: str) -> tuple[BucketConfig, ...]:
        check_config_kind(kind)
        await self.linearize()
        return tuple(await self.store.catalog.read(catalog.read_bucket_configs, kind))

    # --- objects -------------------------------------------------------------------------
    async def put_object(
        self,
        bucket: str,
        key: str,
        attrs: ObjectAttrs,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> ObjectVersion:
        check_key(key)
        await self.leading()
        b = self.bucket(bucket)
        cmd = c.PutVersion(
            bucket_id=b.id,
            bucket=b.name,
            key=key,
            version=self.issuer.issue(),
            is_null=b.versioning is not VersioningState.ENABLED,
            attrs=attrs if attrs.owner_id else replace(attrs, owner_id=b.owner_id),
            now_ms=self.now_ms(),
            if_match=if_match,
            if_none_match=if_none_match,
        )
        version: ObjectVersion = await self.write_object(b.id, key, cmd)
        return version

    async def put_objects_bulk(self, bucket: str, items: Sequence[tuple[str, ObjectAttrs]]) -> int:
        """Commit many unconditional PUTs with one transaction per shard (bulk loads, benchmarks).

        The loader has already written the blobs: their write intents are recorded in the same
        transaction as the versions."""
        for key, _ in items:
            check_key(key)
        await self.leading()
        b = self.bucket(bucket)
        by_shard: dict[int, list[c.PutVersion]] = {}
        intents: dict[int, list[c.RecordIntent]] = {}
        expires = self.now_ms() + int(self.intent_ttl_s * 1000)
        for key, attrs in items:
            index = shard_index(b.id, key, len(self.store.objects))
            intents.setdefault(index, []).extend(
                c.RecordIntent(b.id, key, blob.blob_id, blob.pg, expires) for blob in attrs.blobs
            )
            put = c.PutVersion(
                b.id,
                b.name,
                key,
                self.issuer.issue(),
                b.versioning is not VersioningState.ENABLED,
                attrs if attrs.owner_id else replace(attrs, owner_id=b.owner_id),
                self.now_ms(),
            )
            by_shard.setdefault(index, []).append(put)
        await asyncio.gather(
            *(self.write(i, c.PutBatch(tuple(puts), tuple(intents[i]))) for i, puts in by_shard.items())
        )
        return len(items)

    async def get_object(self, bucket: str, key: str, version_id: str | None = None) -> ObjectVersion:
        check_key(key)
        _check_version_id(version_id)
        await self.linearize()
        b = self.bucket(bucket)
        return await self.store.shard_for(b.id, key).read(read_version, b.name, b.id, key, version_id)

    async def head_object(self, bucket: str, key: str, version_id: str | None = None) -> ObjectVersion:
        return await self.get_object(bucket, key, version_id)

    async def delete_object(self, bucket: str, key: str, version_id: str | None = None) -> DeleteResult:
        check_key(key)
        _check_version_id(version_id)
        await self.leading()
        b = self.bucket(bucket)
        cmd = c.DeleteVersion(
            b.id, b.name, key, version_id, b.versioning, self.issuer.issue(), self.now_ms(), b.owner_id
        )
        result: DeleteResult = await self.write_object(b.id, key, cmd)
        return result

    async def set_object_tags(
        self, bucket: str, key: str, tags: Sequence[tuple[str, str]], version_id: str | None = None
    ) -> str:
        check_key(key)
        _check_version_id(version_id)
        await self.leading()
        b = self.bucket(bucket)
        cmd = c.SetTags(b.id, key, version_id, tuple((k, v) for k, v in tags))
        version: str = await self.write_object(b.id, key, cmd)
        return version

    async def set_object_acl(self, bucket: str, key: str, acl: str, version_id: str | None = None) -> str:
        check_key(key)
        _check_version_id(version_id)
        await self.leading()
        b = self.bucket(bucket)
        version: str = await self.write_object(b.id, key, c.SetAcl(b.id, key, version_id, acl))
        return version

    # --- write intents and GC --------------------------------------------------------------
    async def record_write_intent(
        self, bucket: str, key: str, blob_id: bytes, pg: int, *, ttl_s: float | None = None
    ) -> WriteIntent:
        if len(blob_id) != 16:
            raise InvalidArgument("a blob id is 16 bytes")
        ttl = self.intent_ttl_s if ttl_s is None or ttl_s <= 0 else ttl_s
        await self.leading()
        b = self.bucket(bucket)
        expires = self.now_ms() + int(ttl * 1000)
        await self.write_object(b.id, key, c.RecordIntent(b.id, key, bytes(blob_id), pg, expires))
        return WriteIntent(bytes(blob_id), pg, expires)

    async def list_gc_work(self, limit: int = 1000) -> tuple[GcItem, ...]:
        limit = max(0, min(limit, 10_000))
        await self.linearize()
        now = self.now_ms()
        per_shard = await asyncio.gather(*(s.read(read_gc_work, now, limit) for s in self.store.objects))
        items = heapq.merge(*(sorted(p, key=_gc_order) for p in per_shard), key=_gc_order)
        return tuple(item for _, item in zip(range(limit), items, strict=False))

    async def find_blobs(self, blob_ids: Sequence[bytes]) -> tuple[bytes, ...]:
        """Which of `blob_ids` metadata still knows (objects.known_blobs), in the order given."""
        ids = tuple(bytes(b) for b in blob_ids)
        await self.linearize()
        per_shard = await asyncio.gather(*(s.read(known_blobs, ids) for s in self.store.objects))
        found = set().union(*per_shard)
        return tuple(b for b in ids if b in found)

    async def ack_gc_work(self, blob_ids: Sequence[bytes]) -> int:
        await self.leading()
        cmd = c.AckGc(tuple(bytes(b) for b in blob_ids), self.now_ms())
        found: int = await self.write(ALL_OBJECTS, cmd)
        return found


def _gc_order(item: GcItem) -> tuple[int, bytes]:
    return (item.enqueued_ms, item.blob_id)


def _check_version_id(version_id: str | None) -> None:
    if version_id is not None and version_id != NULL_VERSION_ID and not versionids.is_valid(version_id):
        raise InvalidArgument("Invalid version id specified", version_id=version_id)
