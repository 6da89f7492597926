"""The lifecycle worker: run every bucket's lifecycle rules (api_service/lifecycle.py's model).

Each pass reads every bucket's lifecycle configuration (ListBucketConfigs) and, for the enabled
rules, walks the bucket's versions key by key (ListObjectVersions, page by page) and its
in-progress multipart uploads:
- `Expiration` Days/Date: a current version the rule's filter selects, due, is deleted as a
  DeleteObject without version id deletes it (a delete marker in a versioned bucket, the object in
  an unversioned one, a null marker in a suspended one), as S3 expires it;
- `ExpiredObjectDeleteMarker`: a current delete marker with no other version of its key is removed;
- `NoncurrentVersionExpiration`: a noncurrent version, `NoncurrentDays` after it became noncurrent
  (when the next newer version was written), is deleted for good, except the
  `NewerNoncurrentVersions` newest noncurrent versions, which are kept;
- `AbortIncompleteMultipartUpload`: an upload under the rule's prefix initiated `DaysAfterInitiation`
  ago is aborted (its parts go to the GC queue).
A day is `day_s` seconds (86400; tests shorten it) and every due time is rounded up to the next day
boundary, which for real days is S3's "next midnight UTC". A tag filter reads the version's tags
(one GetObject of its metadata). Before expiring a current version the worker checks it is still
current (HeadObject), so a version written after the listing is not expired in its place.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from cairn.api_service import lifecycle
from cairn.api_service.errors import S3Error
from cairn.gc.uploads import UploadCatalog, every_upload
from cairn.metadata.errors import MetadataError, NoSuchBucket, NoSuchKey, NoSuchUpload, NoSuchVersion
from cairn.metadata.models import (
    BucketConfig,
    DeleteResult,
    ListVersionsPage,
    ObjectSummary,
    ObjectVersion,
)

KIND = "lifecycle"
PAGE = 1000


class LifecycleCatalog(UploadCatalog, Protocol):
    async def list_bucket_configs(self, kind: str) -> tuple[BucketConfig, ...]: ...

    async def list_object_versions(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        max_keys: int = 1000,
        key_marker: str = "",
        version_id_marker: str = "",
    ) -> ListVersionsPage: ...

    async def head_object(self, bucket: str, key: str, version_id: str | None = None) -> ObjectVersion: ...

    async def delete_object(self, bucket: str, key: str, version_id: str | None = None) -> DeleteResult: ...


class LifecycleWorker:
    name = "lifecycle"

    def __init__(
        self, catalog: LifecycleCatalog, day_s: float = 86400.0, wall: Callable[[], float] = time.time
    ) -> None:
        self._catalog = catalog
        self.day_ms = max(1, int(day_s * 1000))
        self._wall = wall

    async def run_pass(self) -> Counter[str]:
        counters: Counter[str] = Counter()
        now_ms = int(self._wall() * 1000)
        for config in await self._catalog.list_bucket_configs(KIND):
            try:
                rules = lifecycle.parse(config.document.encode()).enabled()
            except S3Error:
                counters["configs_unreadable"] += 1
                continue
            if not rules:
                continue
            counters["buckets"] += 1
            try:
                await self._versions(config.bucket, rules, now_ms, counters)
                await self._uploads(config.bucket, rules, now_ms, counters)
            except NoSuchBucket:
                continue
        return counters

    async def backlog(self) -> dict[str, int]:
        return {"buckets_with_rules": len(await self._catalog.list_bucket_configs(KIND))}

    # --- versions --------------------------------------------------------------------------
    async def _versions(
        self, bucket: str, rules: tuple[lifecycle.Rule, ...], now_ms: int, counters: Counter[str]
    ) -> None:
        if not any(_acts_on_versions(r) for r in rules):
            return
        key, group = None, list[ObjectSummary]()
        async for v in self._listing(bucket):
            if v.key != key and group:
                await self._key(bucket, group, rules, now_ms, counters)
                group = []
            key = v.key
            group.append(v)
        if group:
            await self._key(bucket, group, rules, now_ms, counters)

    async def _listing(self, bucket: str) -> AsyncIterator[ObjectSummary]:
        key_marker, id_marker = "", ""
        while True:
            page = await self._catalog.list_object_versions(
                bucket, max_keys=PAGE, key_marker=key_marker, version_id_marker=id_marker
            )
            for v in page.versions:
                yield v
            if not page.is_truncated or page.next_key_marker is None:
                return
            key_marker, id_marker = page.next_key_marker, page.next_version_id_marker or ""

    async def _tags(self, bucket: str, v: ObjectSummary) -> lifecycle.Tags | None:
        try:
            return (await self._catalog.head_object(bucket, v.key, v.version_id)).tags
        except MetadataError:
            return None

    async def _selects(self, rule: lifecycle.Rule, bucket: str, v: ObjectSummary) -> bool:
        f = rule.filter
        if v.is_delete_marker:
            return f.matches(v.key)
        if not f.matches(v.key, v.size, f.tags or None):  # prefix and size first: no read
            return False
        return not f.tags or f.matches(v.key, v.size, await self._tags(bucket, v))

    async def _key(
        self,
        bucket: str,
        versions: list[ObjectSummary],
        rules: tuple[lifecycle.Rule, ...],
        now_ms: int,
        counters: Counter[str],
    ) -> None:
        """One key's versions, newest first."""
        counters["versions_seen"] += len(versions)
        current = versions[0]
        if current.is_latest and not current.is_delete_marker:
            for rule in rules:
                if await self._expires(rule, bucket, current, now_ms):
                    if await self._still_current(bucket, current):
                        await self._catalog.delete_object(bucket, current.key)
                        counters["objects_expired"] += 1
                    break
        elif current.is_latest and len(versions) == 1:
            for rule in rules:
                if rule.expired_object_delete_marker and rule.filter.matches(current.key):
                    await self._delete_version(bucket, current, counters, "delete_markers_removed")
                    break
        for rank, (newer, v) in enumerate(zip(versions, versions[1:], strict=False)):
            became_noncurrent_ms = newer.last_modified_ms  # when the next newer version was written
            for rule in rules:
                if rule.noncurrent_days is None or (
                    rule.newer_noncurrent_versions is not None and rank < rule.newer_noncurrent_versions
                ):
                    continue
                if now_ms < lifecycle.due_ms(became_noncurrent_ms, rule.noncurrent_days, self.day_ms):
                    continue
                if await self._selects(rule, bucket, v):
                    await self._delete_version(bucket, v, counters, "noncurrent_versions_expired")
                    break

    async def _expires(self, rule: lifecycle.Rule, bucket: str, v: ObjectSummary, now_ms: int) -> bool:
        if rule.expiration_days is not None:
            due = lifecycle.due_ms(v.last_modified_ms, rule.expiration_days, self.day_ms)
        elif rule.expiration_date_ms is not None:
            due = rule.expiration_date_ms
        else:
            return False
        return now_ms >= due and await self._selects(rule, bucket, v)

    async def _still_current(self, bucket: str, v: ObjectSummary) -> bool:
        try:
            return (await self._catalog.head_object(bucket, v.key)).version_id == v.version_id
        except (NoSuchKey, NoSuchVersion):
            return False

    async def _delete_version(
        self, bucket: str, v: ObjectSummary, counters: Counter[str], counter: str
    ) -> None:
        await self._catalog.delete_object(bucket, v.key, v.version_id)
        counters[counter] += 1

    # --- multipart uploads -------------------------------------------------------------------
    async def _uploads(
        self, bucket: str, rules: tuple[lifecycle.Rule, ...], now_ms: int, counters: Counter[str]
    ) -> None:
        aborting = [r for r in rules if r.abort_days is not None]
        if not aborting:
            return
        async for upload in every_upload(self._catalog, bucket):
            for rule in aborting:
                assert rule.abort_days is not None
                if not upload.key.startswith(rule.filter.prefix):
                    continue
                if now_ms < lifecycle.due_ms(upload.initiated_ms, rule.abort_days, self.day_ms):
                    continue
                try:
                    await self._catalog.abort_multipart_upload(bucket, upload.key, upload.upload_id)
                    counters["uploads_aborted"] += 1
                except NoSuchUpload:
                    pass
                break


def _acts_on_versions(rule: lifecycle.Rule) -> bool:
    return (
        rule.expiration_days is not None
        or rule.expiration_date_ms is not None
        or bool(rule.expired_object_delete_marker)
        or rule.noncurrent_days is not None
    )
