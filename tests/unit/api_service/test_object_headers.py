"""Headers that ask for features Cairn lacks are refused before anything is stored: with S3's 4xx
where S3 has the feature switched off as Cairn does (ACLs, Object Lock), else 501."""

from __future__ import annotations

import pytest

from cairn.api_service.errors import S3Error
from cairn.api_service.object_headers import refuse_unsupported_features


@pytest.mark.parametrize(
    "headers",
    [
        {"x-amz-bucket-object-lock-enabled": "true"},
        {"x-amz-bucket-object-lock-enabled": "True"},
        {"x-amz-object-ownership": "ObjectWriter"},
    ],
)
def test_features_cairn_lacks_answer_501(headers: dict[str, str]) -> None:
    with pytest.raises(S3Error) as exc:
        refuse_unsupported_features(headers, creating_bucket="x-amz-object-ownership" in headers)
    assert (exc.value.status, exc.value.code) == (501, "NotImplemented")


@pytest.mark.parametrize(
    ("headers", "creating_bucket", "status", "code"),
    [
        ({"x-amz-acl": "public-read"}, False, 400, "AccessControlListNotSupported"),
        ({"X-Amz-Acl": "authenticated-read"}, False, 400, "AccessControlListNotSupported"),
        (
            {"x-amz-grant-read": 'uri="http://acs.amazonaws.com/groups/global/AllUsers"'},
            False,
            400,
            "AccessControlListNotSupported",
        ),
        ({"x-amz-acl": "public-read"}, True, 400, "InvalidBucketAclWithObjectOwnership"),
        ({"x-amz-grant-full-control": "id=other"}, True, 400, "InvalidBucketAclWithObjectOwnership"),
        ({"x-amz-object-lock-mode": "GOVERNANCE"}, False, 400, "InvalidRequest"),
        ({"x-amz-object-lock-legal-hold": "ON"}, False, 400, "InvalidRequest"),
    ],
)
def test_features_switched_off_answer_what_s3_answers(
    headers: dict[str, str], creating_bucket: bool, status: int, code: str
) -> None:
    """ACLs are disabled (S3 Object Ownership BucketOwnerEnforced) and no bucket has Object Lock."""
    with pytest.raises(S3Error) as exc:
        refuse_unsupported_features(headers, creating_bucket=creating_bucket)
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
