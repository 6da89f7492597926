"""Exactly-once commands: a retried request id gets the first result and applies nothing."""

from __future__ import annotations

import pytest

from cairn.metadata import commands, dedup
from cairn.metadata.config import MetadataConfig
from cairn.metadata.core import request_id
from cairn.metadata.dedup import RequestTag
from cairn.metadata.errors import BucketNotEmpty, NoSuchBucket, NoSuchKey, UserAlreadyExists
from cairn.metadata.models import AccessKey, DeleteResult, VersioningState
from cairn.metadata.replicated import CATALOG, DELETE_BUCKET, MetadataMachine, decode_entry, encode_entry
from cairn.metadata.service import MetadataService
from cairn.metadata.store import Store, shard_index
from cairn.metadata.versionids import IdIssuer

ISSUER = IdIssuer(lambda: 42)


def _machine() -> MetadataMachine:
    machine = MetadataMachine(Store.open(None, 2))
    machine.apply(1, encode_entry(CATALOG, commands.CreateBucket("b", "id", "o", "r", 1)))
    machine.apply(2, encode_entry(CATALOG, commands.SetVersioning("b", VersioningState.ENABLED)))
    return machine


def _versions(machine: MetadataMachine, key: str) -> int:
    shard = machine.store.objects[shard_index("id", key, 2)]
    return int(shard.call(lambda conn: conn.execute("SELECT count(*) FROM versions").fetchone()[0]))


def test_entry_header_carries_the_request_id_and_time() -> None:
    cmd = commands.AckGc((b"\x01" * 16,), 5)
    assert decode_entry(encode_entry(3, cmd, RequestTag("r1", 77))) == ("3", cmd, RequestTag("r1", 77))
    assert decode_entry(encode_entry(3, cmd)) == ("3", cmd, None)


def _first_delete(machine: MetadataMachine) -> tuple[int, RequestTag, DeleteResult]:
    """Entry 3: a DeleteObject of "k" with request id req-1; its shard, tag and result."""
    target = shard_index("id", "k", 2)
    tag = RequestTag("req-1", 1000)
    first = commands.DeleteVersion("id", "b", "k", None, VersioningState.ENABLED, ISSUER.issue(), 10)
    return target, tag, machine.take(machine.apply(3, encode_entry(target, first, tag)))


def test_a_retried_delete_in_a_versioned_bucket_makes_one_marker() -> None:
    machine = _machine()
    target, tag, result = _first_delete(machine)
    assert isinstance(result, DeleteResult) and result.is_delete_marker
    # The retry was rebuilt by another leader: a new marker id and time, the same request id.
    again = commands.DeleteVersion("id", "b", "k", None, VersioningState.ENABLED, ISSUER.issue(), 20)
    assert machine.take(machine.apply(4, encode_entry(target, again, tag))) == result
    assert _versions(machine, "k") == 1
    other = RequestTag("req-2", 1001)  # a new request is applied
    assert machine.take(machine.apply(5, encode_entry(target, again, other))) != result
    assert _versions(machine, "k") == 2


def test_a_retry_gets_the_first_error_back() -> None:
    machine = _machine()
    machine.apply(3, encode_entry(CATALOG, commands.CreateUser("AIDA1", "alice", "arn", False, 1)))
    tag = RequestTag("req-1", 1000)
    create = commands.CreateUser("AIDA2", "alice", "arn", False, 2)
    with pytest.raises(UserAlreadyExists) as first:
        machine.take(machine.apply(4, encode_entry(CATALOG, create, tag)))
    machine.apply(5, encode_entry(CATALOG, commands.DeleteUser("alice")))
    with pytest.raises(UserAlreadyExists) as again:  # the first result, though it would succeed now
        machine.take(machine.apply(6, encode_entry(CATALOG, create, tag)))
    assert again.value.message == first.value.message
    users = machine.store.catalog.call(lambda conn: conn.execute("SELECT count(*) FROM users").fetchone()[0])
    assert users == 0


def test_a_retried_create_access_key_returns_the_first_key() -> None:
    machine = _machine()
    machine.apply(3, encode_entry(CATALOG, commands.CreateUser("AIDA1", "alice", "arn", False, 1)))
    tag = RequestTag("req-k", 1000)
    key = machine.take(
        machine.apply(4, encode_entry(CATALOG, commands.CreateAccessKey("alice", "AK1", "s1", 2), tag))
    )
    retry = machine.take(
        machine.apply(5, encode_entry(CATALOG, commands.CreateAccessKey("alice", "AK2", "s2", 3), tag))
    )
    assert isinstance(retry, AccessKey) and retry == key
    count = machine.store.catalog.call(
        lambda conn: conn.execute("SELECT count(*) FROM access_keys").fetchone()[0]
    )
    assert count == 1


def test_a_retried_delete_bucket_returns_success() -> None:
    machine = _machine()
    tag = RequestTag("req-d", 1000)
    assert (
        machine.take(machine.apply(3, encode_entry(DELETE_BUCKET, commands.DeleteBucket("b", "id"), tag)))
        is None
    )
    assert (
        machine.take(machine.apply(4, encode_entry(DELETE_BUCKET, commands.DeleteBucket("b", ""), tag)))
        is None
    )
    with pytest.raises(NoSuchBucket):
        machine.take(machine.apply(5, encode_entry(DELETE_BUCKET, commands.DeleteBucket("b", ""))))


def test_retention_is_driven_by_the_entries_not_the_clock() -> None:
    machine = _machine()
    target = shard_index("id", "k", 2)
    cmd = commands.RecordIntent("id", "k", b"\x01" * 16, 1, 10**12)
    machine.apply(3, encode_entry(target, cmd, RequestTag("old", 1_000)))
    shard = machine.store.objects[target]

    def ids() -> list[str]:
        return [
            r[0] for r in shard.call(lambda conn: conn.execute("SELECT request_id FROM requests").fetchall())
        ]

    machine.apply(4, encode_entry(target, cmd, RequestTag("new", 1_000 + dedup.KEEP_MS - 1)))
    assert sorted(ids()) == ["new", "old"]
    machine.apply(5, encode_entry(target, cmd, RequestTag("newer", 1_001 + dedup.KEEP_MS)))
    assert sorted(ids()) == ["new", "newer"]  # "old" is past KEEP_MS of proposal time
    machine.apply(
        4 + dedup.KEEP_ENTRIES, encode_entry(target, cmd, RequestTag("last", 2_000 + dedup.KEEP_MS))
    )
    assert sorted(ids()) == ["last", "newer"]  # "new" (index 4) is KEEP_ENTRIES entries back


def test_the_dedup_table_is_part_of_the_snapshot() -> None:
    machine = _machine()
    target, tag, result = _first_delete(machine)
    other = MetadataMachine(Store.open(None, 2))
    other.restore(machine.snapshot())
    again = commands.DeleteVersion("id", "b", "k", None, VersioningState.ENABLED, ISSUER.issue(), 20)
    assert other.take(other.apply(4, encode_entry(target, again, tag))) == result


async def test_the_service_proposes_with_the_request_id_in_scope() -> None:
    service = await MetadataService.open(MetadataConfig(), in_memory=True)
    try:
        await service.create_bucket("bkt", "o")
        await service.set_bucket_versioning("bkt", VersioningState.ENABLED)
        with request_id("call-1"):
            first = await service.delete_object("bkt", "k")
        with request_id("call-1"):
            assert await service.delete_object("bkt", "k") == first
        page = await service.list_object_versions("bkt")
        assert [v.version_id for v in page.versions] == [first.version_id]
        with pytest.raises(NoSuchKey):
            await service.get_object("bkt", "k")
        with request_id("call-2"), pytest.raises(BucketNotEmpty):
            await service.delete_bucket("bkt")
        await service.create_bucket("cbk", "o")
        with request_id("call-3"):
            await service.delete_bucket("cbk")
        with request_id("call-3"):  # the retry of a delete that succeeded succeeds
            await service.delete_bucket("cbk")
        with request_id("call-4"), pytest.raises(NoSuchBucket):
            await service.delete_bucket("cbk")
        with pytest.raises(NoSuchBucket):
            await service.delete_bucket("cbk")
    finally:
        await service.close()


def test_every_result_kind_survives_the_table() -> None:
    machine = _machine()
    user = machine.take(
        machine.apply(3, encode_entry(CATALOG, commands.CreateUser("AIDA1", "al", "arn", False, 1)))
    )
    for result in (None, 3, "v", True, user, [user, user], UserAlreadyExists("taken", version_id="x")):
        back = dedup.decode_result(dedup.encode_result(result))
        if isinstance(result, Exception):
            assert type(back) is type(result) and back.message == "taken" and back.version_id == "x"
        else:
            assert back == result


def test_every_mutating_rpc_carries_a_request_id_the_servicer_uses() -> None:
    from pathlib import Path

    from cairn.metadata import rpc_server
    from cairn.proto import metadata_pb2

    source = Path(rpc_server.__file__).read_text()
    service = metadata_pb2.DESCRIPTOR.services_by_name["Metadata"]
    reads = ("Get", "List", "Head", "Find", "Verify")
    # Batch applies nothing itself: each call it carries is one of these, with its own id.
    mutating = [m for m in service.methods if not m.name.startswith(reads) and m.name != "Batch"]
    assert len(mutating) >= 20
    for method in mutating:
        assert "request_id" in method.input_type.fields_by_name, method.name
        assert f"@_exactly_once\n    async def {method.name}(" in source, method.name


def test_a_create_bucket_retried_after_the_bucket_was_deleted_and_recreated_keeps_the_cache_true() -> None:
    """Found by the Raft simulation: the retry gets the first result (the first bucket), but
    the bucket cache must follow the catalog (the new bucket), or object writes for the dead
    id would be accepted by replicas that applied the retry and refused by one that restarted."""
    machine = MetadataMachine(Store.open(None, 2))
    tag = RequestTag("req-create", 1)
    first = machine.take(
        machine.apply(1, encode_entry(CATALOG, commands.CreateBucket("b", "old", "o", "r", 1), tag))
    )
    machine.apply(2, encode_entry(DELETE_BUCKET, commands.DeleteBucket("b", "old", 2)))
    machine.apply(3, encode_entry(CATALOG, commands.CreateBucket("b", "new", "o", "r", 3)))
    again = commands.CreateBucket("b", "newer", "o", "r", 4)
    assert machine.take(machine.apply(4, encode_entry(CATALOG, again, tag))) == first
    assert machine.buckets["b"].id == "new"
    restarted = MetadataMachine(machine.store)
    assert restarted.buckets == machine.buckets
    put = commands.RecordIntent("old", "k", b"\x02" * 16, 1, 10**12)
    with pytest.raises(NoSuchBucket):
        machine.take(machine.apply(5, encode_entry(shard_index("old", "k", 2), put)))
