"""Browser form uploads (POST Object) are routed before header authentication and answered as S3
answers them: a malformed form gets S3's error; a signed one is held to its policy and stored."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import http.client
import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from cairn.api_service import errors
from cairn.api_service.form_upload import MAX_PRE_DATA, read_fields
from cairn.signing import signing_key

from .harness import ROOT_KEY, ROOT_SECRET, Endpoint, code_of

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


def reply_of(endpoint: Endpoint, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """(status, headers with lower-case names, body) of a form POST."""
    url = urlsplit(endpoint.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=20)
    try:
        conn.request(
            "POST", path, body=body, headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        )
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def sigv4_form(
    bucket: str,
    conditions: list[Any],
    fields: dict[str, str],
    expiration: datetime | None = None,
    key_id: str = ROOT_KEY,
    secret: str = ROOT_SECRET,
    policy_text: str | None = None,
) -> list[tuple[str, str]]:
    """A SigV4-signed form: `fields` plus the signature fields, every one of them a condition."""
    now = datetime.now(UTC)
    date = now.strftime("%Y%m%d")
    signature_fields = {
        "x-amz-algorithm": "AWS4-HMAC-SHA256",
        "x-amz-credential": f"{key_id}/{date}/us-east-1/s3/aws4_request",
        "x-amz-date": now.strftime("%Y%m%dT%H%M%SZ"),
    }
    document = {
        "expiration": (expiration or now + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "conditions": [{"bucket": bucket}, *conditions, *({k: v} for k, v in signature_fields.items())],
    }
    policy = (
        policy_text if policy_text is not None else base64.b64encode(json.dumps(document).encode()).decode()
    )
    signature = hmac.new(signing_key(secret, date, "us-east-1"), policy.encode(), hashlib.sha256).hexdigest()
    return [*fields.items(), *signature_fields.items(), ("policy", policy), ("x-amz-signature", signature)]


def test_a_presigned_post_from_boto3_stores_the_file(s3e: Endpoint, s3: Any, bucket: str) -> None:
    presigned = s3.generate_presigned_post(
        bucket,
        "uploads/${filename}",
        Fields={"Content-Type": "text/plain", "x-amz-meta-origin": "browser", "success_action_status": "201"},
        Conditions=[
            ["starts-with", "$Content-Type", "text/"],
            {"x-amz-meta-origin": "browser"},
            {"success_action_status": "201"},
            ["content-length-range", 1, 1000],
        ],
    )
    assert urlsplit(presigned["url"]).path == f"/{bucket}"
    status, headers, data = reply_of(
        s3e, f"/{bucket}", form(list(presigned["fields"].items()), b"hello form")
    )
    assert status == 201
    doc = ET.fromstring(data)
    ns = "{http://s3.amazonaws.com/doc/2006-03-01/}"
    assert (doc.findtext(f"{ns}Bucket"), doc.findtext(f"{ns}Key")) == (bucket, "uploads/a.txt")
    assert doc.findtext(f"{ns}ETag") == headers["etag"] == f'"{hashlib.md5(b"hello form").hexdigest()}"'
    assert doc.findtext(f"{ns}Location") == headers["location"] == f"{s3e.url}/{bucket}/uploads/a.txt"
    got = s3.get_object(Bucket=bucket, Key="uploads/a.txt")
    assert got["Body"].read() == b"hello form"
    assert (got["ContentType"], got["Metadata"]) == ("text/plain", {"origin": "browser"})


def test_a_sigv2_presigned_post_stores_the_file(s3e: Endpoint, s3: Any, bucket: str) -> None:
    v2 = s3e.client(signature_version="s3")
    presigned = v2.generate_presigned_post(bucket, "v2/object")
    assert {"AWSAccessKeyId", "signature", "policy"} <= set(presigned["fields"])
    status, headers, _ = reply_of(s3e, f"/{bucket}", form(list(presigned["fields"].items()), b"v2 bytes"))
    assert (status, headers["etag"]) == (204, f'"{hashlib.md5(b"v2 bytes").hexdigest()}"')
    assert s3.get_object(Bucket=bucket, Key="v2/object")["Body"].read() == b"v2 bytes"


def test_a_large_file_streams_through_and_an_empty_one_is_stored(s3e: Endpoint, s3: Any, bucket: str) -> None:
    big = bytes(range(256)) * 8192 + b"\r\n--" + BOUNDARY[:-1].encode()  # 2 MiB, ending like a delimiter
    fields = sigv4_form(bucket, [{"key": "big"}], {"key": "big"})
    assert reply_of(s3e, f"/{bucket}", form(fields, big))[0] == 204
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == big
    fields = sigv4_form(bucket, [{"key": "empty"}], {"key": "empty"})
    assert reply_of(s3e, f"/{bucket}", form(fields, b""))[0] == 204
    assert s3.head_object(Bucket=bucket, Key="empty")["ContentLength"] == 0


def test_a_tampered_or_unknown_signature_is_refused(s3e: Endpoint, s3: Any, bucket: str) -> None:
    fields = dict(sigv4_form(bucket, [{"key": "t"}], {"key": "t"}))
    fields["x-amz-signature"] = "0" * 64
    status, code, _ = error_of(post(s3e, f"/{bucket}", form(list(fields.items()))))
    assert (status, code) == (403, "SignatureDoesNotMatch")
    other = sigv4_form(bucket, [{"key": "t"}], {"key": "t"}, key_id="NOSUCHKEY")
    status, code, _ = error_of(post(s3e, f"/{bucket}", form(other)))
    assert (status, code) == (403, "InvalidAccessKeyId")
    v2 = dict(s3e.client(signature_version="s3").generate_presigned_post(bucket, "t")["fields"])
    v2["signature"] = base64.b64encode(b"x" * 20).decode()
    assert error_of(post(s3e, f"/{bucket}", form(list(v2.items()))))[:2] == (403, "SignatureDoesNotMatch")
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="t")
    assert code_of(exc) == ("404", 404)


@pytest.mark.parametrize(
    ("conditions", "fields", "message"),
    [
        ([{"key": "other"}], {"key": "k"}, 'Policy Condition failed: ["eq", "$key", "other"]'),
        (
            [["starts-with", "$key", "user/"]],
            {"key": "k"},
            'Policy Condition failed: ["starts-with", "$key", "user/"]',
        ),
        (
            [{"key": "k"}, ["eq", "$Content-Type", "image/png"]],
            {"key": "k", "Content-Type": "text/plain"},
            'Policy Condition failed: ["eq", "$Content-Type", "image/png"]',
        ),
        ([{"key": "k"}], {"key": "k", "x-amz-meta-extra": "1"}, "Extra input fields: x-amz-meta-extra"),
    ],
    ids=["eq", "starts-with", "header", "extra-field"],
)
def test_a_form_outside_its_policy_is_refused(
    s3e: Endpoint, bucket: str, conditions: list[Any], fields: dict[str, str], message: str
) -> None:
    status, code, got = error_of(post(s3e, f"/{bucket}", form(sigv4_form(bucket, conditions, fields))))
    assert (status, code, got["Message"]) == (403, "AccessDenied", f"Invalid according to Policy: {message}")


def test_x_ignore_fields_need_no_condition(s3e: Endpoint, bucket: str) -> None:
    fields = sigv4_form(bucket, [{"key": "ign"}], {"key": "ign", "x-ignore-note": "anything"})
    assert reply_of(s3e, f"/{bucket}", form(fields))[0] == 204


def test_an_expired_policy_is_refused(s3e: Endpoint, bucket: str) -> None:
    past = datetime.now(UTC) - timedelta(seconds=5)
    fields = sigv4_form(bucket, [{"key": "late"}], {"key": "late"}, expiration=past)
    status, code, got = error_of(post(s3e, f"/{bucket}", form(fields)))
    assert (status, code, got["Message"]) == (
        403,
        "AccessDenied",
        "Invalid according to Policy: Policy expired.",
    )


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("not base64!", "Invalid Policy: Invalid JSON."),
        (base64.b64encode(b'{"conditions": []}').decode(), "Invalid Policy: Policy missing expiration."),
        (
            base64.b64encode(b'{"expiration": "2030-01-01T00:00:00Z"}').decode(),
            "Invalid Policy: Policy missing conditions.",
        ),
    ],
)
def test_a_policy_that_is_not_one_is_invalid(s3e: Endpoint, bucket: str, policy: str, message: str) -> None:
    fields = sigv4_form(bucket, [], {"key": "p"}, policy_text=policy)
    status, code, got = error_of(post(s3e, f"/{bucket}", form(fields)))
    assert (status, code, got["Message"]) == (400, "InvalidPolicyDocument", message)


@pytest.mark.parametrize(
    ("size", "code", "field"),
    [(11, "EntityTooLarge", "MaxSizeAllowed"), (2, "EntityTooSmall", "MinSizeAllowed")],
)
def test_content_length_range_is_enforced_and_nothing_is_stored(
    s3e: Endpoint, s3: Any, bucket: str, size: int, code: str, field: str
) -> None:
    fields = sigv4_form(bucket, [{"key": "ranged"}, ["content-length-range", 3, 10]], {"key": "ranged"})
    status, got_code, got = error_of(post(s3e, f"/{bucket}", form(fields, b"x" * size)))
    assert (status, got_code, got[field]) == (400, code, "10" if code == "EntityTooLarge" else "3")
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="ranged")
    assert code_of(exc) == ("404", 404)


def test_success_action_redirect_and_status(s3e: Endpoint, bucket: str) -> None:
    target = "https://app.example/done?x=1"
    fields = sigv4_form(
        bucket,
        [{"key": "r"}, {"success_action_redirect": target}],
        {"key": "r", "success_action_redirect": target},
    )
    status, headers, _ = reply_of(s3e, f"/{bucket}", form(fields, b"r"))
    etag = hashlib.md5(b"r").hexdigest()
    assert status == 303
    assert headers["location"] == f"{target}&bucket={bucket}&key=r&etag=%22{etag}%22"
    fields = sigv4_form(
        bucket, [{"key": "s"}, {"success_action_status": "200"}], {"key": "s", "success_action_status": "200"}
    )
    status, headers, data = reply_of(s3e, f"/{bucket}", form(fields, b"s"))
    assert (status, data, headers["location"]) == (200, b"", f"{s3e.url}/{bucket}/s")
    fields = sigv4_form(
        bucket, [{"key": "u"}, {"success_action_status": "404"}], {"key": "u", "success_action_status": "404"}
    )
    assert reply_of(s3e, f"/{bucket}", form(fields, b"u"))[0] == 204  # other values: the default


def test_a_form_is_authorized_like_a_put(s3e: Endpoint, s3: Any, bucket: str) -> None:
    """A signer without s3:PutObject on the bucket is refused; a bucket policy letting anyone put
    under a prefix admits an anonymous form there."""
    key_id, secret = s3e.new_user("form-user")
    fields = sigv4_form(bucket, [{"key": "u"}], {"key": "u"}, key_id=key_id, secret=secret)
    assert error_of(post(s3e, f"/{bucket}", form(fields)))[:2] == (403, "AccessDenied")
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{bucket}/drop/*",
    }
    s3.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    )
    try:
        assert reply_of(s3e, f"/{bucket}", form([("key", "drop/anon")], b"anon"))[0] == 204
        assert error_of(post(s3e, f"/{bucket}", form([("key", "other")])))[:2] == (403, "AccessDenied")
    finally:
        s3.delete_bucket_policy(Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="drop/anon")["Body"].read() == b"anon"


def test_tagging_and_a_private_acl_field_are_applied(s3e: Endpoint, s3: Any, bucket: str) -> None:
    tags = "<Tagging><TagSet><Tag><Key>team</Key><Value>web</Value></Tag></TagSet></Tagging>"
    fields = sigv4_form(
        bucket,
        [{"key": "tagged"}, {"tagging": tags}, {"acl": "private"}],
        {"key": "tagged", "tagging": tags, "acl": "private"},
    )
    assert reply_of(s3e, f"/{bucket}", form(fields))[0] == 204
    assert s3.get_object_tagging(Bucket=bucket, Key="tagged")["TagSet"] == [{"Key": "team", "Value": "web"}]


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


@pytest.mark.parametrize(
    ("field", "status", "code"),
    [
        (("x-amz-server-side-encryption", "aws:kms:dsse"), 501, "NotImplemented"),  # DSSE-KMS: not built
        (("x-amz-object-lock-mode", "GOVERNANCE"), 400, "InvalidRequest"),
    ],
)
def test_a_field_asking_for_a_missing_feature_is_refused(
    s3e: Endpoint, s3: Any, bucket: str, field: tuple[str, str], status: int, code: str
) -> None:
    name, value = field
    fields = sigv4_form(bucket, [{"key": "feature"}, {name: value}], {"key": "feature", name: value})
    assert error_of(post(s3e, f"/{bucket}", form(fields)))[:2] == (status, code)
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="feature")
    assert code_of(exc) == ("404", 404)


def test_a_form_asking_for_sse_s3_stores_the_file_encrypted(s3e: Endpoint, s3: Any, bucket: str) -> None:
    name, value = "x-amz-server-side-encryption", "AES256"
    fields = sigv4_form(bucket, [{"key": "sealed"}, {name: value}], {"key": "sealed", name: value})
    status, headers, _ = reply_of(s3e, f"/{bucket}", form(fields, b"secret form bytes"))
    assert (status, headers[name]) == (204, "AES256")
    assert headers["etag"] == f'"{hashlib.md5(b"secret form bytes").hexdigest()}"'
    head = s3.head_object(Bucket=bucket, Key="sealed")
    assert head["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="sealed")["Body"].read() == b"secret form bytes"
    version = s3e.run(s3e.metadata.get_object(bucket, "sealed"))
    stored = s3e.stored(version.blobs)
    assert b"secret form bytes" not in stored
