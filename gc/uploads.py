"""The abandoned-upload worker: abort incomplete multipart uploads older than a maximum age.

Each pass pages through every bucket's in-progress uploads (ListMultipartUploads) and aborts
those initiated more than `max_age_s` ago; the metadata service sends their parts' blobs to the
GC queue, where the reclaim worker deletes their shards. An upload completed or aborted by its
client in the meantime (NoSuchUpload) or a bucket deleted meanwhile (NoSuchBucket) is skipped.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from cairn.metadata.errors import NoSuchBucket, NoSuchUpload
from cairn.metadata.models import Bucket, ListUploadsPage, MultipartUpload

PAGE = 1000


class UploadCatalog(Protocol):
    async def list_buckets(self, owner_id: str | None = None) -> tuple[Bucket, ...]: ...

    async def list_multipart_uploads(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        max_uploads: int = 1000,
        key_marker: str = "",
        upload_id_marker: str = "",
    ) -> ListUploadsPage: ...

    async def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None: ...


async def every_upload(catalog: UploadCatalog, bucket: str) -> AsyncIterator[MultipartUpload]:
    """Every in-progress upload of `bucket`, page by page (none once the bucket is gone)."""
    key_marker, id_marker = "", ""
    while True:
        try:
            page = await catalog.list_multipart_uploads(
                bucket, max_uploads=PAGE, key_marker=key_marker, upload_id_marker=id_marker
            )
        except NoSuchBucket:
            return
        for upload in page.uploads:
            yield upload
        if not page.is_truncated or page.next_key_marker is None:
            return
        key_marker, id_marker = page.next_key_marker, page.next_upload_id_marker or ""


class AbandonedUploadsWorker:
    name = "uploads"

    def __init__(
        self, catalog: UploadCatalog, max_age_s: float, wall: Callable[[], float] = time.time
    ) -> None:
        self._catalog = catalog
        self.max_age_s = max_age_s
        self._wall = wall

    async def run_pass(self) -> Counter[str]:
        counters: Counter[str] = Counter()
        cutoff_ms = int((self._wall() - self.max_age_s) * 1000)
        for bucket in await self._catalog.list_buckets():
            async for upload in self._uploads(bucket.name):
                counters["uploads_seen"] += 1
                if upload.initiated_ms > cutoff_ms:
                    continue
                try:
                    await self._catalog.abort_multipart_upload(bucket.name, upload.key, upload.upload_id)
                    counters["uploads_aborted"] += 1
                except (NoSuchUpload, NoSuchBucket):
                    continue
        return counters

    def _uploads(self, bucket: str) -> AsyncIterator[MultipartUpload]:
        return every_upload(self._catalog, bucket)

    async def backlog(self) -> dict[str, int]:
        cutoff_ms = int((self._wall() - self.max_age_s) * 1000)
        old = 0
        for bucket in await self._catalog.list_buckets():
            old += sum([1 async for u in self._uploads(bucket.name) if u.initiated_ms <= cutoff_ms])
        return {"abandoned_uploads": old}
