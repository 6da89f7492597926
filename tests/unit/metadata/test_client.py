"""The typed client against the real gRPC server in-process: values and typed errors survive the wire."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from cairn.metadata.client import (
    AccessKeyStatus,
    BlobRef,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    Checksum,
    ChecksumType,
    CompletedPart,
    EntityTooSmall,
    InternalError,
    InvalidArgument,
    InvalidBucketName,
    MetadataClient,
    MetadataUnavailable,
    MethodNotAllowed,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
    NoSuchVersion,
    ObjectAttrs,
    PreconditionFailed,
    VersioningState,
)
from cairn.metadata.config import MetadataConfig
from cairn.metadata.core import current_request_id
from cairn.metadata.errors import NotLeader
from cairn.metadata.models import Bucket
from cairn.metadata.rpc_server import start_server
from cairn.metadata.service import MetadataService
from tests.support.procs import free_port
from tests.unit.metadata.helpers import blob


@pytest.fixture
async def client(svc: MetadataService) -> AsyncIterator[MetadataClient]:
    server, port = await start_server(svc, "127.0.0.1", 0)
    async with MetadataClient(f"127.0.0.1:{port}", deadline_s=5) as c:
        yield c
    await server.stop(0)


async def test_objects_round_trip_every_field(client: MetadataClient) -> None:
    await client.create_bucket("bkt", "alice")
    attrs = ObjectAttrs(
        size=10,
        etag="0123456789abcdef0123456789abcdef",
        content_type="text/plain",
        cache_control="max-age=1",
        user_metadata=(("ünï", "välue"), ("b", "")),
        checksums=(Checksum("SHA256", bytes(range(32)), ChecksumType.FULL_OBJECT),),
        blobs=(BlobRef(uuid.uuid4().bytes, 7, 10, 1 << 20, 8, 4, 0),),
    )
    put = await client.put_object("bkt", "dir/ключ", attrs)
    got = await client.get_object("bkt", "dir/ключ")
    assert got == put and got.user_metadata == attrs.user_metadata and got.blobs == attrs.blobs
    assert got.checksums == attrs.checksums and got.owner_id == "alice"
    page = await client.list_objects_v2("bkt", delimiter="/")
    assert page.common_prefixes == ("dir/",) and page.next_continuation_token is None
    assert (await client.head_object("bkt", "dir/ключ", "null")).version_id == "null"


async def test_errors_arrive_typed_with_delete_marker_details(client: MetadataClient) -> None:
    with pytest.raises(InvalidBucketName):
        await client.create_bucket("Bad", "alice")
    await client.create_bucket("bkt", "alice")
    with pytest.raises(BucketAlreadyOwnedByYou):
        await client.create_bucket("bkt", "alice")
    with pytest.raises(NoSuchBucket):
        await client.get_object("nope", "k")
    await client.set_bucket_versioning("bkt", VersioningState.ENABLED)
    v = await client.put_object("bkt", "k", ObjectAttrs(size=1, etag="a" * 32))
    with pytest.raises(PreconditionFailed):
        await client.put_object("bkt", "k", ObjectAttrs(size=1, etag="b" * 32), if_none_match=True)
    marker = await client.delete_object("bkt", "k")
    assert marker.is_delete_marker and marker.version_id
    with pytest.raises(NoSuchKey) as err:
        await client.get_object("bkt", "k")
    assert err.value.is_delete_marker and err.value.version_id == marker.version_id
    assert err.value.last_modified_ms > 0
    with pytest.raises(MethodNotAllowed) as err2:
        await client.head_object("bkt", "k", marker.version_id)
    assert err2.value.version_id == marker.version_id and err2.value.is_delete_marker
    with pytest.raises(NoSuchVersion):
        await client.get_object("bkt", "k", "0" * 20)
    with pytest.raises(InvalidArgument):
        await client.get_object("bkt", "k", "bogus")
    with pytest.raises(InvalidArgument):
        await client.set_bucket_versioning("bkt", VersioningState.UNVERSIONED)
    with pytest.raises(BucketNotEmpty):
        await client.delete_bucket("bkt")
    assert (await client.get_object("bkt", "k", v.version_id)).etag == "a" * 32


async def test_multipart_and_gc_over_the_wire(client: MetadataClient) -> None:
    await client.create_bucket("bkt", "alice")
    upload = await client.create_multipart_upload(
        "bkt", "big", ObjectAttrs(content_type="x/y"), checksum_algorithm="CRC32"
    )
    assert (await client.get_multipart_upload("bkt", "big", upload.upload_id)).attrs.content_type == "x/y"
    blobs = [blob(1, pg=1), blob(1, pg=2)]
    for n, b in enumerate(blobs, start=1):
        await client.register_part(
            "bkt",
            "big",
            upload.upload_id,
            n,
            size=1,
            etag="c" * 32,
            blobs=[b],
            checksums=[Checksum("CRC32", b"\0\0\0\1")],
        )
    assert [p.part_number for p in (await client.list_parts("bkt", "big", upload.upload_id)).parts] == [1, 2]
    assert [u.upload_id for u in (await client.list_multipart_uploads("bkt")).uploads] == [upload.upload_id]
    with pytest.raises(EntityTooSmall):
        await client.complete_multipart_upload(
            "bkt", "big", upload.upload_id, [CompletedPart(1, "c" * 32), CompletedPart(2, "c" * 32)]
        )
    await client.abort_multipart_upload("bkt", "big", upload.upload_id)
    with pytest.raises(NoSuchUpload):
        await client.abort_multipart_upload("bkt", "big", upload.upload_id)
    work = await client.list_gc_work()
    assert {w.blob_id for w in work} == {b.blob_id for b in blobs}
    assert await client.ack_gc_work([w.blob_id for w in work]) == 2
    intent = await client.record_write_intent("bkt", "k", uuid.uuid4().bytes, 3)
    assert intent.pg == 3 and intent.expires_ms > 0


async def test_iam_over_the_wire(client: MetadataClient) -> None:
    await client.create_user("bob")
    key = await client.create_access_key("bob", access_key_id="AKIABOB", secret_access_key="sekrit")
    assert (await client.get_access_key("AKIABOB")).secret_access_key == "sekrit"
    assert (
        await client.set_access_key_status(key.access_key_id, AccessKeyStatus.INACTIVE)
    ).status is AccessKeyStatus.INACTIVE
    await client.put_user_policy("bob", "p", "{}")
    assert [p.document for p in await client.list_user_policies("bob")] == ["{}"]
    assert [u.name for u in await client.list_users()] == ["bob"]


async def test_an_unreachable_service_is_unavailable() -> None:
    async with MetadataClient(f"127.0.0.1:{free_port()}", deadline_s=0.5) as c:
        with pytest.raises(MetadataUnavailable):
            await c.get_bucket("x")


async def test_an_unexpected_server_failure_is_an_internal_error(
    client: MetadataClient, svc: MetadataService, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(svc, "list_users", broken)
    with pytest.raises(InternalError):
        await client.list_users()


async def test_a_one_address_client_follows_the_leader_hint_with_the_same_request_id(
    svc: MetadataService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client given only a follower's address is sent to the leader that follower names,
    and the retry carries the request id of the first attempt (core.request_id)."""
    leader_server, leader_port = await start_server(svc, "127.0.0.1", 0)
    follower = await MetadataService.open(MetadataConfig(), in_memory=True)
    follower_server, follower_port = await start_server(follower, "127.0.0.1", 0)
    seen: list[str] = []

    async def not_leader(*args: object, **kwargs: object) -> None:
        seen.append(current_request_id())
        raise NotLeader("not the metadata leader", leader_addr=f"127.0.0.1:{leader_port}")

    real_create = svc.create_bucket

    async def on_leader(name: str, owner_id: str, *, region: str = "") -> Bucket:
        seen.append(current_request_id())
        return await real_create(name, owner_id, region=region)

    monkeypatch.setattr(follower, "create_bucket", not_leader)
    monkeypatch.setattr(svc, "create_bucket", on_leader)
    try:
        async with MetadataClient(f"127.0.0.1:{follower_port}", deadline_s=5) as c:
            assert (await c.create_bucket("hinted", "alice")).name == "hinted"
            assert (await c.get_bucket("hinted")).name == "hinted"  # now sent to the leader
        assert len(seen) == 2 and seen[0] == seen[1] and len(seen[0]) == 32
    finally:
        await follower_server.stop(0)
        await leader_server.stop(0)
        await follower.close()
