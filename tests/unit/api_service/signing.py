"""Test helpers: requests exactly as botocore signs and sends them, turned into RawRequest."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.awsrequest import AWSPreparedRequest
from botocore.config import Config

from cairn.api_service.sigv4 import Credentials, RawRequest
from cairn.signing import SecretSigner

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
OWNER = "user-1"


async def lookup(akid: str) -> Credentials | None:
    return Credentials(SecretSigner(SECRET), OWNER) if akid == AKID else None


class Captured(Exception):
    def __init__(self, request: AWSPreparedRequest) -> None:
        super().__init__("captured")
        self.request = request


def client(endpoint: str = "http://127.0.0.1:9000", secret: str = SECRET, **s3: Any) -> Any:
    config = Config(s3={"addressing_style": "path", **s3}, retries={"max_attempts": 1})
    c = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=AKID,
        aws_secret_access_key=secret,
        config=config,
    )

    def stop(request: AWSPreparedRequest, **_: Any) -> None:
        raise Captured(request)

    c.meta.events.register_first("before-send.s3.*", stop)
    return c


def capture(c: Any, operation: str, **params: Any) -> tuple[RawRequest, bytes]:
    """Run `operation` on the botocore client `c`; return the request it would send and its body."""
    try:
        getattr(c, operation)(**params)
    except Captured as got:
        return to_raw(got.request)
    raise AssertionError("botocore sent nothing")


def to_raw(req: AWSPreparedRequest) -> tuple[RawRequest, bytes]:
    parts = urlsplit(req.url)
    headers = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in req.headers.items()}
    headers.setdefault("host", parts.netloc)
    body = req.body
    if body is None:
        data = b""
    elif isinstance(body, bytes | bytearray):
        data = bytes(body)
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = body.read()
    return RawRequest(req.method, parts.path or "/", parts.query, headers), data


async def stream(data: bytes, pieces: Iterable[int] = ()) -> AsyncIterator[bytes]:
    """`data` split at the given cut points."""
    last = 0
    for cut in pieces:
        yield data[last:cut]
        last = cut
    yield data[last:]


async def drain(body: Any) -> bytes:
    return b"".join([piece async for piece in body])
