"""Commands are deterministic bytes; the MetadataMachine applies log entries of them on every replica."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cairn.blobs import BlobRef
from cairn.metadata import commands
from cairn.metadata.errors import BucketNotEmpty, NoSuchBucket, NoSuchUpload
from cairn.metadata.models import Checksum, ChecksumType, CompletedPart, ObjectAttrs, VersioningState
from cairn.metadata.replicated import CATALOG, DELETE_BUCKET, MetadataMachine, applied_index, encode_entry
from cairn.metadata.schema import OBJECT_MIGRATIONS, migrate, schema_version
from cairn.metadata.store import Store, shard_index
from cairn.metadata.versionids import IdIssuer

ISSUER = IdIssuer(lambda: 42)
ATTRS = ObjectAttrs(
    size=3,
    etag="e",
    user_metadata=(("k", "v"),),
    checksums=(Checksum("CRC32", b"\x01\x02\x03\x04", ChecksumType.FULL_OBJECT),),
    blobs=(BlobRef(b"\x07" * 16, 5, 3, 1 << 20, 8, 4),),
)
INTENT = commands.RecordIntent("id", "k", ATTRS.blobs[0].blob_id, 5, 1_000)
SAMPLES = [
    commands.CreateBucket("b", "id", "o", "r", 1),
    commands.SetVersioning("b", VersioningState.ENABLED),
    commands.PutVersion(
        "id", "b", "key/é", ISSUER.issue(), False, ATTRS, 2, if_match=None, if_none_match=True
    ),
    commands.DeleteVersion("id", "b", "key", None, VersioningState.SUSPENDED, ISSUER.issue(), 3),
    commands.CompleteUpload("id", "b", "k", "u", (CompletedPart(1, "e"),), (), ISSUER.issue(), True, 4),
    commands.AckGc((b"\x00" * 16,)),
]


@pytest.mark.parametrize("cmd", SAMPLES, ids=lambda c: type(c).__name__)
def test_commands_round_trip_through_canonical_bytes(cmd: commands.Command) -> None:
    data = commands.encode(cmd)
    assert commands.decode(data) == cmd
    assert commands.encode(commands.decode(data)) == data


def test_malformed_command_bytes_are_rejected() -> None:
    for bad in (b"", b"{}", b'{"type":"Nope","body":{}}', b"\xff"):
        with pytest.raises(ValueError):
            commands.decode(bad)


def _replica(shards: int = 2) -> MetadataMachine:
    return MetadataMachine(Store.open(None, shards))


BUCKET = commands.CreateBucket("b", "id", "o", "r", 1)


def _shard_of(machine: MetadataMachine, key: str) -> int:
    return shard_index("id", key, len(machine.store.objects))


def _dump(machine: MetadataMachine) -> list[str]:
    shards = [machine.store.catalog, *machine.store.objects]
    return ["\n".join(s.call(lambda conn: list(conn.iterdump()))) for s in shards]


def test_replicas_applying_the_same_entries_reach_the_same_state() -> None:
    k = 0
    log = [
        encode_entry(CATALOG, BUCKET),
        encode_entry(k, INTENT),
        encode_entry(k, commands.PutVersion("id", "b", "k", ISSUER.issue(), True, ATTRS, 10)),
        encode_entry(
            k, commands.PutVersion("id", "b", "k", ISSUER.issue(), False, ObjectAttrs(size=1, etag="f"), 11)
        ),
        encode_entry(
            k, commands.DeleteVersion("id", "b", "k", None, VersioningState.ENABLED, ISSUER.issue(), 12)
        ),
        encode_entry(k, commands.AbortUpload("id", "k", "missing", 13)),
    ]
    dumps = []
    for _ in range(2):
        machine = _replica()
        done = [machine.apply(i + 1, entry) for i, entry in enumerate(log)]
        dumps.append(_dump(machine))
        with pytest.raises(NoSuchUpload):
            machine.take(done[-1])
        assert machine.take(done[0]).name == "b"
    assert dumps[0] == dumps[1]


def test_an_entry_a_shard_already_holds_is_skipped_on_replay() -> None:
    machine = _replica()
    put = commands.PutVersion("id", "b", "k", ISSUER.issue(), False, ATTRS, 10)
    machine.apply(1, encode_entry(CATALOG, BUCKET))
    machine.apply(2, encode_entry(_shard_of(machine, "k"), INTENT))
    machine.apply(3, encode_entry(_shard_of(machine, "k"), put))
    before = _dump(machine)
    for index, entry in ((2, INTENT), (3, put)):  # a restart replays the log over the shards
        machine.apply(index, encode_entry(_shard_of(machine, "k"), entry))
    assert _dump(machine) == before


def test_delete_bucket_checks_emptiness_at_its_log_position() -> None:
    machine = _replica()
    machine.apply(1, encode_entry(CATALOG, BUCKET))
    machine.apply(2, encode_entry(_shard_of(machine, "k"), INTENT))
    put = commands.PutVersion("id", "b", "k", ISSUER.issue(), True, ATTRS, 10)
    machine.apply(3, encode_entry(_shard_of(machine, "k"), put))
    with pytest.raises(BucketNotEmpty):
        machine.take(machine.apply(4, encode_entry(DELETE_BUCKET, commands.DeleteBucket("b", "id"))))
    gone = commands.DeleteVersion("id", "b", "k", None, VersioningState.UNVERSIONED, ISSUER.issue(), 11)
    machine.apply(5, encode_entry(_shard_of(machine, "k"), gone))
    assert (
        machine.take(machine.apply(6, encode_entry(DELETE_BUCKET, commands.DeleteBucket("b", "id")))) is None
    )
    assert "b" not in machine.buckets
    late = commands.RecordIntent("id", "k2", b"\x09" * 16, 5, 1_000)
    with pytest.raises(NoSuchBucket):  # an entry for a deleted bucket id is refused when it applies
        machine.take(machine.apply(7, encode_entry(_shard_of(machine, "k2"), late)))


def test_snapshot_restores_every_shard() -> None:
    machine = _replica()
    machine.apply(1, encode_entry(CATALOG, BUCKET))
    machine.apply(2, encode_entry(_shard_of(machine, "k"), INTENT))
    machine.apply(
        3,
        encode_entry(
            _shard_of(machine, "k"), commands.PutVersion("id", "b", "k", ISSUER.issue(), True, ATTRS, 10)
        ),
    )
    other = _replica()
    other.restore(machine.snapshot())
    assert _dump(other) == _dump(machine)
    assert other.buckets == machine.buckets
    shard = other.store.objects[_shard_of(machine, "k")]
    assert shard.call(lambda conn: list(conn.execute("SELECT key FROM versions"))) == [(b"k",)]
    assert shard.call(applied_index) == 3


async def test_snapshot_of_wal_shard_files_restores_into_shard_files(tmp_path: Path) -> None:
    """The real process's shards are WAL-mode files: their images say WAL in the header."""
    machine = MetadataMachine(Store.open(tmp_path / "a", 2, synchronous="NORMAL"))
    other = MetadataMachine(Store.open(tmp_path / "b", 2, synchronous="NORMAL"))
    try:
        machine.apply(1, encode_entry(CATALOG, BUCKET))
        machine.apply(2, encode_entry(_shard_of(machine, "k"), INTENT))
        put = commands.PutVersion("id", "b", "k", ISSUER.issue(), True, ATTRS, 10)
        machine.apply(3, encode_entry(_shard_of(machine, "k"), put))
        other.restore(machine.snapshot())
        assert _dump(other) == _dump(machine)
        mode = other.store.catalog.call(lambda conn: conn.execute("PRAGMA journal_mode").fetchone()[0])
        assert mode == "wal"
    finally:
        await machine.store.close()
        await other.store.close()


def test_migrations_are_recorded_and_refuse_newer_schemas() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    assert migrate(conn, OBJECT_MIGRATIONS) == len(OBJECT_MIGRATIONS)
    assert migrate(conn, OBJECT_MIGRATIONS) == len(OBJECT_MIGRATIONS)  # idempotent
    assert schema_version(conn) == len(OBJECT_MIGRATIONS)
    conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(RuntimeError):
        migrate(conn, OBJECT_MIGRATIONS)


def test_a_batch_applies_like_the_same_entries_one_by_one() -> None:
    issuer = IdIssuer(lambda: 42)
    entries: list[bytes] = [encode_entry(CATALOG, BUCKET)]
    probe = _replica(4)
    for n in range(12):
        key = f"k{n % 5}"
        blob = bytes([n + 1]) * 16
        attrs = ObjectAttrs(size=1, etag="e", blobs=(BlobRef(blob, 1, 1, 1 << 20, 8, 4),))
        entries.append(encode_entry(_shard_of(probe, key), commands.RecordIntent("id", key, blob, 1, 10**9)))
        entries.append(
            encode_entry(
                _shard_of(probe, key), commands.PutVersion("id", "b", key, issuer.issue(), True, attrs, 5)
            )
        )
    entries.append(encode_entry(_shard_of(probe, "k9"), commands.AbortUpload("id", "k9", "missing", 6)))
    entries.append(encode_entry(DELETE_BUCKET, commands.DeleteBucket("b", "id")))
    entries.append(
        encode_entry(_shard_of(probe, "k1"), commands.RecordIntent("id", "k1", b"\x55" * 16, 1, 10**9))
    )
    one, many = _replica(4), _replica(4)
    singles = [one.apply(i + 1, e) for i, e in enumerate(entries)]
    batched = many.apply_batch([(i + 1, e) for i, e in enumerate(entries)])

    def outcome(machine: MetadataMachine, token: bytes) -> str:
        try:
            return repr(machine.take(token))
        except Exception as exc:  # noqa: BLE001 - the domain error is the outcome
            return type(exc).__name__

    outcomes = [outcome(one, t) for t in singles]
    assert outcomes == [outcome(many, t) for t in batched]
    assert outcomes[-3:] == ["NoSuchUpload", "BucketNotEmpty", "None"]
    assert _dump(one) == _dump(many)
