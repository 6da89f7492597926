"""Group entries: the object-shard writes of one loop turn, proposed as one log entry.

A group applies exactly as its members would, each as its own entry in order (their results,
domain errors and effects), and the service puts concurrent writes in one group whose members
each get their own result."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cairn.blobs import BlobRef
from cairn.metadata import commands
from cairn.metadata.core import _Group
from cairn.metadata.dedup import RequestTag
from cairn.metadata.errors import MetadataUnavailable, NoSuchBucket, NoSuchUpload, NotLeader
from cairn.metadata.models import ObjectAttrs
from cairn.metadata.replicated import (
    CATALOG,
    MetadataMachine,
    _restore_image,
    decode_any,
    encode_entry,
    encode_group,
)
from cairn.metadata.service import MetadataService
from cairn.metadata.store import Store, shard_index
from cairn.metadata.versionids import IdIssuer
from cairn.replication import NoQuorum, SingleNodeReplicator
from cairn.replication import NotLeader as RaftNotLeader

SHARDS = 4
ISSUER = IdIssuer(lambda: 42)


def _machine() -> MetadataMachine:
    return MetadataMachine(Store.open(None, SHARDS))


def _entry(bucket_id: str, key: str, cmd: commands.Command, tag: RequestTag | None = None) -> bytes:
    return encode_entry(shard_index(bucket_id, key, SHARDS), cmd, tag)


def _members() -> list[bytes]:
    """Intents and versions over several shards and twice the same key, an abort of a missing
    upload (a domain error after nothing), a write for a bucket id that is not live, and a
    tagged PUT retried under its request id with a rebuilt command."""
    out = []
    for n in range(6):
        key = f"k{n % 4}"
        blob = bytes([n + 1]) * 16
        attrs = ObjectAttrs(size=1, etag=f"e{n}", blobs=(BlobRef(blob, 1, 1, 1 << 20, 8, 4),))
        out.append(_entry("id", key, commands.RecordIntent("id", key, blob, 1, 10**12)))
        out.append(_entry("id", key, commands.PutVersion("id", "b", key, ISSUER.issue(), True, attrs, 5)))
    out.append(_entry("id", "k9", commands.AbortUpload("id", "k9", "missing", 6)))
    out.append(_entry("gone", "k1", commands.RecordIntent("gone", "k1", b"\x09" * 16, 1, 10**12)))
    tag = RequestTag("req-1/PutVersion/0", 7)
    for etag in ("first", "retry"):
        attrs = ObjectAttrs(size=2, etag=etag)
        out.append(
            _entry("id", "t", commands.PutVersion("id", "b", "t", ISSUER.issue(), True, attrs, 7), tag)
        )
    return out


def _outcome(result: Any) -> str:
    return type(result).__name__ if isinstance(result, Exception) else repr(result)


def _objects(machine: MetadataMachine) -> list[list[str]]:
    """Every object shard's rows but the last applied index (which names the entry, not its effects)."""
    return [
        [line for line in s.call(lambda conn: list(conn.iterdump())) if '"applied"' not in line]
        for s in machine.store.objects
    ]


@pytest.mark.parametrize("path", ["apply", "apply_batch"])
def test_a_group_applies_like_its_members_one_entry_each(path: str) -> None:
    members = _members()
    bucket = encode_entry(CATALOG, commands.CreateBucket("b", "id", "o", "r", 1))
    one, grouped = _machine(), _machine()
    one.apply(1, bucket)
    singles = [one.take_each(one.apply(i + 2, m), 1)[0] for i, m in enumerate(members)]
    grouped.apply(1, bucket)
    group = encode_group(members)
    done = grouped.apply(2, group) if path == "apply" else grouped.apply_batch([(2, group)])[0]
    results = grouped.take_each(done, len(members))

    assert [_outcome(r) for r in results] == [_outcome(r) for r in singles]
    assert isinstance(results[-4], NoSuchUpload) and isinstance(results[-3], NoSuchBucket)
    assert results[-1] == results[-2]  # the retry got the first PUT's result back
    assert results[-1].etag == "first"
    # the dedup rows name their entry's index, which differs; every other row is the same
    strip = [[line for line in shard if '"requests"' not in line] for shard in _objects(one)]
    assert strip == [[line for line in shard if '"requests"' not in line] for shard in _objects(grouped)]
    assert _objects(one) != _objects(_machine())


def test_a_replayed_group_applies_nothing_twice() -> None:
    """After a restart the log replays onto the shards: a shard that lost the group's
    transaction (synchronous=NORMAL, power loss) applies its members again, a shard that holds
    the group's index skips them."""
    machine = _machine()
    machine.apply(1, encode_entry(CATALOG, commands.CreateBucket("b", "id", "o", "r", 1)))
    lost = machine.store.objects[shard_index("id", "k0", SHARDS)]
    image = lost.call(lambda conn: conn.serialize())
    group = encode_group(_members())
    machine.apply(2, group)
    had = _objects(machine)
    lost.call(lambda conn: _restore_image(conn, image))
    assert _objects(machine) != had
    machine.apply_batch([(2, group)])
    assert _objects(machine) == had


def test_only_object_shard_entries_are_grouped() -> None:
    with pytest.raises(ValueError):
        encode_group([encode_entry(CATALOG, commands.CreateBucket("b", "id", "o", "r", 1))])
    group = encode_group(_members()[:3])
    assert [target for target, _, _ in decode_any(group)] == [
        str(shard_index("id", key, SHARDS)) for key in ("k0", "k0", "k1")
    ]
    for bad in (group[:-3], group.replace(b"group\n", b"group\n\x00\x00\x00\x05junk", 1)):
        with pytest.raises(ValueError):
            decode_any(bad)


class Recording(SingleNodeReplicator):
    """Applies at once, and keeps what was proposed; `fail` makes every proposal fail."""

    def __init__(self, machine: MetadataMachine) -> None:
        super().__init__(machine)
        self.proposed: list[bytes] = []
        self.fail: Exception | None = None

    async def propose(self, command: bytes, timeout: float) -> bytes:
        if self.fail is not None:
            raise self.fail
        self.proposed.append(command)
        return await super().propose(command, timeout)


@pytest.fixture
async def svc() -> Any:
    store = Store.open(None, SHARDS)
    machine = MetadataMachine(store)
    service = MetadataService(store, machine=machine, replicator=Recording(machine))
    yield service
    await service.close()


async def test_writes_of_one_loop_turn_commit_as_one_entry_each_with_its_own_result(svc: Any) -> None:
    await svc.create_bucket("bkt", "owner")
    bid = svc.bucket("bkt").id
    recording: Recording = svc.replicator
    recording.proposed.clear()

    def intent(n: int) -> Any:
        return svc.write_object(bid, f"k{n}", commands.RecordIntent(bid, f"k{n}", bytes([n]) * 16, 1, 10**13))

    abort = svc.write_object(bid, "k", commands.AbortUpload(bid, "k", "missing", 1))
    results = await asyncio.gather(*(intent(n) for n in range(1, 21)), abort, return_exceptions=True)

    assert len(recording.proposed) == 1 and len(decode_any(recording.proposed[0])) == 21
    assert results[:20] == [None] * 20
    assert isinstance(results[20], NoSuchUpload)
    intents = [
        s.call(lambda conn: conn.execute("SELECT count(*) FROM intents").fetchone()[0])
        for s in svc.store.objects
    ]
    assert sum(intents) == 20 and len([n for n in intents if n]) > 1  # over several shards
    alone = await svc.record_write_intent("bkt", "solo", b"\x33" * 16, 1)
    assert alone.blob_id == b"\x33" * 16
    assert len(recording.proposed) == 2 and not recording.proposed[1].startswith(b"group\n")  # its own entry


async def test_a_group_that_cannot_commit_fails_every_member(svc: Any) -> None:
    await svc.create_bucket("bkt", "owner")
    recording: Recording = svc.replicator
    for fail, error in (
        (NoQuorum("no majority"), MetadataUnavailable),
        (RaftNotLeader("m2", None), NotLeader),
    ):
        recording.fail = fail
        results = await asyncio.gather(
            *(svc.record_write_intent("bkt", f"k{n}", bytes([n]) * 16, 1) for n in range(1, 5)),
            return_exceptions=True,
        )
        assert [type(r) for r in results] == [error] * 4


async def test_more_writes_in_one_turn_than_a_group_holds_go_in_further_groups(svc: Any) -> None:
    await svc.create_bucket("bkt", "owner")
    bid = svc.bucket("bkt").id
    recording: Recording = svc.replicator
    recording.proposed.clear()
    count = _Group.MAX_MEMBERS + 44
    results = await asyncio.gather(
        *(
            svc.write_object(
                bid, f"k{n}", commands.RecordIntent(bid, f"k{n}", n.to_bytes(16, "big"), 1, 10**13)
            )
            for n in range(count)
        )
    )
    assert results == [None] * count
    assert [len(decode_any(entry)) for entry in recording.proposed] == [_Group.MAX_MEMBERS, 44]
    intents = [
        s.call(lambda conn: conn.execute("SELECT count(*) FROM intents").fetchone()[0])
        for s in svc.store.objects
    ]
    assert sum(intents) == count
