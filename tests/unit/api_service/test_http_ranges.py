"""Range parsing and conditional headers, as S3 answers them."""

from __future__ import annotations

import pytest

from cairn.api_service import errors
from cairn.api_service.http_ranges import (
    ByteRange,
    check_conditions,
    check_copy_source_conditions,
    parse_range,
)

MODIFIED_MS = 1_700_000_000_000  # Tue, 14 Nov 2023 22:13:20 GMT
BEFORE = "Tue, 14 Nov 2023 22:13:19 GMT"
AT = "Tue, 14 Nov 2023 22:13:20 GMT"
AFTER = "Tue, 14 Nov 2023 22:13:21 GMT"


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-9", 100, ByteRange(0, 9)),
        ("bytes=90-", 100, ByteRange(90, 99)),
        ("bytes=-10", 100, ByteRange(90, 99)),
        ("bytes=-1000", 100, ByteRange(0, 99)),
        ("bytes=50-1000", 100, ByteRange(50, 99)),
        ("bytes=99-99", 100, ByteRange(99, 99)),
        (None, 100, None),
        ("bytes=0-1,5-6", 100, None),  # several ranges: whole object
        ("items=0-1", 100, None),
        ("bytes=9-0", 100, None),
        ("bytes=-", 100, None),
    ],
)
def test_parse_range(header: str | None, size: int, expected: ByteRange | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"),
    [("bytes=100-", 100), ("bytes=100-200", 100), ("bytes=-0", 100), ("bytes=0-", 0), ("bytes=-5", 0)],
)
def test_unsatisfiable_ranges_are_416(header: str, size: int) -> None:
    with pytest.raises(errors.InvalidRange) as info:
        parse_range(header, size)
    assert info.value.status == 416


def test_content_range() -> None:
    assert ByteRange(0, 9).content_range(100) == "bytes 0-9/100"
    assert ByteRange(0, 9).length == 10


@pytest.mark.parametrize(
    ("headers", "outcome"),
    [
        ({}, None),
        ({"if-match": '"abc"'}, None),
        ({"if-match": '"x", "abc"'}, None),
        ({"if-match": "*"}, None),
        ({"if-match": '"x"'}, 412),
        ({"if-none-match": '"abc"'}, 304),
        ({"if-none-match": '"x"'}, None),
        ({"if-modified-since": AT}, 304),
        ({"if-modified-since": BEFORE}, None),
        ({"if-unmodified-since": BEFORE}, 412),
        ({"if-unmodified-since": AFTER}, None),
        ({"if-unmodified-since": "not a date"}, None),
        # S3's documented precedence: If-Match true wins over If-Unmodified-Since false ...
        ({"if-match": '"abc"', "if-unmodified-since": BEFORE}, None),
        # ... and If-None-Match false with If-Modified-Since true is 304
        ({"if-none-match": '"abc"', "if-modified-since": BEFORE}, 304),
        ({"if-none-match": '"x"', "if-modified-since": AT}, None),
        ({"if-match": '"x"', "if-none-match": '"abc"'}, 412),
    ],
)
def test_conditions(headers: dict[str, str], outcome: int | None) -> None:
    if outcome is None:
        check_conditions(headers, "abc", MODIFIED_MS)
        return
    with pytest.raises(errors.S3Error) as info:
        check_conditions(headers, "abc", MODIFIED_MS)
    assert info.value.status == outcome


def test_copy_source_conditions_fail_with_412() -> None:
    for headers in (
        {"x-amz-copy-source-if-none-match": '"abc"'},
        {"x-amz-copy-source-if-modified-since": AT},
        {"x-amz-copy-source-if-match": '"zzz"'},
    ):
        with pytest.raises(errors.PreconditionFailed):
            check_copy_source_conditions(headers, "abc", MODIFIED_MS)
    check_copy_source_conditions({"x-amz-copy-source-if-match": '"abc"'}, "abc", MODIFIED_MS)
