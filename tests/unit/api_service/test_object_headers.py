"""Headers that ask for features Cairn lacks are refused before anything is stored."""

from __future__ import annotations

import pytest

from cairn.api_service.errors import NotImplemented as S3NotImplemented
from cairn.api_service.object_headers import refuse_unsupported_features


@pytest.mark.parametrize(
    "headers",
    [
        {"x-amz-server-side-encryption": "AES256"},
        {"x-amz-server-side-encryption-customer-algorithm": "AES256"},
        {"x-amz-server-side-encryption-aws-kms-key-id": "key"},
        {"x-amz-object-lock-mode": "GOVERNANCE"},
        {"x-amz-object-lock-legal-hold": "ON"},
        {"x-amz-tagging": "a=b"},
        {"x-amz-grant-read": 'uri="http://acs.amazonaws.com/groups/global/AllUsers"'},
        {"x-amz-acl": "public-read"},
        {"X-Amz-Acl": "authenticated-read"},
        {"x-amz-bucket-object-lock-enabled": "true"},
        {"x-amz-bucket-object-lock-enabled": "True"},
    ],
)
def test_unsupported_feature_headers_answer_501(headers: dict[str, str]) -> None:
    with pytest.raises(S3NotImplemented) as exc:
        refuse_unsupported_features(headers)
    assert exc.value.status == 501 and exc.value.code == "NotImplemented"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-amz-acl": "private"},
        {"x-amz-acl": "bucket-owner-full-control"},
        {"x-amz-meta-tagging": "not a tag"},
        {"x-amz-copy-source": "/b/k", "x-amz-tagging-directive": "COPY"},
        {"x-amz-website-redirect-location": "/elsewhere"},
        {"x-amz-bucket-object-lock-enabled": "false"},
    ],
)
def test_ordinary_headers_pass(headers: dict[str, str]) -> None:
    refuse_unsupported_features(headers)
