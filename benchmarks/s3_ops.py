"""The S3 operations a benchmark needs, as signed requests over `http11` connections.

Path-style addressing (`/bucket/key`), SigV4 header auth with UNSIGNED-PAYLOAD. An error status
raises `S3Error` with the S3 error code from the response body; nothing is retried.
"""

from __future__ import annotations

import base64
import hashlib
import re
import ssl
from collections.abc import Sequence
from urllib.parse import urlsplit
from xml.etree import ElementTree

from http11 import Buffer, Connection, Consume, Response
from s3_sigv4 import UNSIGNED_PAYLOAD, Signer, target

_CODE = re.compile(rb"<Code>([^<]*)</Code>")


class S3Error(Exception):
    """An S3 request answered with an error status."""

    def __init__(self, operation: str, status: int, code: str) -> None:
        super().__init__(f"{operation}: HTTP {status} {code}")
        self.status = status
        self.code = code


def _children(xml: bytes, name: str) -> list[str]:
    """Text of every element called `name` (any namespace, any depth)."""
    root = ElementTree.fromstring(xml)
    return [el.text or "" for el in root.iter() if el.tag.rsplit("}", 1)[-1] == name]


class S3Client:
    """Signs and sends S3 requests to one endpoint; connections come from `connection()`."""

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        region: str,
        ca_bundle: str | None = None,
        request_timeout: float = 120.0,
    ) -> None:
        url = urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"endpoint must be http(s)://host[:port], not {endpoint!r}")
        self.endpoint = endpoint
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.host_header = url.netloc
        self.ssl_context = ssl.create_default_context(cafile=ca_bundle) if url.scheme == "https" else None
        self.signer = Signer(access_key, secret_key, region)
        self.request_timeout = request_timeout

    def connection(self) -> Connection:
        return Connection(self.host, self.port, self.ssl_context, self.request_timeout)

    async def call(
        self,
        conn: Connection,
        operation: str,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]] = (),
        *,
        signed: Sequence[tuple[str, str]] = (),
        unsigned: Sequence[tuple[str, str]] = (),
        body: Sequence[Buffer] = (),
        consume: Consume = Consume.DISCARD,
    ) -> Response:
        headers = {
            "host": self.host_header,
            "x-amz-content-sha256": UNSIGNED_PAYLOAD,
            "x-amz-date": self.signer.amz_date(),
            **dict(signed),
        }
        request_target = target(path, query)
        authorization = self.signer.authorization(method, request_target, headers)
        all_headers = [*headers.items(), ("authorization", authorization), *unsigned]
        response = await conn.request(method, request_target, all_headers, body, consume)
        if not 200 <= response.status < 300:
            match = _CODE.search(response.body)
            raise S3Error(operation, response.status, match.group(1).decode() if match else "")
        return response

    # -- buckets

    async def create_bucket(self, conn: Connection, bucket: str) -> None:
        await self.call(conn, "CreateBucket", "PUT", f"/{bucket}")

    async def delete_bucket(self, conn: Connection, bucket: str) -> None:
        await self.call(conn, "DeleteBucket", "DELETE", f"/{bucket}")

    # -- objects

    async def put_object(self, conn: Connection, bucket: str, key: str, body: Sequence[Buffer]) -> str:
        response = await self.call(conn, "PutObject", "PUT", f"/{bucket}/{key}", body=body)
        return response.headers.get("etag", "")

    async def get_object(
        self,
        conn: Connection,
        bucket: str,
        key: str,
        consume: Consume,
        byte_range: tuple[int, int] | None = None,
    ) -> Response:
        """GET the object, or the inclusive `byte_range` (first, last) of it."""
        unsigned = [("range", f"bytes={byte_range[0]}-{byte_range[1]}")] if byte_range else []
        return await self.call(
            conn, "GetObject", "GET", f"/{bucket}/{key}", unsigned=unsigned, consume=consume
        )

    async def delete_object(self, conn: Connection, bucket: str, key: str) -> None:
        await self.call(conn, "DeleteObject", "DELETE", f"/{bucket}/{key}")

    async def delete_objects(self, conn: Connection, bucket: str, keys: Sequence[str]) -> int:
        """DeleteObjects (quiet) for up to 1000 keys; returns how many keys the server failed."""
        entries = "".join(f"<Object><Key>{_xml_text(k)}</Key></Object>" for k in keys)
        xml = f"<Delete><Quiet>true</Quiet>{entries}</Delete>".encode()
        md5 = base64.b64encode(hashlib.md5(xml).digest()).decode()
        response = await self.call(
            conn,
            "DeleteObjects",
            "POST",
            f"/{bucket}",
            [("delete", "")],
            signed=[("content-md5", md5)],
            body=[xml],
            consume=Consume.KEEP,
        )
        return len(_children(response.body, "Error"))

    async def list_page(
        self, conn: Connection, bucket: str, prefix: str, token: str | None, max_keys: int
    ) -> tuple[list[str], str | None]:
        """One ListObjectsV2 page: its keys and the continuation token of the next (None at the end)."""
        query = [("list-type", "2"), ("prefix", prefix), ("max-keys", str(max_keys))]
        if token:
            query.append(("continuation-token", token))
        response = await self.call(conn, "ListObjectsV2", "GET", f"/{bucket}", query, consume=Consume.KEEP)
        keys = _children(response.body, "Key")
        truncated = _children(response.body, "IsTruncated") == ["true"]
        tokens = _children(response.body, "NextContinuationToken")
        if not truncated:
            return keys, None
        if not tokens or not tokens[0]:
            raise S3Error("ListObjectsV2", response.status, "truncated page without a continuation token")
        return keys, tokens[0]

    # -- multipart uploads

    async def create_multipart_upload(self, conn: Connection, bucket: str, key: str) -> str:
        response = await self.call(
            conn, "CreateMultipartUpload", "POST", f"/{bucket}/{key}", [("uploads", "")], consume=Consume.KEEP
        )
        return _children(response.body, "UploadId")[0]

    async def upload_part(
        self, conn: Connection, bucket: str, key: str, upload_id: str, number: int, body: Sequence[Buffer]
    ) -> str:
        query = [("partNumber", str(number)), ("uploadId", upload_id)]
        response = await self.call(conn, "UploadPart", "PUT", f"/{bucket}/{key}", query, body=body)
        return response.headers.get("etag", "")

    async def complete_multipart_upload(
        self, conn: Connection, bucket: str, key: str, upload_id: str, etags: Sequence[str]
    ) -> None:
        parts = "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>{_xml_text(etag)}</ETag></Part>"
            for n, etag in enumerate(etags, start=1)
        )
        xml = f"<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>".encode()
        response = await self.call(
            conn,
            "CompleteMultipartUpload",
            "POST",
            f"/{bucket}/{key}",
            [("uploadId", upload_id)],
            body=[xml],
            consume=Consume.KEEP,
        )
        if (
            ElementTree.fromstring(response.body).tag.rsplit("}", 1)[-1] == "Error"
        ):  # S3 may fail late, in a 200
            match = _CODE.search(response.body)
            raise S3Error(
                "CompleteMultipartUpload", response.status, match.group(1).decode() if match else ""
            )

    async def abort_multipart_upload(self, conn: Connection, bucket: str, key: str, upload_id: str) -> None:
        await self.call(conn, "AbortMultipartUpload", "DELETE", f"/{bucket}/{key}", [("uploadId", upload_id)])


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
