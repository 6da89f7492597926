"""The source side of CopyObject and UploadPartCopy: parse, authorize, check conditions, stream.

`x-amz-copy-source` is `[/]bucket/key[?versionId=id]`, percent-encoded. The source bucket is
authorized for `s3:GetObject` (`s3:GetObjectVersion` with a versionId) by access.py; the x-amz-copy-source-if-* conditions
fail with 412; `x-amz-copy-source-range` (UploadPartCopy only) must lie inside the object.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import unquote

from cairn.metadata.models import Bucket, ObjectVersion

from . import access, sse
from .context import S3Request
from .errors import InvalidArgument, InvalidRange, InvalidRequest
from .http_ranges import ByteRange, check_copy_source_conditions

MAX_COPY_SIZE = 5 * 1024**3
_COPY_RANGE = re.compile(r"^bytes=(\d+)-(\d+)$")


@dataclass(frozen=True, slots=True)
class CopySource:
    bucket: Bucket
    version: ObjectVersion
    range: ByteRange | None
    requested_version_id: str | None = None
    """The versionId named in x-amz-copy-source, or None when the current version was meant."""
    customer: sse.CustomerKey | None = None
    """The source's SSE-C key (x-amz-copy-source-server-side-encryption-customer-*)."""

    @property
    def length(self) -> int:
        return self.range.length if self.range else self.version.size

    def stream(self, req: S3Request) -> AsyncIterator[bytes]:
        start, end = (self.range.start, self.range.end) if self.range else (0, self.version.size - 1)
        return sse.read_plain(req, self.version, start, end, self.customer)


def parse_copy_source(value: str) -> tuple[str, str, str | None]:
    path, _, query = value.partition("?")
    path = unquote(path).lstrip("/")
    bucket, _, key = path.partition("/")
    if not bucket or not key:
        raise InvalidArgument("Invalid copy source object key", ArgumentName="x-amz-copy-source")
    version_id = None
    for item in query.split("&"):
        name, _, v = item.partition("=")
        if name == "versionId":
            version_id = unquote(v)
    return bucket, key, version_id


async def resolve(req: S3Request, *, allow_range: bool) -> CopySource:
    bucket_name, key, version_id = parse_copy_source(req.headers["x-amz-copy-source"])
    bucket = (await req.bucket_context(bucket_name)).bucket
    action = access.action_for("GetObject", versioned=version_id is not None)
    await access.authorize(req, bucket, action=action, key=key, version_id=version_id)
    version = await req.metadata.get_object(bucket_name, key, version_id)
    customer = sse.key_for_read(req, version, sse.COPY_SOURCE_CUSTOMER)
    check_copy_source_conditions(req.headers, version.etag, version.last_modified_ms)
    byte_range = None
    raw_range = req.headers.get("x-amz-copy-source-range")
    if raw_range is not None:
        if not allow_range:
            raise InvalidArgument(
                "Range specified is not valid for source object", ArgumentName="x-amz-copy-source-range"
            )
        m = _COPY_RANGE.match(raw_range.strip())
        if m is None:
            raise InvalidArgument(
                "The x-amz-copy-source-range value must be of the form bytes=first-last",
                ArgumentName="x-amz-copy-source-range",
            )
        start, end = int(m.group(1)), int(m.group(2))
        if end < start or end >= version.size:
            raise InvalidRange(f"Range specified is not valid for source object of size: {version.size}")
        byte_range = ByteRange(start, end)
    source = CopySource(bucket, version, byte_range, version_id, customer)
    if source.length > MAX_COPY_SIZE:
        raise InvalidRequest(
            "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120"
        )
    return source
