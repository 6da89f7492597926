"""Browser form uploads (POST Object) are routed before header authentication and answered as S3
answers them: a malformed or anonymous form gets S3's error, a complete signed one 501 (not built)."""

from __future__ import annotations

import asyncio
import http.client
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from cairn.api_service import errors
from cairn.api_service.form_upload import MAX_PRE_DATA, read_fields

from .harness import Endpoint, code_of

BOUNDARY = "----CairnFormBoundary7MA4YWxkTrZu0gW"


def form(
    fields: list[tuple[str, str]], file: bytes | None = b"file content", boundary: str = BOUNDARY
) -> bytes:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields
    ]
    if file is not None:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
            "Content-Type: text/plain\r\n\r\n".encode()
            + file
            + b"\r\n"
        )
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


def post(
    endpoint: Endpoint,
    path: str,
    body: bytes,
    content_type: str = f"multipart/form-data; boundary={BOUNDARY}",
) -> tuple[int, ET.Element | None]:
    url = urlsplit(endpoint.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=20)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    assert response.getheader("x-amz-request-id")
    return response.status, ET.fromstring(data) if data else None


def error_of(reply: tuple[int, ET.Element | None]) -> tuple[int, str, dict[str, str]]:
    status, doc = reply
    assert doc is not None
    fields = {
        el.tag: el.text or "" for el in doc if el.tag not in ("Code", "Message", "RequestId", "Resource")
    }
    return status, doc.findtext("Code") or "", {"Message": doc.findtext("Message") or "", **fields}


@pytest.fixture(scope="module")
def bucket(s3: Any) -> str:
    s3.create_bucket(Bucket="forms")
    return "forms"


@pytest.fixture(scope="module")
def signed_fields(s3: Any, bucket: str) -> list[tuple[str, str]]:
    presigned = s3.generate_presigned_post(bucket, "uploads/a.txt")
    return list(presigned["fields"].items())


def test_a_form_that_is_not_multipart_is_a_precondition_failure(s3e: Endpoint, bucket: str) -> None:
    status, code, fields = error_of(post(s3e, f"/{bucket}", b"key=k", "application/x-www-form-urlencoded"))
    assert (status, code) == (412, "PreconditionFailed")
    assert fields["Condition"] == "Bucket POST must be of the enclosure-type multipart/form-data"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", form([("key", "k")])),  # no boundary
        (f"multipart/form-data; boundary={BOUNDARY}", b"not a multipart body"),
        (f"multipart/form-data; boundary={BOUNDARY}", form([("key", "k")])[:40]),  # cut inside a part
    ],
)
def test_a_malformed_form_is_malformed_post_request(
    s3e: Endpoint, bucket: str, content_type: str, body: bytes
) -> None:
    status, code, _ = error_of(post(s3e, f"/{bucket}", body, content_type))
    assert (status, code) == (400, "MalformedPOSTRequest")


def test_a_form_without_a_file_is_invalid(s3e: Endpoint, bucket: str) -> None:
    status, code, fields = error_of(post(s3e, f"/{bucket}", form([("key", "k")], file=None)))
    assert (status, code) == (400, "InvalidArgument")
    assert fields["Message"] == "POST requires exactly one file upload per request."
    assert (fields["ArgumentName"], fields["ArgumentValue"]) == ("file", "0")


def test_a_key_after_the_file_does_not_count(s3e: Endpoint, bucket: str) -> None:
    body = form([], file=b"x")[: -len(f"--{BOUNDARY}--\r\n")] + form([("key", "late")], file=None)
    status, code, fields = error_of(post(s3e, f"/{bucket}", body))
    assert (status, code) == (400, "InvalidArgument")
    assert fields["ArgumentName"] == "key"
    assert fields["Message"].startswith("Bucket POST must contain a field named 'key'.")


def test_fields_beyond_20_kib_before_the_file_are_refused(s3e: Endpoint, bucket: str) -> None:
    status, code, fields = error_of(
        post(s3e, f"/{bucket}", form([("key", "k"), ("pad", "p" * MAX_PRE_DATA)]))
    )
    assert (status, code) == (400, "MaxPostPreDataLengthExceeded")
    assert fields["MaxPostPreDataLengthBytes"] == str(MAX_PRE_DATA)


@pytest.mark.parametrize("extra", [[], [("policy", "eyJ9")]], ids=["no-policy", "policy-only"])
def test_an_anonymous_form_is_access_denied(s3e: Endpoint, bucket: str, extra: list[tuple[str, str]]) -> None:
    """Without signature fields the upload is anonymous, and no Cairn bucket is publicly writable:
    S3's AccessDenied, not the header authenticator's "Anonymous access is not allowed"."""
    status, code, fields = error_of(post(s3e, f"/{bucket}", form([("key", "k"), *extra])))
    assert (status, code) == (403, "AccessDenied")
    assert fields["Message"] == "Access Denied"


@pytest.mark.parametrize(
    ("dropped", "named"),
    [
        ({"x-amz-signature"}, "X-Amz-Signature"),
        ({"x-amz-algorithm", "x-amz-credential"}, "X-Amz-Algorithm"),
        ({"policy"}, "Policy"),
    ],
)
def test_a_form_missing_a_signature_field_names_it(
    s3e: Endpoint, bucket: str, signed_fields: list[tuple[str, str]], dropped: set[str], named: str
) -> None:
    kept = [(name, value) for name, value in signed_fields if name.lower() not in dropped]
    status, code, fields = error_of(post(s3e, f"/{bucket}", form(kept)))
    assert (status, code) == (400, "InvalidArgument")
    assert fields["ArgumentName"] == named
    assert fields["Message"].startswith(f"Bucket POST must contain a field named '{named}'.")


def test_a_sigv2_form_missing_its_access_key_names_it(s3e: Endpoint, bucket: str) -> None:
    body = form([("key", "k"), ("policy", "eyJ9"), ("signature", "c2ln")])
    status, code, fields = error_of(post(s3e, f"/{bucket}", body))
    assert (status, code, fields["ArgumentName"]) == (400, "InvalidArgument", "AWSAccessKeyId")


def test_a_complete_signed_form_is_not_implemented_and_stores_nothing(
    s3e: Endpoint, s3: Any, bucket: str, signed_fields: list[tuple[str, str]]
) -> None:
    status, code, _ = error_of(post(s3e, f"/{bucket}", form(signed_fields)))
    assert (status, code) == (501, "NotImplemented")
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="uploads/a.txt")
    assert code_of(exc) == ("404", 404)


def test_a_virtual_hosted_form_is_routed_to_its_bucket(s3e: Endpoint, bucket: str) -> None:
    url = urlsplit(s3e.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=20)
    try:
        conn.request(
            "POST",
            "/",
            body=b"key=k",
            headers={"Host": f"{bucket}.s3.localhost", "Content-Type": "text/plain"},
        )
        response = conn.getresponse()
        assert response.status == 412  # a form upload's answer, not the authenticator's
    finally:
        conn.close()


def test_signed_requests_to_the_bucket_still_work(s3: Any, bucket: str) -> None:
    """POST ?delete is DeleteObjects, authenticated as before."""
    s3.put_object(Bucket=bucket, Key="gone", Body=b"x")
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "gone"}]})
    assert s3.list_objects_v2(Bucket=bucket, Prefix="gone")["KeyCount"] == 0


def test_fields_are_read_across_any_split_of_the_body() -> None:
    body = form([("key", "a/${filename}"), ("Content-Type", "text/plain"), ("x-amz-meta-a", "1")])

    async def one_byte_at_a_time() -> AsyncIterator[bytes]:
        for i in range(len(body)):
            yield body[i : i + 1]

    fields = asyncio.run(read_fields(BOUNDARY.encode(), one_byte_at_a_time()))
    assert fields == {"key": "a/${filename}", "content-type": "text/plain", "x-amz-meta-a": "1"}


def test_the_file_is_not_read() -> None:
    """Reading stops at the file part's headers: a body whose file never ends is still answered."""
    head = form([("key", "k")], file=b"")[: -len(f"\r\n--{BOUNDARY}--\r\n")]

    async def file_without_end() -> AsyncIterator[bytes]:
        yield head
        raise AssertionError("read past the file part's headers")

    assert asyncio.run(read_fields(BOUNDARY.encode(), file_without_end())) == {"key": "k"}


def test_malformed_framing_raises() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield f"--{BOUNDARY}XX".encode()

    with pytest.raises(errors.MalformedPOSTRequest):
        asyncio.run(read_fields(BOUNDARY.encode(), body()))
