"""One in-process S3 endpoint (real app under uvicorn, in-memory metadata and blobs) per module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .harness import Endpoint, serve


@pytest.fixture(scope="module")
def s3e() -> Iterator[Endpoint]:
    with serve() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def s3(s3e: Endpoint) -> Any:
    return s3e.client()
