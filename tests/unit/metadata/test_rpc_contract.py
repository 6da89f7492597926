"""Client and servicer cannot drift apart: every RPC of `Metadata`, called through the typed
client against the real servicer on an in-process gRPC server, returns what the service did.

The server records which RPCs it was asked for (tests/support/rpc_contract.py); the set must
equal the RPCs the service descriptor declares, so an RPC added to metadata.proto without a
servicer method, a client method and a call here fails this test.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import pytest

from cairn import signing
from cairn.blobs import BlobRef
from cairn.ids import new_blob_id
from cairn.metadata.client import MetadataClient
from cairn.metadata.errors import (
    InvalidArgument,
    KmsAliasExists,
    KmsInvalidCiphertext,
    KmsKeyDisabled,
    MethodNotAllowed,
    NoSuchAccessKey,
    NoSuchBucket,
    NoSuchBucketConfig,
    NoSuchBucketPolicy,
    NoSuchKey,
    NoSuchKmsKey,
    NoSuchUpload,
    NoSuchUser,
)
from cairn.metadata.models import (
    MIN_PART_SIZE,
    AccessKeyStatus,
    BucketConfig,
    BucketContext,
    Checksum,
    ChecksumType,
    CompletedPart,
    DeleteResult,
    GcItem,
    GcReason,
    ObjectAttrs,
    Policy,
    RepairItem,
    RepairReport,
    VersioningState,
    WriteIntent,
)
from cairn.metadata.rpc_server import start_server
from cairn.metadata.service import MetadataService
from cairn.metadata.store import Store
from cairn.proto import metadata_pb2
from cairn.sse_crypto import Keyring
from tests.support.rpc_contract import Recorder, recording_server, rpc_names

from .conftest import START_MS, FakeClock


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def client(clock: FakeClock, recorder: Recorder) -> AsyncIterator[MetadataClient]:
    service = MetadataService(Store.open(None, 2), clock_ms=clock)
    service.keyring = Keyring.generate()
    server, port = await start_server(service, "127.0.0.1", 0, recording_server(recorder))
    try:
        async with MetadataClient(f"127.0.0.1:{port}", deadline_s=5) as c:
            yield c
    finally:
        await server.stop(None)
        await service.close()


def blob(size: int, pg: int, part_number: int = 0) -> BlobRef:
    return BlobRef(new_blob_id(), pg, size, 1 << 20, 8, 4, part_number)


async def buckets(c: MetadataClient) -> None:
    made = await c.create_bucket("bkt", "alice", region="eu-west-1")
    assert (made.name, made.owner_id, made.region, made.created_ms) == ("bkt", "alice", "eu-west-1", START_MS)
    assert made.versioning is VersioningState.UNVERSIONED
    assert await c.get_bucket("bkt") == made
    assert await c.list_buckets("alice") == (made,)
    assert await c.list_buckets("bob") == ()
    enabled = await c.set_bucket_versioning("bkt", VersioningState.ENABLED)
    assert enabled.versioning is VersioningState.ENABLED and enabled.id == made.id
    await c.put_bucket_policy("bkt", '{"Version": "2012-10-17"}')
    assert await c.get_bucket_policy("bkt") == Policy("", '{"Version": "2012-10-17"}', START_MS)
    await c.delete_bucket_policy("bkt")
    with pytest.raises(NoSuchBucketPolicy):
        await c.get_bucket_policy("bkt")
    await c.put_bucket_config("bkt", "cors", "<CORSConfiguration/>")
    cors = BucketConfig("bkt", "cors", "<CORSConfiguration/>", START_MS)
    assert await c.get_bucket_config("bkt", "cors") == cors
    assert await c.list_bucket_configs("cors") == (cors,)
    await c.put_bucket_policy("bkt", '{"Statement": []}')
    context = await c.get_bucket_context("bkt")
    assert context == BucketContext(enabled, '{"Statement": []}', (("cors", "<CORSConfiguration/>"),))
    assert context.config("cors") == "<CORSConfiguration/>" and context.config("lifecycle") is None
    await c.delete_bucket_policy("bkt")
    await c.delete_bucket_config("bkt", "cors")
    assert await c.get_bucket_context("bkt") == BucketContext(enabled)
    with pytest.raises(NoSuchBucketConfig):
        await c.get_bucket_config("bkt", "cors")
    await c.create_bucket("gone", "alice")
    await c.delete_bucket("gone")
    with pytest.raises(NoSuchBucket):
        await c.get_bucket("gone")


async def objects_and_gc(c: MetadataClient) -> None:
    data = blob(11, pg=7)
    intent = await c.record_write_intent("bkt", "dir/ключ", data.blob_id, data.pg, ttl_s=60)
    assert intent == WriteIntent(data.blob_id, 7, START_MS + 60_000)
    attrs = ObjectAttrs(
        size=11,
        etag=hashlib.md5(b"hello world").hexdigest(),
        content_type="text/plain",
        content_encoding="gzip",
        content_disposition="inline",
        content_language="en",
        cache_control="max-age=1",
        expires="Thu, 01 Dec 1994 16:00:00 GMT",
        website_redirect_location="/other",
        storage_class="STANDARD",
        user_metadata=(("ünï", "välue"), ("b", "")),
        tags=(("t", "1"),),
        checksums=(Checksum("SHA256", bytes(range(32)), ChecksumType.FULL_OBJECT),),
        blobs=(data,),
        acl='[["Group","AllUsers","READ"]]',
    )
    put = await c.put_object("bkt", "dir/ключ", attrs, if_none_match=True)
    assert (put.bucket, put.key, put.is_latest, put.is_delete_marker) == ("bkt", "dir/ключ", True, False)
    assert put.user_metadata == attrs.user_metadata and put.tags == attrs.tags
    assert put.checksums == attrs.checksums and put.blobs == (data,) and put.owner_id == "alice"
    assert (put.content_encoding, put.expires, put.website_redirect_location) == (
        "gzip",
        attrs.expires,
        "/other",
    )
    assert await c.get_object("bkt", "dir/ключ") == put
    assert await c.head_object("bkt", "dir/ключ", put.version_id) == put
    assert await c.set_object_tags("bkt", "dir/ключ", [("ü", "1"), ("b", "")]) == put.version_id
    assert (await c.get_object("bkt", "dir/ключ")).tags == (("ü", "1"), ("b", ""))
    assert await c.set_object_tags("bkt", "dir/ключ", attrs.tags, put.version_id) == put.version_id
    assert await c.get_object("bkt", "dir/ключ") == put
    assert put.acl == attrs.acl
    assert await c.set_object_acl("bkt", "dir/ключ", "", put.version_id) == put.version_id
    assert (await c.get_object("bkt", "dir/ключ")).acl == ""
    assert await c.set_object_acl("bkt", "dir/ключ", attrs.acl) == put.version_id
    assert await c.get_object("bkt", "dir/ключ") == put

    v2 = await c.list_objects_v2("bkt", prefix="dir/", max_keys=10, fetch_owner=True)
    assert [(s.key, s.etag, s.size, s.owner_id) for s in v2.contents] == [
        ("dir/ключ", attrs.etag, 11, "alice")
    ]
    assert v2.contents[0].checksum_algorithms == ("SHA256",) and v2.next_continuation_token is None
    assert (await c.list_objects_v2("bkt", delimiter="/")).common_prefixes == ("dir/",)
    v1 = await c.list_objects_v1("bkt", delimiter="/", max_keys=0)
    assert (v1.contents, v1.common_prefixes, v1.next_marker) == ((), (), None)
    assert [s.key for s in (await c.list_objects_v1("bkt", marker="dir/")).contents] == ["dir/ключ"]

    marker = await c.delete_object("bkt", "dir/ключ")
    assert marker.is_delete_marker and marker.version_id not in (None, put.version_id)
    with pytest.raises(NoSuchKey) as err:
        await c.get_object("bkt", "dir/ключ")
    assert err.value.is_delete_marker and err.value.version_id == marker.version_id
    with pytest.raises(NoSuchKey):
        await c.set_object_tags("bkt", "dir/ключ", ())
    with pytest.raises(NoSuchKey):
        await c.set_object_acl("bkt", "dir/ключ", "")
    with pytest.raises(MethodNotAllowed) as not_allowed:
        await c.set_object_tags("bkt", "dir/ключ", (), marker.version_id)
    assert not_allowed.value.is_delete_marker
    versions = await c.list_object_versions("bkt", max_keys=1)
    assert [(v.version_id, v.is_delete_marker) for v in versions.versions] == [(marker.version_id, True)]
    assert (versions.is_truncated, versions.next_key_marker) == (True, "dir/ключ")
    assert versions.next_version_id_marker == marker.version_id

    assert await c.delete_object("bkt", "dir/ключ", put.version_id) == DeleteResult(put.version_id, False)
    assert await c.list_gc_work(10) == (GcItem(data.blob_id, 7, 11, GcReason.DELETED, START_MS),)
    stranger = new_blob_id()
    assert await c.find_blobs([stranger, data.blob_id]) == (data.blob_id,)  # still queued
    assert await c.ack_gc_work([data.blob_id]) == 1
    assert await c.list_gc_work() == ()
    assert await c.find_blobs([data.blob_id]) == ()  # reclaimed: known no more


async def repair_queue(c: MetadataClient) -> None:
    a, b = new_blob_id(), new_blob_id()
    reports = [
        RepairReport(a, 3, 7, "missing", "put", "10.0.0.1:7200"),
        RepairReport(b, 0, 2, "corrupt", "read", ""),
    ]
    assert await c.queue_repairs(reports) == 2
    first = await c.list_repair_queue()
    assert first == (RepairItem(1, reports[0], START_MS), RepairItem(2, reports[1], START_MS))
    with pytest.raises(InvalidArgument):
        await c.queue_repairs([RepairReport(a, 3, 7, "lost", "put", "")])
    again = RepairReport(a, 3, 7, "corrupt", "scrub", "dn-0001")  # the same shard: a new id
    assert await c.queue_repairs([again]) == 1
    assert await c.list_repair_queue(10) == (first[1], RepairItem(3, again, START_MS))
    assert await c.ack_repairs([1, 2]) == 1  # 1 was replaced by 3: only 2 was still queued
    assert await c.list_repair_queue() == (RepairItem(3, again, START_MS),)
    assert await c.ack_repairs([3]) == 1
    assert await c.list_repair_queue() == ()


async def multipart(c: MetadataClient) -> None:
    upload = await c.create_multipart_upload(
        "bkt", "big", ObjectAttrs(content_type="x/y"), checksum_algorithm="CRC32"
    )
    assert upload.checksum_type is ChecksumType.COMPOSITE and upload.attrs.owner_id == "alice"
    assert await c.get_multipart_upload("bkt", "big", upload.upload_id) == upload
    sizes = (MIN_PART_SIZE, 3)
    for number, size in enumerate(sizes, start=1):
        ref = blob(size, pg=number, part_number=number)
        await c.record_write_intent("bkt", "big", ref.blob_id, ref.pg)
        part = await c.register_part(
            "bkt",
            "big",
            upload.upload_id,
            number,
            size=size,
            etag=f"{number:032x}",
            blobs=[ref],
            checksums=[Checksum("CRC32", number.to_bytes(4, "big"), ChecksumType.COMPOSITE)],
        )
        assert (part.part_number, part.size, part.blobs, part.last_modified_ms) == (
            number,
            size,
            (ref,),
            START_MS,
        )
    page = await c.list_parts("bkt", "big", upload.upload_id, max_parts=1)
    assert [p.part_number for p in page.parts] == [1]
    assert (page.is_truncated, page.next_part_number_marker, page.upload) == (True, 1, upload)
    assert (await c.list_multipart_uploads("bkt", prefix="b")).uploads == (upload,)
    listed = [
        CompletedPart(n, f"{n:032x}", (Checksum("CRC32", n.to_bytes(4, "big"), ChecksumType.COMPOSITE),))
        for n in (1, 2)
    ]
    done = await c.complete_multipart_upload("bkt", "big", upload.upload_id, listed)
    assert (done.parts_count, done.part_sizes, done.content_type) == (2, sizes, "x/y")
    assert done.etag.endswith("-2") and [b.part_number for b in done.blobs] == [1, 2]

    other = await c.create_multipart_upload("bkt", "tmp", ObjectAttrs())
    await c.abort_multipart_upload("bkt", "tmp", other.upload_id)
    with pytest.raises(NoSuchUpload):
        await c.get_multipart_upload("bkt", "tmp", other.upload_id)


async def iam(c: MetadataClient) -> None:
    user = await c.create_user("bob")
    assert (user.name, user.arn, user.is_root) == ("bob", "arn:aws:iam::000000000000:user/bob", False)
    assert await c.get_user("bob") == user
    assert await c.list_users() == (user,)
    key = await c.create_access_key("bob", access_key_id="AKIABOB", secret_access_key="sekrit")
    assert (key.user_name, key.user_id, key.status) == ("bob", user.user_id, AccessKeyStatus.ACTIVE)
    assert await c.get_access_key("AKIABOB") == key
    assert await c.list_access_keys("bob") == (key,)
    # The S3 API's view of the key: SigV4's derived key and a V2 check, never the secret.
    assert await c.signing_key("AKIABOB", "20260102", "eu-west-3", "s3") == signing.signing_key(
        "sekrit", "20260102", "eu-west-3", "s3"
    )
    with pytest.raises(InvalidArgument):
        await c.signing_key("AKIABOB", "2026-01-02", "eu-west-3", "s3")
    to_sign = "GET\n\n\n1700000000\n/bkt/k\udcff".encode("utf-8", "surrogateescape")
    assert await c.sigv2_matches("AKIABOB", to_sign, signing.sigv2_signature("sekrit", to_sign).decode())
    assert not await c.sigv2_matches("AKIABOB", to_sign, signing.sigv2_signature("other", to_sign).decode())
    with pytest.raises(NoSuchAccessKey):
        await c.signing_key("AKIANOBODY", "20260102", "eu-west-3", "s3")
    off = await c.set_access_key_status("AKIABOB", AccessKeyStatus.INACTIVE)
    assert off.status is AccessKeyStatus.INACTIVE and off.secret_access_key == "sekrit"
    await c.delete_access_key("AKIABOB")
    await c.put_user_policy("bob", "read", '{"Statement": []}')
    policy = Policy("read", '{"Statement": []}', START_MS)
    assert await c.get_user_policy("bob", "read") == policy
    assert await c.list_user_policies("bob") == (policy,)
    await c.delete_user_policy("bob", "read")
    status = await c.replica_status()  # the in-process service is a one-replica group, always leader
    assert (status.role, status.leader_id) == ("leader", status.id) and status.applied_index >= 1
    await c.delete_user("bob")
    with pytest.raises(NoSuchUser):
        await c.get_user("bob")


async def kms(c: MetadataClient) -> None:
    key = await c.create_kms_key("team", "a test key")
    assert key.arn == f"arn:aws:kms:us-east-1:000000000000:key/{key.key_id}" and key.enabled
    assert (key.alias, key.description, key.created_ms) == ("team", "a test key", START_MS)
    assert key.master_key_id.startswith("mk-") and key.sealed_material == b""  # never on the wire
    for ref in (key.key_id, key.arn, "alias/team", "arn:aws:kms:us-east-1:000000000000:alias/team"):
        assert await c.get_kms_key(ref) == key
    with pytest.raises(KmsAliasExists):
        await c.create_kms_key("alias/team")
    with pytest.raises(InvalidArgument):
        await c.create_kms_key("aws/mine")
    with pytest.raises(NoSuchKmsKey):
        await c.get_kms_key("alias/nobody")
    used, data_key, sealed = await c.generate_data_key(key.arn, b"ctx")
    assert used == key and len(data_key) == 32 and data_key not in sealed
    assert await c.decrypt(sealed, b"ctx") == (key, data_key)
    with pytest.raises(KmsInvalidCiphertext):
        await c.decrypt(sealed, b"other context")
    default, _, _ = await c.generate_data_key("", b"ctx")  # the default key, made on first use
    assert default.alias == "aws/s3" and await c.get_kms_key("") == default
    assert set(await c.list_kms_keys()) == {key, default}
    off = await c.set_kms_key_enabled("alias/team", False)
    assert not off.enabled
    with pytest.raises(KmsKeyDisabled):
        await c.decrypt(sealed, b"ctx")
    with pytest.raises(KmsKeyDisabled):
        await c.generate_data_key(key.key_id, b"ctx")
    assert (await c.set_kms_key_enabled(key.key_id, True)).enabled
    assert await c.decrypt(sealed, b"ctx") == (key, data_key)
    page = await c.reseal_master_keys(-1, "", 10)  # everything is under the only master key
    assert (page.active, page.resealed, page.in_use, page.done, page.shards) == (
        key.master_key_id,
        0,
        (key.master_key_id,),
        True,
        2,
    )
    with pytest.raises(InvalidArgument):
        await c.reseal_master_keys(2)


async def batched(c: MetadataClient) -> None:
    """Concurrent hot-path calls share `Batch` RPCs (rpc_batch.py), each with its own answer."""
    await c.create_bucket("batched", "alice")
    put = await c.put_object("batched", "k", ObjectAttrs(size=0, etag=hashlib.md5(b"").hexdigest()))
    heads = await asyncio.gather(*(c.head_object("batched", "k") for _ in range(12)))
    assert heads == [put] * 12


async def test_every_rpc_is_served_and_round_trips(client: MetadataClient, recorder: Recorder) -> None:
    await buckets(client)
    await objects_and_gc(client)
    await multipart(client)
    await iam(client)
    await repair_queue(client)
    await kms(client)
    await batched(client)
    assert recorder.served == rpc_names(metadata_pb2.DESCRIPTOR.services_by_name["Metadata"])
