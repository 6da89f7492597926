"""HTTP Range requests and conditional headers, as S3 applies them.

Range: one `bytes=first-last`, `bytes=first-` or `bytes=-suffix`. Like S3, a header that does
not parse, or asks for several ranges, is ignored (the whole object is served with 200); a
syntactically valid range that selects no byte (first >= size, `-0`, any range of an empty
object) is 416 InvalidRange. `last` beyond the end is clipped.

Conditions on GET/HEAD (S3 follows RFC 7232 section 6): If-Match (412) is evaluated first and,
when present, If-Unmodified-Since is ignored; then If-None-Match (304 on a match) and, only when
If-None-Match is absent, If-Modified-Since (304 when not modified). The copy-source variants
answer 412 for every failed condition. Unparseable dates are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

from .errors import InvalidRange, NotModified, PreconditionFailed

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The byte range `header` selects in an object of `size` bytes, or None for the whole object."""
    if header is None:
        return None
    m = _RANGE.match(header)
    if m is None:
        return None  # not one byte range (several, or garbage): S3 serves the whole object
    first, last = m.group(1), m.group(2)
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise InvalidRange(RangeRequested=header, ActualObjectSize=size)
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # RFC 7233: an invalid byte-range-spec makes the header ignored
    if start >= size:
        raise InvalidRange(RangeRequested=header, ActualObjectSize=size)
    return ByteRange(start, min(end, size - 1))


def parse_http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else None


def _etags(header: str) -> list[str]:
    return [t.strip().removeprefix("W/").strip('"') for t in header.split(",") if t.strip()]


def etag_matches(header: str, etag: str) -> bool:
    """Whether an If-Match / If-None-Match list names `etag` (unquoted) or is `*`."""
    tags = _etags(header)
    return "*" in tags or etag.strip('"') in tags


def _seconds(ms: int) -> int:
    return ms // 1000  # HTTP dates have whole seconds


def check_conditions(
    headers: dict[str, str],
    etag: str,
    last_modified_ms: int,
    *,
    prefix: str = "if-",
    copy_source: bool = False,
) -> None:
    """Raise PreconditionFailed (412) or NotModified (304) when the object fails the conditions."""
    if_match = headers.get(prefix + "match")
    if_none_match = headers.get(prefix + "none-match")
    modified = _seconds(last_modified_ms)
    if if_match is not None:
        if not etag_matches(if_match, etag):
            raise PreconditionFailed(Condition="If-Match")
    else:
        since = parse_http_date(headers.get(prefix + "unmodified-since"))
        if since is not None and modified > int(since.timestamp()):
            raise PreconditionFailed(Condition="If-Unmodified-Since")
    failure = PreconditionFailed if copy_source else NotModified
    if if_none_match is not None:
        if etag_matches(if_none_match, etag):
            raise failure(Condition="If-None-Match") if copy_source else failure()
    else:
        since = parse_http_date(headers.get(prefix + "modified-since"))
        if since is not None and modified <= int(since.timestamp()):
            raise failure(Condition="If-Modified-Since") if copy_source else failure()


def check_copy_source_conditions(headers: dict[str, str], etag: str, last_modified_ms: int) -> None:
    """x-amz-copy-source-if-* on CopyObject / UploadPartCopy: every failure is 412."""
    check_conditions(headers, etag, last_modified_ms, prefix="x-amz-copy-source-if-", copy_source=True)
