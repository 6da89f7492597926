"""Legacy Signature Version 2: presigned URLs (`?AWSAccessKeyId=..&Expires=..&Signature=..`) and
the `Authorization: AWS <access key>:<signature>` header.

boto3's `generate_presigned_url` and `aws s3 presign` still produce the URLs unless told to use
SigV4, and older tools and SDKs sign headers this way, so the edge verifies both.
String to sign: `METHOD \n Content-MD5 \n Content-Type \n Expires-or-Date \n [x-amz-* headers \n]`
followed by the resource: the path as sent (with `/bucket` first for virtual-hosted requests) and
the sub-resources of interest, sorted. The header form signs the `Date` header (empty when
`x-amz-date` is sent, which is then one of the x-amz-* lines) and is refused more than 15 minutes
off the server's clock (RequestTimeTooSkewed). Signature: base64(HMAC-SHA1(secret, string)),
compared in constant time by whoever holds the
secret (the metadata service, `cairn.signing.Signer`). The payload is never signed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import unquote

from cairn.signing import Signer

from .errors import (
    AccessDenied,
    InvalidAccessKeyId,
    InvalidArgument,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
)

MAX_SKEW = timedelta(minutes=15)

SUBRESOURCES = frozenset(
    {
        "accelerate",
        "acl",
        "cors",
        "defaultObjectAcl",
        "location",
        "logging",
        "partNumber",
        "policy",
        "requestPayment",
        "torrent",
        "versioning",
        "versionId",
        "versions",
        "website",
        "uploads",
        "uploadId",
        "response-content-type",
        "response-content-language",
        "response-expires",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "delete",
        "lifecycle",
        "tagging",
        "restore",
        "storageClass",
        "notification",
        "replication",
        "analytics",
        "metrics",
        "inventory",
        "select",
        "select-type",
        "object-lock",
    }
)


def _resource(raw_path: str, query_string: str, vhost_bucket: str | None) -> str:
    path = f"/{vhost_bucket}{raw_path}" if vhost_bucket else raw_path
    pairs = []
    for item in query_string.split("&"):
        name, sep, value = item.partition("=")
        if name in SUBRESOURCES:
            pairs.append((name, f"{name}={unquote(value)}" if sep else name))
    if pairs:
        path += "?" + "&".join(text for _, text in sorted(pairs, key=lambda p: p[0]))
    return path


def string_to_sign(
    method: str,
    raw_path: str,
    query_string: str,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    vhost_bucket: str | None = None,
    date: str | None = None,
) -> str:
    """`date` is the header form's Date line; the query form signs `Expires` instead."""

    def standard(name: str) -> str:
        return (headers.get(name) or query.get(name) or "").strip()

    amz = {k: v.strip() for k, v in query.items() if k.lower().startswith("x-amz-")}
    amz.update({k: v.strip() for k, v in headers.items() if k.startswith("x-amz-")})
    when = query.get("Expires", "") if date is None else date
    lines = [method, standard("content-md5"), standard("content-type"), when]
    lines += [f"{k}:{amz[k]}" for k in sorted(amz)]
    return "\n".join(lines) + "\n" + _resource(raw_path, query_string, vhost_bucket)


async def _check_signature(
    request: tuple[str, str, str, Mapping[str, str], Mapping[str, str], str | None],
    signer: Signer,
    signature: str,
    date: str | None,
    **fields: str,
) -> None:
    """SignatureDoesNotMatch unless `signature` signs the request (method, raw path, query string,
    headers, query, virtual-hosted bucket) under one of its resource paths."""
    method, raw_path, query_string, headers, query, vhost_bucket = request
    sts = ""
    for path in _path_candidates(raw_path, vhost_bucket):
        sts = string_to_sign(method, path, query_string, headers, query, vhost_bucket, date=date)
        if await signer.sigv2_matches(sts.encode("utf-8", "surrogateescape"), signature):
            return
    raise SignatureDoesNotMatch(StringToSign=sts, **fields)


def _path_candidates(raw_path: str, vhost_bucket: str | None) -> list[str]:
    """The path as sent, and for a path-style bucket request (`/bucket`) also `/bucket/`, the
    resource S3 documents for a bucket and botocore signs."""
    if vhost_bucket is None and raw_path.count("/") == 1 and len(raw_path) > 1:
        return [raw_path, raw_path + "/"]
    return [raw_path]


def parse_header_v2(authorization: str) -> tuple[str, str]:
    """(access key id, signature) of an `AWS key:signature` Authorization header."""
    key, sep, signature = authorization[4:].strip().rpartition(":")
    if not sep or not key or not signature:
        raise InvalidArgument(
            "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
            ArgumentName="Authorization",
            ArgumentValue=authorization,
        )
    return key, signature


async def check_header_v2(
    method: str,
    raw_path: str,
    query_string: str,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    signer: Signer | None,
    now: datetime,
    vhost_bucket: str | None = None,
) -> None:
    """Raise unless the V2 Authorization header's signature is valid and its date current."""
    access_key, signature = parse_header_v2(headers["authorization"])
    if signer is None:
        raise InvalidAccessKeyId(AWSAccessKeyId=access_key)
    raw_date = headers.get("x-amz-date") or headers.get("date")
    if not raw_date:
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
    try:
        when = parsedate_to_datetime(raw_date)
    except (TypeError, ValueError):
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    date_line = "" if "x-amz-date" in headers else headers.get("date", "").strip()
    request = (method, raw_path, query_string, headers, query, vhost_bucket)
    await _check_signature(request, signer, signature, date_line, AWSAccessKeyId=access_key)
    if abs(now - when) > MAX_SKEW:
        raise RequestTimeTooSkewed(
            RequestTime=raw_date,
            ServerTime=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            MaxAllowedSkewMilliseconds=900000,
        )


async def check_presigned_v2(
    method: str,
    raw_path: str,
    query_string: str,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    signer: Signer | None,
    now: datetime,
    vhost_bucket: str | None = None,
) -> None:
    """Raise unless the V2 presigned query signature is valid and not expired."""
    if signer is None:
        raise InvalidAccessKeyId(AWSAccessKeyId=query.get("AWSAccessKeyId", ""))
    try:
        expires = int(query.get("Expires", ""))
    except ValueError:
        raise AccessDenied(
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"
        ) from None
    request = (method, raw_path, query_string, headers, query, vhost_bucket)
    await _check_signature(request, signer, query.get("Signature", ""), None)
    if now.timestamp() > expires:
        raise AccessDenied("Request has expired", Expires=str(expires))
