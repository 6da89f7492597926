"""The X-Amz-Date reader: the fast path for the form clients send agrees with strptime."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cairn.api_service.errors import AccessDenied
from cairn.api_service.sigv4_credentials import AMZ_DATE_FORMAT, request_time


@pytest.mark.parametrize(
    "value",
    [
        "20261204T221500Z",
        "20240229T235959Z",
        "20250229T000000Z",  # no 29 February in 2025
        "20261304T000000Z",
        "20261204T246000Z",
        "20261204T221560Z",
        "2026124T221500Z",  # strptime reads this one too
        "20261204T2215000",
        "20261204X221500Z",
        "20261204T22150aZ",
        "٢٠٢٦١٢٠٤T221500Z",  # non-ASCII digits: not a date for AWS
        "",
        "Thu, 04 Dec 2026 22:15:00 GMT",
    ],
)
def test_request_time_reads_what_strptime_reads_and_refuses_the_rest(value: str) -> None:
    try:
        want: datetime | None = datetime.strptime(value, AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        want = None
    if want is None:
        with pytest.raises(AccessDenied):
            request_time(value)
    else:
        assert request_time(value) == want
