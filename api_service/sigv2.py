"""Legacy Signature Version 2 presigned URLs (`?AWSAccessKeyId=..&Expires=..&Signature=..`).

boto3's `generate_presigned_url` and `aws s3 presign` still produce these unless told to use
SigV4, so the edge verifies them too (query form only; the V2 Authorization header is refused).
String to sign: `METHOD \n Content-MD5 \n Content-Type \n Expires \n [x-amz-* headers \n]` followed
by the resource: the path as sent (with `/bucket` first for virtual-hosted requests) and the
sub-resources of interest, sorted. Signature: base64(HMAC-SHA1(secret, string)), compared in
constant time. The payload of a presigned request is never signed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import unquote

from .errors import AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch

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
) -> str:
    def standard(name: str) -> str:
        return (headers.get(name) or query.get(name) or "").strip()

    amz = {k: v.strip() for k, v in query.items() if k.lower().startswith("x-amz-")}
    amz.update({k: v.strip() for k, v in headers.items() if k.startswith("x-amz-")})
    lines = [method, standard("content-md5"), standard("content-type"), query.get("Expires", "")]
    lines += [f"{k}:{amz[k]}" for k in sorted(amz)]
    return "\n".join(lines) + "\n" + _resource(raw_path, query_string, vhost_bucket)


def check_presigned_v2(
    method: str,
    raw_path: str,
    query_string: str,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    secret: str | None,
    now: datetime,
    vhost_bucket: str | None = None,
) -> None:
    """Raise unless the V2 presigned query signature is valid and not expired."""
    if secret is None:
        raise InvalidAccessKeyId(AWSAccessKeyId=query.get("AWSAccessKeyId", ""))
    try:
        expires = int(query.get("Expires", ""))
    except ValueError:
        raise AccessDenied(
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"
        ) from None
    sts = string_to_sign(method, raw_path, query_string, headers, query, vhost_bucket)
    expected = base64.b64encode(
        hmac.new(secret.encode(), sts.encode("utf-8", "surrogateescape"), hashlib.sha1).digest()
    )
    if not hmac.compare_digest(expected, query.get("Signature", "").encode()):
        raise SignatureDoesNotMatch(StringToSign=sts)
    if now.timestamp() > expires:
        raise AccessDenied("Request has expired", Expires=str(expires))
