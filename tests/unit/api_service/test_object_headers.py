"""Headers that ask for features Cairn lacks are refused before anything is stored: with S3's 4xx
where S3 has the feature switched off as Cairn does (Object Lock), else 501."""

from __future__ import annotations

import pytest

from cairn.api_service.errors import S3Error
from cairn.api_service.object_headers import refuse_unsupported_features


@pytest.mark.parametrize(
    "headers",
    [
        {"x-amz-bucket-object-lock-enabled": "true"},
        {"x-amz-bucket-object-lock-enabled": "True"},
    ],
)
def test_features_cairn_lacks_answer_501(headers: dict[str, str]) -> None:
    with pytest.raises(S3Error) as exc:
        refuse_unsupported_features(headers)
    assert (exc.value.status, exc.value.code) == (501, "NotImplemented")


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"x-amz-object-lock-mode": "GOVERNANCE"}, 400, "InvalidRequest"),
        ({"x-amz-object-lock-legal-hold": "ON"}, 400, "InvalidRequest"),
    ],
)
def test_features_switched_off_answer_what_s3_answers(
    headers: dict[str, str], status: int, code: str
) -> None:
    """No bucket has Object Lock (ACL headers: test_acl.py)."""
    with pytest.raises(S3Error) as exc:
        refuse_unsupported_features(headers)
    assert (exc.value.status, exc.value.code) == (status, code)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-amz-acl": "private"},
        {"x-amz-acl": "bucket-owner-full-control"},
        {"x-amz-meta-tagging": "not a tag"},
        {"x-amz-copy-source": "/b/k", "x-amz-tagging-directive": "COPY"},
        {"x-amz-tagging": "a=b"},
        {"x-amz-website-redirect-location": "/elsewhere"},
        {"x-amz-bucket-object-lock-enabled": "false"},
        {"x-amz-object-ownership": "BucketOwnerEnforced"},
    ],
)
def test_ordinary_headers_pass(headers: dict[str, str]) -> None:
    refuse_unsupported_features(headers)
