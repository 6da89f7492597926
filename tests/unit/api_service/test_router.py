"""The router, table-tested with the request lines of AWS's S3 API reference examples."""

from __future__ import annotations

import pytest

from cairn.api_service import errors
from cairn.api_service.router import Op, route, split_host

BASE = ("s3.amazonaws.com", "s3.localhost")

CASES = [
    # (method, host, path, query, headers, op, bucket, key)
    ("GET", "s3.amazonaws.com", "/", "", {}, Op.LIST_BUCKETS, "", ""),
    ("PUT", "s3.amazonaws.com", "/examplebucket", "", {}, Op.CREATE_BUCKET, "examplebucket", ""),
    ("PUT", "examplebucket.s3.amazonaws.com", "/", "", {}, Op.CREATE_BUCKET, "examplebucket", ""),
    ("HEAD", "127.0.0.1:9000", "/b/", "", {}, Op.HEAD_BUCKET, "b", ""),
    ("DELETE", "127.0.0.1:9000", "/b", "", {}, Op.DELETE_BUCKET, "b", ""),
    (
        "GET",
        "examplebucket.s3.amazonaws.com",
        "/",
        "location",
        {},
        Op.GET_BUCKET_LOCATION,
        "examplebucket",
        "",
    ),
    ("GET", "h", "/b", "versioning", {}, Op.GET_BUCKET_VERSIONING, "b", ""),
    ("PUT", "h", "/b", "versioning", {}, Op.PUT_BUCKET_VERSIONING, "b", ""),
    ("GET", "h", "/b", "list-type=2&prefix=E&start-after=ExampleGuide.pdf", {}, Op.LIST_OBJECTS_V2, "b", ""),
    ("GET", "h", "/b", "prefix=N&marker=Ned&max-keys=40", {}, Op.LIST_OBJECTS, "b", ""),
    ("GET", "h", "/b", "versions&key-marker=key2", {}, Op.LIST_OBJECT_VERSIONS, "b", ""),
    ("GET", "h", "/b", "uploads&max-uploads=3", {}, Op.LIST_MULTIPART_UPLOADS, "b", ""),
    ("POST", "h", "/b", "delete", {}, Op.DELETE_OBJECTS, "b", ""),
    ("PUT", "h", "/b/my-image.jpg", "", {}, Op.PUT_OBJECT, "b", "my-image.jpg"),
    ("PUT", "h", "/b/k", "", {"x-amz-copy-source": "/src/k"}, Op.COPY_OBJECT, "b", "k"),
    ("GET", "h", "/b/my-image.jpg", "versionId=3HL4k", {}, Op.GET_OBJECT, "b", "my-image.jpg"),
    ("HEAD", "h", "/b/a/b/c", "", {}, Op.HEAD_OBJECT, "b", "a/b/c"),
    ("DELETE", "h", "/b/k", "versionId=UIORUnfnd", {}, Op.DELETE_OBJECT, "b", "k"),
    ("POST", "h", "/b/example-object", "uploads", {}, Op.CREATE_MULTIPART_UPLOAD, "b", "example-object"),
    ("PUT", "h", "/b/k", "partNumber=1&uploadId=VCVsb2FkIElE", {}, Op.UPLOAD_PART, "b", "k"),
    (
        "PUT",
        "h",
        "/b/k",
        "partNumber=2&uploadId=u",
        {"x-amz-copy-source": "/s/k"},
        Op.UPLOAD_PART_COPY,
        "b",
        "k",
    ),
    (
        "POST",
        "h",
        "/b/k",
        "uploadId=AAAsb2FkIElEIGZvciBlbHZpbmcncyWeeS1tb3ZpZS5tMnRzIRRwbG9hZA",
        {},
        Op.COMPLETE_MULTIPART_UPLOAD,
        "b",
        "k",
    ),
    ("DELETE", "h", "/b/k", "uploadId=VXBsb2FkIElE", {}, Op.ABORT_MULTIPART_UPLOAD, "b", "k"),
    ("GET", "h", "/b/k", "uploadId=XXBsb2FkIElE&max-parts=2", {}, Op.LIST_PARTS, "b", "k"),
    # features off on every bucket (ACLs disabled, no Object Lock): answered, not refused with 501
    ("GET", "examplebucket.s3.amazonaws.com", "/", "acl", {}, Op.GET_BUCKET_ACL, "examplebucket", ""),
    ("PUT", "h", "/b", "acl", {"x-amz-acl": "public-read"}, Op.PUT_BUCKET_ACL, "b", ""),
    ("GET", "h", "/b/my-image.jpg", "acl", {}, Op.GET_OBJECT_ACL, "b", "my-image.jpg"),
    ("PUT", "h", "/b/my-image.jpg", "acl", {}, Op.PUT_OBJECT_ACL, "b", "my-image.jpg"),
    ("GET", "h", "/b", "object-lock", {}, Op.GET_OBJECT_LOCK_CONFIGURATION, "b", ""),
    ("PUT", "h", "/b", "object-lock", {}, Op.PUT_OBJECT_LOCK_CONFIGURATION, "b", ""),
    ("GET", "h", "/b/k", "retention&versionId=v1", {}, Op.GET_OBJECT_RETENTION, "b", "k"),
    ("PUT", "h", "/b/k", "retention", {}, Op.PUT_OBJECT_RETENTION, "b", "k"),
    ("GET", "h", "/b/k", "legal-hold", {}, Op.GET_OBJECT_LEGAL_HOLD, "b", "k"),
    ("PUT", "h", "/b/k", "legal-hold", {}, Op.PUT_OBJECT_LEGAL_HOLD, "b", "k"),
    # bucket CORS, and the browser's preflight on a bucket or object, whatever its query
    ("PUT", "h", "/b", "cors", {}, Op.PUT_BUCKET_CORS, "b", ""),
    ("GET", "b.s3.localhost", "/", "cors", {}, Op.GET_BUCKET_CORS, "b", ""),
    ("DELETE", "h", "/b", "cors", {}, Op.DELETE_BUCKET_CORS, "b", ""),
    ("OPTIONS", "h", "/b/k/x", "", {"origin": "http://a"}, Op.CORS_PREFLIGHT, "b", "k/x"),
    ("OPTIONS", "h", "/b", "uploads", {}, Op.CORS_PREFLIGHT, "b", ""),
    # a browser form upload targets the bucket (POST Object)
    ("POST", "destinationbucket.s3.amazonaws.com", "/", "", {}, Op.POST_OBJECT, "destinationbucket", ""),
    ("POST", "h", "/b", "", {"content-type": "multipart/form-data; boundary=x"}, Op.POST_OBJECT, "b", ""),
    # keys are opaque: percent-decoding, dot segments, double slashes and backslashes are kept
    ("GET", "h", "/b/a%20b/c%2Bd+e", "", {}, Op.GET_OBJECT, "b", "a b/c+d+e"),
    ("GET", "h", "/b/../other/k", "", {}, Op.GET_OBJECT, "b", "../other/k"),
    ("GET", "h", "/b//x\\y", "", {}, Op.GET_OBJECT, "b", "/x\\y"),
    ("GET", "h", "/b/%2E%2E%2Fother", "", {}, Op.GET_OBJECT, "b", "../other"),
    (
        "GET",
        "b.s3.localhost:9000",
        "/photos/2006/February/sample.jpg",
        "",
        {},
        Op.GET_OBJECT,
        "b",
        "photos/2006/February/sample.jpg",
    ),
]


@pytest.mark.parametrize(("method", "host", "path", "query", "headers", "op", "bucket", "key"), CASES)
def test_routes(
    method: str, host: str, path: str, query: str, headers: dict, op: Op, bucket: str, key: str
) -> None:
    endpoint = route(method, host, path, query, headers, BASE)
    assert (endpoint.op, endpoint.bucket, endpoint.key) == (op, bucket, key)


def test_query_values_are_decoded() -> None:
    endpoint = route("GET", "h", "/b", "list-type=2&prefix=a%2Fb+c&delimiter=%2F", {}, BASE)
    assert endpoint.query["prefix"] == "a/b c" and endpoint.query["delimiter"] == "/"


@pytest.mark.parametrize(
    ("method", "path", "query"),
    [
        ("DELETE", "/b", "acl"),
        ("POST", "/b", "tagging"),
        ("POST", "/b/k", "tagging"),
        ("POST", "/b", "lifecycle"),
        ("POST", "/b", "policy"),
        ("GET", "/b/k", "cors"),
        ("POST", "/b", "cors"),
        ("POST", "/b", "encryption"),
        ("GET", "/b", "retention"),
        ("POST", "/b/k", "select"),
        ("DELETE", "/b", "object-lock"),
        ("GET", "/b", "website"),
        ("GET", "/", "acl"),
    ],
)
def test_unsupported_subresources_are_not_implemented(method: str, path: str, query: str) -> None:
    with pytest.raises(errors.NotImplemented) as info:
        route(method, "h", path, query, {}, BASE)
    assert info.value.status == 501


def test_unknown_methods_and_bad_requests() -> None:
    with pytest.raises(errors.MethodNotAllowed):
        route("PATCH", "h", "/b/k", "", {}, BASE)
    with pytest.raises(errors.MethodNotAllowed):
        route("DELETE", "h", "/", "", {}, BASE)
    with pytest.raises(errors.MethodNotAllowed) as info:  # S3 names the method and resource type
        route("POST", "h", "/b/k", "", {}, BASE)
    assert info.value.fields == {"Method": "POST", "ResourceType": "OBJECT"}
    with pytest.raises(errors.InvalidRequest):
        route("PUT", "h", "/b/k", "partNumber=1", {}, BASE)
    with pytest.raises(errors.InvalidArgument):
        route("GET", "h", "/b", "list-type=3", {}, BASE)


def test_split_host() -> None:
    assert split_host("my.bucket.s3.localhost:9000", BASE) == "my.bucket"
    assert split_host("S3.LOCALHOST", BASE) is None
    assert split_host("127.0.0.1:9000", BASE) is None
    assert split_host("[::1]", BASE) is None
