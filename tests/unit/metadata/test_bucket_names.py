"""Examples from the AWS "General purpose bucket naming rules" page."""

from __future__ import annotations

import pytest

from cairn.metadata.bucket_names import bucket_name_problem

VALID = [
    "docexamplebucket-1a1b2c3d4-5678-90ab-cdef-example11111",
    "logs-examplebucket",
    "example.com",
    "www.docexamplebucket.com",
    "my.example.s3.bucket",
    "abc",
    "a" * 63,
    "1bucket",
]
INVALID = [
    "doc_example_bucket",  # underscore
    "DocExampleBucket",  # uppercase
    "doc-example-bucket-",  # ends with a hyphen
    "ab",  # too short
    "a" * 64,  # too long
    ".bucket",
    "bucket.",
    "my..bucket",
    "192.168.5.4",
    "xn--bucket",
    "sthree-bucket",
    "amzn-s3-demo-bucket",
    "bucket-s3alias",
    "bucket--ol-s3",
    "bucket.mrap",
    "bucket--x-s3",
    "bucket--table-s3",
    "bücket",
]


@pytest.mark.parametrize("name", VALID)
def test_valid_names(name: str) -> None:
    assert bucket_name_problem(name) is None


@pytest.mark.parametrize("name", INVALID)
def test_invalid_names(name: str) -> None:
    assert bucket_name_problem(name) is not None
