"""Is the S3 API at an endpoint *this* cluster's? Asked before `cairn up` says it is up.

Any HTTP answer on the port proves only that something listens. The probe signs a ListBuckets
with the cluster's root key (SigV4, by the AWS Common Runtime's signer, independent of the
server's verifier) and returns the owner id of the answer, which `cairn up` compares with the
root user's id read from its own metadata service: another server, or another Cairn cluster
that happens to share the credentials, cannot produce both.
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.parse
import urllib.request
from xml.etree import ElementTree

from awscrt import auth, http

_S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_MAX_BODY = 1 << 20


class ProbeFailed(Exception):
    """The endpoint did not answer a signed ListBuckets with a bucket list (the reason says why)."""


def _signed_headers(
    host: str, access_key: str, secret_key: str, region: str, timeout_s: float
) -> list[tuple[str, str]]:
    signing = auth.AwsSigningConfig(
        algorithm=auth.AwsSigningAlgorithm.V4,
        signature_type=auth.AwsSignatureType.HTTP_REQUEST_HEADERS,
        credentials_provider=auth.AwsCredentialsProvider.new_static(access_key, secret_key),
        region=region,
        service="s3",
        signed_body_value=auth.AwsSignedBodyValue.EMPTY_SHA256,
        signed_body_header_type=auth.AwsSignedBodyHeaderType.X_AMZ_CONTENT_SHA_256,
    )
    request = http.HttpRequest("GET", "/", headers=http.HttpHeaders([("host", host)]))
    signed = auth.aws_sign_request(request, signing).result(timeout_s)
    return list(signed.headers)


def list_buckets_owner(
    endpoint: str,
    access_key: str,
    secret_key: str,
    region: str,
    context: ssl.SSLContext | None = None,
    timeout_s: float = 5.0,
) -> str:
    """The Owner/ID of a ListBuckets signed with the given key (ProbeFailed if there is none)."""
    host = urllib.parse.urlsplit(endpoint).netloc
    request = urllib.request.Request(f"{endpoint.rstrip('/')}/", method="GET")
    for name, value in _signed_headers(host, access_key, secret_key, region, timeout_s):
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s, context=context) as response:  # noqa: S310
            body = response.read(_MAX_BODY)
    except urllib.error.HTTPError as exc:
        code = _error_code(exc.read(_MAX_BODY))
        raise ProbeFailed(
            f"HTTP {exc.code}{f' {code}' if code else ''} to a ListBuckets signed with the root key"
        ) from None
    except (OSError, ssl.SSLError) as exc:
        raise ProbeFailed(f"no answer: {exc}") from None
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise ProbeFailed("the answer to ListBuckets is not XML") from None
    owner = root.find(f"{_S3_NS}Owner/{_S3_NS}ID")
    if root.tag != f"{_S3_NS}ListAllMyBucketsResult" or owner is None or not owner.text:
        raise ProbeFailed(f"the answer to ListBuckets is not a bucket list (<{root.tag}>)")
    return owner.text


def _error_code(body: bytes) -> str:
    try:
        code = ElementTree.fromstring(body).find("Code")
    except ElementTree.ParseError:
        return ""
    return code.text or "" if code is not None else ""
