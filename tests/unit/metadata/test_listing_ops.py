"""ListObjectsV2 / V1 / ListObjectVersions, after the AWS API reference examples."""

from __future__ import annotations

import sqlite3

import pytest

from cairn.metadata.errors import InvalidArgument, NoSuchBucket
from cairn.metadata.models import ObjectAttrs, VersioningState
from cairn.metadata.service import MetadataService
from cairn.metadata.shard_scan import Query, scan

from .helpers import attrs


async def put_all(svc: MetadataService, bucket: str, keys: list[str]) -> None:
    for key in keys:
        await svc.put_object(bucket, key, ObjectAttrs(size=1, etag="e"))


async def all_v2(svc: MetadataService, bucket: str, **kw: object) -> tuple[list[str], list[str], int]:
    keys: list[str] = []
    prefixes: list[str] = []
    token = None
    pages = 0
    while True:
        page = await svc.list_objects_v2(bucket, continuation_token=token, **kw)  # type: ignore[arg-type]
        pages += 1
        keys += [c.key for c in page.contents]
        prefixes += list(page.common_prefixes)
        assert page.key_count == len(page.contents) + len(page.common_prefixes)
        if not page.is_truncated:
            return keys, prefixes, pages
        token = page.next_continuation_token


async def test_delimiter_rolls_up_common_prefixes(svc: MetadataService, bucket: str) -> None:
    # The ListObjectsV2 example: sample.jpg and photos/2006/...
    await put_all(
        svc, bucket, ["sample.jpg", "photos/2006/January/sample.jpg", "photos/2006/February/sample2.jpg"]
    )
    page = await svc.list_objects_v2(bucket, delimiter="/")
    assert [c.key for c in page.contents] == ["sample.jpg"]
    assert page.common_prefixes == ("photos/",)
    page = await svc.list_objects_v2(bucket, prefix="photos/2006/", delimiter="/")
    assert page.contents == ()
    assert page.common_prefixes == ("photos/2006/February/", "photos/2006/January/")


async def test_keys_sort_in_utf8_byte_order(svc: MetadataService, bucket: str) -> None:
    keys = ["foo/", "foo+1/", "foo/a", "Zebra", "apple", "é", "z", "foo0"]
    await put_all(svc, bucket, keys)
    page = await svc.list_objects_v2(bucket)
    assert [c.key for c in page.contents] == sorted(keys, key=lambda k: k.encode())
    page = await svc.list_objects_v2(bucket, delimiter="/")
    assert page.common_prefixes == ("foo+1/", "foo/")


async def test_pagination_with_and_without_delimiter_visits_everything_once(
    svc: MetadataService, bucket: str
) -> None:
    keys = [f"dir{d}/file{f:02d}" for d in range(5) for f in range(7)] + [f"top{i}" for i in range(9)]
    await put_all(svc, bucket, keys)
    for max_keys in (1, 2, 3, 7, 1000):
        got, prefixes, _ = await all_v2(svc, bucket, max_keys=max_keys)
        assert got == sorted(keys) and prefixes == []
        got, prefixes, pages = await all_v2(svc, bucket, max_keys=max_keys, delimiter="/")
        assert got == [f"top{i}" for i in range(9)]
        assert prefixes == [f"dir{d}/" for d in range(5)]
        assert pages == max(1, -(-14 // max_keys))


async def test_max_keys_zero_and_limits(svc: MetadataService, bucket: str) -> None:
    await put_all(svc, bucket, ["a"])
    page = await svc.list_objects_v2(bucket, max_keys=0)
    assert page.contents == () and not page.is_truncated
    with pytest.raises(InvalidArgument):
        await svc.list_objects_v2(bucket, max_keys=-1)
    with pytest.raises(InvalidArgument):
        await svc.list_objects_v2(bucket, continuation_token="!!not-base64!!")
    with pytest.raises(NoSuchBucket):
        await svc.list_objects_v2("missing")


async def test_max_keys_is_capped_at_1000(svc: MetadataService, bucket: str) -> None:
    await put_all(svc, bucket, [f"k{i:04d}" for i in range(1001)])
    page = await svc.list_objects_v2(bucket, max_keys=5000)
    assert len(page.contents) == 1000 and page.is_truncated


async def test_start_after_and_fetch_owner(svc: MetadataService, bucket: str) -> None:
    await put_all(svc, bucket, ["a", "b", "c"])
    page = await svc.list_objects_v2(bucket, start_after="a")
    assert [c.key for c in page.contents] == ["b", "c"] and page.contents[0].owner_id == ""
    page = await svc.list_objects_v2(bucket, start_after="a", fetch_owner=True)
    assert page.contents[0].owner_id == "owner-1"


async def test_delete_markers_and_deleted_keys_are_not_listed(svc: MetadataService, bucket: str) -> None:
    await put_all(svc, bucket, ["a", "b", "c"])
    await svc.delete_object(bucket, "b")
    await svc.set_bucket_versioning(bucket, VersioningState.ENABLED)
    await svc.delete_object(bucket, "c")
    page = await svc.list_objects_v2(bucket)
    assert [c.key for c in page.contents] == ["a"]


async def test_v1_next_marker_only_with_a_delimiter(svc: MetadataService, bucket: str) -> None:
    await put_all(svc, bucket, ["a/1", "a/2", "b", "c/1", "d"])
    page = await svc.list_objects_v1(bucket, max_keys=2)
    assert [c.key for c in page.contents] == ["a/1", "a/2"] and page.is_truncated and page.next_marker is None
    page = await svc.list_objects_v1(bucket, max_keys=2, delimiter="/")
    assert page.common_prefixes == ("a/",) and [c.key for c in page.contents] == ["b"]
    assert page.next_marker == "b"
    page = await svc.list_objects_v1(bucket, max_keys=2, delimiter="/", marker="b")
    assert (
        page.common_prefixes == ("c/",) and [c.key for c in page.contents] == ["d"] and not page.is_truncated
    )
    # a marker equal to a common prefix skips the whole prefix
    page = await svc.list_objects_v1(bucket, delimiter="/", marker="a/")
    assert page.common_prefixes == ("c/",) and [c.key for c in page.contents] == ["b", "d"]


async def test_list_object_versions_with_markers(svc: MetadataService, bucket: str) -> None:
    await svc.set_bucket_versioning(bucket, VersioningState.ENABLED)
    made = {}
    for key in ("a", "b", "c"):
        made[key] = [
            (await svc.put_object(bucket, key, attrs(key.encode() + bytes([i])))).version_id for i in range(3)
        ]
    marker = await svc.delete_object(bucket, "b")
    expected = [
        (k, v)
        for k in ("a", "b", "c")
        for v in ([marker.version_id] if k == "b" else []) + list(reversed(made[k]))
    ]
    got = []
    key_marker = version_marker = ""
    while True:
        page = await svc.list_object_versions(
            bucket, max_keys=2, key_marker=key_marker, version_id_marker=version_marker
        )
        got += [(v.key, v.version_id) for v in page.versions]
        if not page.is_truncated:
            break
        key_marker, version_marker = page.next_key_marker or "", page.next_version_id_marker or ""
    assert got == expected
    full = await svc.list_object_versions(bucket)
    latest = {(v.key, v.version_id) for v in full.versions if v.is_latest}
    assert latest == {("a", made["a"][-1]), ("b", marker.version_id), ("c", made["c"][-1])}
    assert [v.is_delete_marker for v in full.versions if v.key == "b"] == [True, False, False, False]
    with pytest.raises(InvalidArgument):
        await svc.list_object_versions(bucket, version_id_marker=made["a"][0])


async def test_list_versions_with_delimiter(svc: MetadataService, bucket: str) -> None:
    await put_all(svc, bucket, ["x/1", "x/2", "y"])
    page = await svc.list_object_versions(bucket, delimiter="/")
    assert page.common_prefixes == ("x/",) and [v.key for v in page.versions] == ["y"]


def test_a_rolled_up_prefix_is_skipped_without_reading_its_keys() -> None:
    """One shard, 2000 keys under a/: listing with a delimiter runs a constant number of statements."""
    from cairn.metadata.schema import OBJECT_MIGRATIONS, migrate

    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate(conn, OBJECT_MIGRATIONS)
    rows = [(f"a/{i:05d}".encode(),) for i in range(2000)] + [(b"b",), (b"c/1",), (b"d",)]
    conn.executemany("INSERT INTO live VALUES ('bid', ?, x'00', 1, 0, 1, 'e', 'o', 'STANDARD', '', '')", rows)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    q = Query("live", "bucket", "bid", b"", b"/", b"")
    entries, exhausted, _ = scan(conn, q, (b"", None), 10)
    assert [(e.key, e.is_prefix) for e in entries] == [
        (b"a/", True),
        (b"b", False),
        (b"c/", True),
        (b"d", False),
    ]
    assert exhausted
    assert len(statements) <= 4
