"""Commands are deterministic bytes; the ShardMachine applies them like a Raft state machine."""

from __future__ import annotations

import sqlite3

import pytest

from cairn.blobs import BlobRef
from cairn.metadata import canonical_json, commands
from cairn.metadata.errors import NoSuchUpload
from cairn.metadata.models import Checksum, ChecksumType, CompletedPart, ObjectAttrs, VersioningState
from cairn.metadata.object_shard import apply_object
from cairn.metadata.schema import OBJECT_MIGRATIONS, migrate, schema_version
from cairn.metadata.shard import ShardMachine, raise_result_error
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


def _replica() -> tuple[sqlite3.Connection, ShardMachine]:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate(conn, OBJECT_MIGRATIONS)
    return conn, ShardMachine(conn, apply_object)


def test_replicas_applying_the_same_commands_reach_the_same_state() -> None:
    log = [
        INTENT,
        commands.PutVersion("id", "b", "k", ISSUER.issue(), True, ATTRS, 10),
        commands.PutVersion("id", "b", "k", ISSUER.issue(), False, ObjectAttrs(size=1, etag="f"), 11),
        commands.DeleteVersion("id", "b", "k", None, VersioningState.ENABLED, ISSUER.issue(), 12),
        commands.AbortUpload("id", "k", "missing", 13),
    ]
    dumps = []
    results = []
    for _ in range(2):
        conn, machine = _replica()
        results.append([machine.apply(i + 1, commands.encode(cmd)) for i, cmd in enumerate(log)])
        dumps.append("\n".join(conn.iterdump()))
    assert results[0] == results[1] and dumps[0] == dumps[1]
    last = canonical_json.loads(dict, results[0][-1])  # type: ignore[type-abstract]
    with pytest.raises(NoSuchUpload):
        raise_result_error(last)


def test_snapshot_restores_the_whole_shard() -> None:
    conn, machine = _replica()
    machine.apply(1, commands.encode(INTENT))
    machine.apply(2, commands.encode(commands.PutVersion("id", "b", "k", ISSUER.issue(), True, ATTRS, 10)))
    snap = machine.snapshot()
    other_conn, other = _replica()
    other.restore(snap)
    assert list(other_conn.execute("SELECT key FROM versions")) == [(b"k",)]
    assert list(other_conn.execute("SELECT raft_index FROM applied")) == [(2,)]


def test_migrations_are_recorded_and_refuse_newer_schemas() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    assert migrate(conn, OBJECT_MIGRATIONS) == len(OBJECT_MIGRATIONS)
    assert migrate(conn, OBJECT_MIGRATIONS) == len(OBJECT_MIGRATIONS)  # idempotent
    assert schema_version(conn) == len(OBJECT_MIGRATIONS)
    conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(RuntimeError):
        migrate(conn, OBJECT_MIGRATIONS)
