"""ListObjectsV2, ListObjects (V1) and ListObjectVersions pages on top of `shard_scan.merge`.

Each page asks the merge for max-keys + 1 entries (objects, versions or common prefixes all
count toward max-keys, as in S3); getting the extra one means the page is truncated. The V2
continuation token is opaque: url-safe base64 of a format byte and the last entry's key
bytes (an object key or a common prefix), so the next page starts strictly after it and a
rolled-up prefix is never repeated. V1 reports NextMarker only when a delimiter was given,
as S3 does. ListObjectVersions resumes inside a key from (key-marker, version-id-marker).
"""

from __future__ import annotations

import base64
import binascii

from cairn.metadata import versionids
from cairn.metadata.core import ServiceCore
from cairn.metadata.errors import InvalidArgument
from cairn.metadata.models import (
    MAX_KEYS_LIMIT,
    NULL_VERSION_ID,
    ListObjectsV1Page,
    ListObjectsV2Page,
    ListVersionsPage,
)
from cairn.metadata.objects import find_row
from cairn.metadata.shard_scan import Entry, Position, Query, merge

_TOKEN_FORMAT = b"\x01"


def encode_token(last_key: bytes) -> str:
    return base64.urlsafe_b64encode(_TOKEN_FORMAT + last_key).decode("ascii")


def decode_token(token: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise InvalidArgument("The continuation token provided is incorrect") from exc
    if not raw.startswith(_TOKEN_FORMAT):
        raise InvalidArgument("The continuation token provided is incorrect")
    return raw[len(_TOKEN_FORMAT) :]


def clamp_max_keys(max_keys: int) -> int:
    if max_keys < 0:
        raise InvalidArgument("max-keys must be non-negative")
    return min(max_keys, MAX_KEYS_LIMIT)


def split(entries: list[Entry], max_keys: int) -> tuple[list[Entry], bool]:
    """The page and whether it is truncated (max-keys 0 is an empty, untruncated page, as in S3)."""
    if max_keys == 0:
        return [], False
    return entries[:max_keys], len(entries) > max_keys


class ListingOps(ServiceCore):
    async def list_objects_v2(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        max_keys: int = 1000,
        continuation_token: str | None = None,
        start_after: str = "",
        fetch_owner: bool = False,
    ) -> ListObjectsV2Page:
        await self.linearize()
        b = self.bucket(bucket)
        max_keys = clamp_max_keys(max_keys)
        after = decode_token(continuation_token) if continuation_token else start_after.encode()
        q = Query("live", b.name, b.id, prefix.encode(), delimiter.encode(), after, fetch_owner)
        page, truncated = split(await merge(self.store.objects, q, (after, None), max_keys + 1), max_keys)
        return ListObjectsV2Page(
            contents=tuple(e.item for e in page if not e.is_prefix),
            common_prefixes=tuple(e.key.decode() for e in page if e.is_prefix),
            is_truncated=truncated,
            next_continuation_token=encode_token(page[-1].key) if truncated else None,
            key_count=len(page),
        )

    async def list_objects_v1(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        max_keys: int = 1000,
        marker: str = "",
    ) -> ListObjectsV1Page:
        await self.linearize()
        b = self.bucket(bucket)
        max_keys = clamp_max_keys(max_keys)
        after = marker.encode()
        q = Query("live", b.name, b.id, prefix.encode(), delimiter.encode(), after, True)
        page, truncated = split(await merge(self.store.objects, q, (after, None), max_keys + 1), max_keys)
        return ListObjectsV1Page(
            contents=tuple(e.item for e in page if not e.is_prefix),
            common_prefixes=tuple(e.key.decode() for e in page if e.is_prefix),
            is_truncated=truncated,
            next_marker=page[-1].key.decode() if truncated and delimiter else None,
        )

    async def list_object_versions(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        max_keys: int = 1000,
        key_marker: str = "",
        version_id_marker: str = "",
    ) -> ListVersionsPage:
        await self.linearize()
        b = self.bucket(bucket)
        max_keys = clamp_max_keys(max_keys)
        if version_id_marker and not key_marker:
            raise InvalidArgument("A version-id marker cannot be specified without a key marker.")
        km = key_marker.encode()
        start: Position = (km, None)
        if version_id_marker == NULL_VERSION_ID:
            row = await self.store.shard_for(b.id, key_marker).read(find_row, b.id, km, NULL_VERSION_ID)
            if row is not None:
                start = (km, row[1])
        elif version_id_marker:
            try:
                start = (km, versionids.invert(versionids.decode(version_id_marker)))
            except ValueError as exc:
                raise InvalidArgument("Invalid version id specified") from exc
        q = Query("versions", b.name, b.id, prefix.encode(), delimiter.encode(), km, True)
        page, truncated = split(await merge(self.store.objects, q, start, max_keys + 1), max_keys)
        next_key = next_version = None
        if truncated:
            last = page[-1]
            next_key = last.key.decode()
            next_version = None if last.is_prefix else last.item.version_id
        return ListVersionsPage(
            versions=tuple(e.item for e in page if not e.is_prefix),
            common_prefixes=tuple(e.key.decode() for e in page if e.is_prefix),
            is_truncated=truncated,
            next_key_marker=next_key,
            next_version_id_marker=next_version,
        )
