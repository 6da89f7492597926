"""Versioning end to end through boto3: enabled and suspended buckets, delete markers, version ids,
ListObjectVersions paging, and the `null` version of unversioned and suspended buckets (AWS semantics).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError


def new_bucket(s3: Any, status: str | None = "Enabled") -> str:
    name = f"e2e-ver-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    if status:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": status})
    return name


def status_code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = exc.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def headers_of(exc: pytest.ExceptionInfo[ClientError]) -> dict[str, str]:
    return exc.value.response["ResponseMetadata"]["HTTPHeaders"]


def versions(s3: Any, bucket: str, **params: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    response = s3.list_object_versions(Bucket=bucket, **params)
    return response.get("Versions", []), response.get("DeleteMarkers", [])


def test_versioning_status(s3: Any) -> None:
    name = new_bucket(s3, status=None)
    assert "Status" not in s3.get_bucket_versioning(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Suspended"
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_versioning(Bucket=f"nobucket-{uuid.uuid4().hex[:12]}")
    assert status_code(exc) == (404, "NoSuchBucket")


def test_unversioned_bucket_has_null_version(s3: Any) -> None:
    name = new_bucket(s3, status=None)
    put = s3.put_object(Bucket=name, Key="k", Body=b"one")
    assert "VersionId" not in put
    s3.put_object(Bucket=name, Key="k", Body=b"two")
    found, markers = versions(s3, name)
    assert [(v["Key"], v["VersionId"], v["IsLatest"], v["Size"]) for v in found] == [("k", "null", True, 3)]
    assert markers == []
    assert s3.get_object(Bucket=name, Key="k", VersionId="null")["Body"].read() == b"two"


def test_versions_delete_markers_and_reads_by_id(s3: Any) -> None:
    name = new_bucket(s3)
    v1 = s3.put_object(Bucket=name, Key="doc", Body=b"first")["VersionId"]
    v2 = s3.put_object(Bucket=name, Key="doc", Body=b"second")["VersionId"]
    assert v1 and v2 and v1 != v2 and "null" not in (v1, v2)

    got = s3.get_object(Bucket=name, Key="doc")
    assert got["Body"].read() == b"second"
    assert got["VersionId"] == v2
    assert s3.head_object(Bucket=name, Key="doc")["VersionId"] == v2
    assert s3.get_object(Bucket=name, Key="doc", VersionId=v1)["Body"].read() == b"first"
    assert s3.head_object(Bucket=name, Key="doc", VersionId=v1)["ContentLength"] == 5

    deleted = s3.delete_object(Bucket=name, Key="doc")
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    assert marker not in (v1, v2)

    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=name, Key="doc")
    assert status_code(exc) == (404, "NoSuchKey")
    assert headers_of(exc).get("x-amz-delete-marker") == "true"
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=name, Key="doc")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert headers_of(exc).get("x-amz-delete-marker") == "true"
    assert headers_of(exc).get("x-amz-version-id") == marker

    # Older versions stay readable by id; the marker itself is not an object (405).
    assert s3.get_object(Bucket=name, Key="doc", VersionId=v1)["Body"].read() == b"first"
    assert s3.get_object(Bucket=name, Key="doc", VersionId=v2)["Body"].read() == b"second"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=name, Key="doc", VersionId=marker)
    assert status_code(exc) == (405, "MethodNotAllowed")
    assert headers_of(exc).get("x-amz-delete-marker") == "true"

    found, markers = versions(s3, name)
    assert [(v["VersionId"], v["IsLatest"]) for v in found] == [(v2, False), (v1, False)]
    assert [(m["Key"], m["VersionId"], m["IsLatest"]) for m in markers] == [("doc", marker, True)]
    assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0

    # Removing the delete marker brings the object back.
    undeleted = s3.delete_object(Bucket=name, Key="doc", VersionId=marker)
    assert undeleted["VersionId"] == marker
    assert undeleted["DeleteMarker"] is True
    assert s3.get_object(Bucket=name, Key="doc")["Body"].read() == b"second"


def test_deleting_a_version_by_id_is_permanent(s3: Any) -> None:
    name = new_bucket(s3)
    v1 = s3.put_object(Bucket=name, Key="doc", Body=b"first")["VersionId"]
    v2 = s3.put_object(Bucket=name, Key="doc", Body=b"second")["VersionId"]
    response = s3.delete_object(Bucket=name, Key="doc", VersionId=v2)
    assert response["VersionId"] == v2
    assert "DeleteMarker" not in response or response["DeleteMarker"] is False

    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=name, Key="doc", VersionId=v2)
    assert status_code(exc) == (404, "NoSuchVersion")
    # The previous version is current again, and no delete marker was created.
    got = s3.get_object(Bucket=name, Key="doc")
    assert got["Body"].read() == b"first"
    assert got["VersionId"] == v1
    found, markers = versions(s3, name)
    assert [(v["VersionId"], v["IsLatest"]) for v in found] == [(v1, True)]
    assert markers == []

    s3.delete_object(Bucket=name, Key="doc", VersionId=v1)
    assert versions(s3, name) == ([], [])
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=name, Key="doc")
    assert status_code(exc) == (404, "NoSuchKey")
    assert "x-amz-delete-marker" not in headers_of(exc)


def test_list_object_versions_paging(s3: Any) -> None:
    name = new_bucket(s3)
    expected: list[tuple[str, str]] = []  # (key, version id): key ascending, newest first
    for key, count in (("alpha", 3), ("beta", 1), ("gamma/x", 4)):
        ids = [
            s3.put_object(Bucket=name, Key=key, Body=f"{key}-{i}".encode())["VersionId"] for i in range(count)
        ]
        expected += [(key, vid) for vid in reversed(ids)]
    marker = s3.delete_object(Bucket=name, Key="beta")["VersionId"]

    found, markers = versions(s3, name)
    assert [(v["Key"], v["VersionId"]) for v in found] == expected
    latest = {(v["Key"], v["VersionId"]) for v in found if v["IsLatest"]}
    assert latest == {("alpha", expected[0][1]), ("gamma/x", expected[4][1])}
    assert [(m["Key"], m["VersionId"], m["IsLatest"]) for m in markers] == [("beta", marker, True)]

    # Page two entries at a time with key-marker / version-id-marker.
    seen: list[tuple[str, str]] = []
    params: dict[str, Any] = {}
    for _ in range(20):
        response = s3.list_object_versions(Bucket=name, MaxKeys=2, **params)
        page = response.get("Versions", []) + response.get("DeleteMarkers", [])
        assert 1 <= len(page) <= 2
        page.sort(key=lambda e: e["Key"].encode())  # versions and markers come in two lists
        seen += [(e["Key"], e["VersionId"]) for e in page]
        if not response["IsTruncated"]:
            break
        params = {"KeyMarker": response["NextKeyMarker"], "VersionIdMarker": response["NextVersionIdMarker"]}
    all_entries = sorted(expected + [("beta", marker)], key=lambda e: e[0])
    assert sorted(seen) == sorted(all_entries)
    assert len(seen) == len(set(seen)) == 9
    assert [key for key, _ in seen] == [key for key, _ in all_entries]

    prefixed, _ = versions(s3, name, Prefix="gamma/")
    assert [(v["Key"], v["VersionId"]) for v in prefixed] == expected[4:]
    rolled = s3.list_object_versions(Bucket=name, Delimiter="/")
    assert [p["Prefix"] for p in rolled.get("CommonPrefixes", [])] == ["gamma/"]

    # A key-marker alone starts after every version of that key.
    after_alpha, after_alpha_markers = versions(s3, name, KeyMarker="alpha")
    assert [v["Key"] for v in after_alpha] == ["beta"] + ["gamma/x"] * 4
    assert [m["Key"] for m in after_alpha_markers] == ["beta"]


def test_suspended_bucket_null_version(s3: Any) -> None:
    name = new_bucket(s3)
    kept = s3.put_object(Bucket=name, Key="doc", Body=b"from enabled")["VersionId"]
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Suspended"})

    put = s3.put_object(Bucket=name, Key="doc", Body=b"null one")
    assert put.get("VersionId", "null") == "null"
    s3.put_object(Bucket=name, Key="doc", Body=b"null two")  # overwrites the null version
    got = s3.get_object(Bucket=name, Key="doc")
    assert got["Body"].read() == b"null two"
    assert got.get("VersionId", "null") == "null"
    found, _ = versions(s3, name)
    assert [(v["VersionId"], v["IsLatest"]) for v in found] == [("null", True), (kept, False)]

    # A delete in a suspended bucket replaces the null version with a null delete marker.
    deleted = s3.delete_object(Bucket=name, Key="doc")
    assert deleted["DeleteMarker"] is True
    assert deleted["VersionId"] == "null"
    found, markers = versions(s3, name)
    assert [(v["VersionId"], v["IsLatest"]) for v in found] == [(kept, False)]
    assert [(m["VersionId"], m["IsLatest"]) for m in markers] == [("null", True)]
    assert s3.get_object(Bucket=name, Key="doc", VersionId=kept)["Body"].read() == b"from enabled"

    # Re-enabling keeps the null marker; new puts get real ids again.
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    newest = s3.put_object(Bucket=name, Key="doc", Body=b"enabled again")["VersionId"]
    assert newest not in ("null", kept)
    found, markers = versions(s3, name)
    assert [v["VersionId"] for v in found] == [newest, kept]
    assert [m["VersionId"] for m in markers] == ["null"]


def test_object_written_before_versioning_becomes_null_version(s3: Any) -> None:
    name = new_bucket(s3, status=None)
    s3.put_object(Bucket=name, Key="old", Body=b"pre-versioning")
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    new = s3.put_object(Bucket=name, Key="old", Body=b"versioned")["VersionId"]
    found, _ = versions(s3, name)
    assert [(v["VersionId"], v["IsLatest"]) for v in found] == [(new, True), ("null", False)]
    assert s3.get_object(Bucket=name, Key="old", VersionId="null")["Body"].read() == b"pre-versioning"


def test_invalid_version_id(s3: Any) -> None:
    name = new_bucket(s3)
    s3.put_object(Bucket=name, Key="doc", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=name, Key="doc", VersionId="this-is-not-a-version")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 404)
    assert exc.value.response["Error"]["Code"] in ("InvalidArgument", "NoSuchVersion")
