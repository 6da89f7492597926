"""The metadata store as one Raft state machine (`cairn.replication.StateMachine`).

One Raft group replicates the whole service: every mutation is one log entry naming its
*target* and carrying a deterministic command (`commands.encode`). Targets: `catalog`, an
object shard number, `objects` (the command runs on every object shard: AckGc) and
`delete_bucket` (the emptiness check on every shard, the purges and the catalog row, all
applied at one log position). Since entries apply in log order on every replica, the checks
inside an entry see exactly the state every other replica sees: this is what replaces the
single-process bucket gate. Object commands for a bucket id that is no longer live are refused
with NoSuchBucket at apply time, so a PUT racing a DeleteBucket either lands before it (and the
bucket is not empty) or is refused.

Each shard stores the Raft index of the last entry it applied, in the same transaction as that
entry's effects; `apply` skips an entry a shard already holds. So a replica restarting from its
snapshot plus its log re-applies exactly what its shards miss, whatever `synchronous` they run
with (the log is the durable record).

`apply` runs on the event loop (the Raft runtime's contract) and waits for the shard's own
thread to run the transaction: a shard connection is only ever used from its thread. Results
stay in this process: `apply` returns the entry's index, and the proposer collects the typed
result (or the domain error) with `take(returned_bytes)`. Followers' results are dropped after
`_KEEP_RESULTS` newer ones.

The bucket cache (`buckets`) is rebuilt from the catalog at start and after a snapshot is
restored, and updated by the catalog entries as they apply, on every replica.

Snapshot (what the Raft runtime takes, `prepare_snapshot`): one SQLite file per shard, named as
the shard files are (`integrity.shard_files`). Between two applies, each shard's state is
pinned by a read transaction on a second connection; a thread then copies each pinned state
into its file with SQLite's online backup while applies go on (WAL mode lets the shard commit
past a reader). Restore (`restore_files`) copies each file back into its shard with the online
backup, the shards in parallel. Nothing holds a whole shard in memory. `snapshot()` /
`restore()` (every shard's image framed in one byte string) remain for the in-process
simulation and for a version-1 snapshot (one `state` file, from before snapshots were files).
"""

from __future__ import annotations

import sqlite3
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cairn.metadata import catalog, dedup
from cairn.metadata import commands as c
from cairn.metadata.dedup import RequestTag
from cairn.metadata.errors import BucketNotEmpty, MetadataError, NoSuchBucket
from cairn.metadata.integrity import shard_files
from cairn.metadata.models import Bucket
from cairn.metadata.objects import bucket_has_content
from cairn.metadata.schema import CATALOG_MIGRATIONS, OBJECT_MIGRATIONS, migrate
from cairn.metadata.shard import Shard, rollback
from cairn.metadata.store import Store

CATALOG = "catalog"
ALL_OBJECTS = "objects"
DELETE_BUCKET = "delete_bucket"

_KEEP_RESULTS = 65536
_GROUP = b"group\n"

#: an entry as applied: its target, its command and its request tag
Decoded = tuple[str, c.Command, RequestTag | None]


def encode_entry(target: str | int, command: c.Command, tag: RequestTag | None = None) -> bytes:
    """The log entry of `command` for `target` (catalog, a shard number, objects, delete_bucket);
    the header line is the target, then, for a request with an id, the id and the proposer's
    clock, tab-separated (`dedup.py`)."""
    header = str(target) if tag is None else f"{target}\t{tag.request_id}\t{tag.at_ms}"
    return header.encode() + b"\n" + c.encode(command)


def decode_entry(data: bytes) -> tuple[str, c.Command, RequestTag | None]:
    header, _, body = data.partition(b"\n")
    target, *rest = header.decode().split("\t")
    tag = RequestTag(rest[0], int(rest[1])) if len(rest) == 2 else None
    return target, c.decode(body), tag


def encode_group(entries: Sequence[bytes]) -> bytes:
    """One log entry carrying several object-shard entries (`encode_entry` with a shard number
    as target), each applied as if it were its own entry at this index, in order, with its own
    result (`MetadataMachine.take_each`): the proposer puts the writes of one loop turn in one
    entry (`core.ServiceCore.write`), so the group commits one entry where it would commit many.
    The header line is `group`, then each entry framed by its 4-byte length."""
    if not all(is_object_entry(e) for e in entries):
        raise ValueError("only object-shard entries can be grouped")
    return _GROUP + b"".join(len(e).to_bytes(4, "big") + e for e in entries)


def is_object_entry(entry: bytes) -> bool:
    """Whether `entry` (`encode_entry`) targets one object shard (its header starts with a number)."""
    return entry.partition(b"\n")[0].partition(b"\t")[0].isdigit()


def decode_any(data: bytes) -> list[Decoded]:
    """The entries a log entry carries: itself, or the members of a group (`encode_group`)."""
    if not data.startswith(_GROUP):
        return [decode_entry(data)]
    members = []
    view, pos = memoryview(data), len(_GROUP)
    while pos < len(data):
        size = int.from_bytes(view[pos : pos + 4], "big")
        if pos + 4 + size > len(data):
            raise ValueError("a group entry's member runs past its end")
        member = decode_entry(bytes(view[pos + 4 : pos + 4 + size]))
        if not member[0].isdigit():
            raise ValueError(f"a group entry holds a {member[0]!r} entry")
        members.append(member)
        pos += 4 + size
    return members


def applied_index(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT raft_index FROM applied WHERE id = 0").fetchone()
    return int(row[0]) if row else 0


def _apply_at(shard: Shard, index: int, command: Any, tag: RequestTag | None = None) -> Any:
    """Run on the shard's thread: one entry (see `_apply_many`)."""
    return _apply_many(shard, [(index, command, tag)])[0]


def _apply_many(shard: Shard, items: list[tuple[int, Any, RequestTag | None]]) -> list[Any]:
    """Run on the shard's thread: apply several entries in one transaction, each inside its own
    savepoint (a domain error undoes that entry alone and is returned as its result); entries
    the shard already holds are skipped; an entry whose request id the shard has seen returns
    the recorded result and applies nothing, others record theirs (`dedup.py`); the highest
    index is recorded once, in the same transaction. A failure other than a domain error (I/O)
    rolls everything back and raises."""
    conn = shard.conn
    last = applied_index(conn)
    results: list[Any] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for index, command, tag in items:
            if index <= last:
                results.append(_Skipped)
                continue
            if tag is not None:
                prior = dedup.lookup(conn, tag.request_id)
                if not dedup.is_missing(prior):
                    results.append(prior)
                    continue
            conn.execute("SAVEPOINT entry")
            try:
                result = shard.applier(conn, command)
            except MetadataError as err:
                conn.execute("ROLLBACK TO entry")
                result = err
            conn.execute("RELEASE entry")
            if tag is not None:
                dedup.remember(conn, tag, index, result)
            results.append(result)
        top = max(item[0] for item in items)
        if top > last:
            conn.execute("INSERT OR REPLACE INTO applied (id, raft_index) VALUES (0, ?)", (top,))
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise
    return results


class _Skipped:
    """An entry the shard had applied before (replay after a restart)."""


def _bucket_id(command: Any) -> str | None:
    if isinstance(command, c.PutBatch):
        return command.puts[0].bucket_id if command.puts else None
    if isinstance(command, c.PurgeBucket | c.AckGc):
        return None
    return getattr(command, "bucket_id", None)


class MetadataMachine:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.buckets: dict[str, Bucket] = {}
        self._live_ids: set[str] = set()
        #: results by (index, position in the entry): 0 for a lone entry, n for a group's nth
        self._results: OrderedDict[tuple[int, int], Any] = OrderedDict()
        #: entries this replica is proposing, already decoded (see `proposing`)
        self._proposing: dict[bytes, list[Decoded]] = {}
        self._load_buckets()

    @contextmanager
    def proposing(self, entry: bytes, members: list[Decoded]) -> Iterator[None]:
        """While `entry` (`encode_entry` of the one member, or `encode_group` of them all) is
        being proposed here, applying it takes these values instead of decoding its bytes
        again: the leader built them, and the bytes decode to equal values (commands are frozen
        and round-trip exactly, test_commands)."""
        self._proposing[entry] = members
        try:
            yield
        finally:
            self._proposing.pop(entry, None)

    def _decoded(self, entry: bytes) -> list[Decoded]:
        return self._proposing.get(entry) or decode_any(entry)

    # -- the StateMachine protocol -----------------------------------------------------------
    def apply(self, index: int, command: bytes) -> bytes:
        if command.startswith(_GROUP):  # its members on one shard apply in one transaction
            return self.apply_batch([(index, command)])[0]
        target, cmd, tag = self._decoded(command)[0]
        self._keep((index, 0), self._apply(index, target, cmd, tag))
        return index.to_bytes(8, "big")

    def apply_batch(self, entries: list[tuple[int, bytes]]) -> list[bytes]:
        """Apply committed entries in order. Runs of object-shard entries (a group's members
        among them) are applied as one transaction per shard, one shard after the other
        (metadata/README.md says why not in parallel): entries of different shards commute,
        and no catalog entry (which could change which bucket ids are live) falls inside a run."""
        run: list[tuple[tuple[int, int], int, Any, RequestTag | None]] = []
        for index, data in entries:
            for n, (target, cmd, tag) in enumerate(self._decoded(data)):
                if target.isdigit():
                    bucket_id = _bucket_id(cmd)
                    if bucket_id is not None and bucket_id not in self._live_ids:
                        self._keep((index, n), NoSuchBucket("The specified bucket does not exist"))
                    else:
                        run.append(((index, n), int(target), cmd, tag))
                    continue
                self._apply_run(run)
                run = []
                self._keep((index, n), self._apply(index, target, cmd, tag))
        self._apply_run(run)
        return [index.to_bytes(8, "big") for index, _ in entries]

    def _apply_run(self, run: list[tuple[tuple[int, int], int, Any, RequestTag | None]]) -> None:
        by_shard: dict[int, tuple[list[tuple[int, int]], list[tuple[int, Any, RequestTag | None]]]] = {}
        for key, shard, cmd, tag in run:
            keys, items = by_shard.setdefault(shard, ([], []))
            keys.append(key)
            items.append((key[0], cmd, tag))
        for n, (keys, items) in by_shard.items():
            future = self.store.objects[n].submit(_apply_many, self.store.objects[n], items)
            for key, result in zip(keys, future.result(), strict=True):
                self._keep(key, result)

    def _keep(self, key: tuple[int, int], result: Any) -> None:
        self._results[key] = result
        while len(self._results) > _KEEP_RESULTS:
            self._results.popitem(last=False)

    # -- snapshots as files (cairn.replication.FileStateMachine): what the Raft runtime uses -----
    def prepare_snapshot(self) -> Callable[[Path], Sequence[str]]:
        """Between two applies: pin every shard's current state with a read transaction on a
        second connection (WAL mode keeps that state readable while applies commit on the
        shard's own connection), so the writer, run later in a thread, copies exactly the state
        at this log position, however long it takes. In-memory shards (unit tests) are copied
        now."""
        names = shard_files(len(self.store.objects))
        pins: list[tuple[str, sqlite3.Connection | bytes]] = []
        try:
            for name, shard in zip(names, self._shards(), strict=True):
                pins.append((name, _pin(shard)))
        except BaseException:
            _unpin(pins)
            raise

        def write(directory: Path) -> list[str]:
            try:
                for name, pin in pins:
                    _backup_to(pin, directory / name)
            finally:
                _unpin(pins)
            return names

        return write

    def restore_files(self, directory: Path, names: Sequence[str]) -> None:
        """Copy each snapshot file into its shard with SQLite's online backup (the shards in
        parallel, each on its own thread)."""
        if list(names) != shard_files(len(self.store.objects)):
            raise ValueError(f"snapshot files {list(names)} do not match {len(self.store.objects)} shards")
        pending = [
            shard.submit(_restore_file, shard.conn, directory / name)
            for name, shard in zip(names, self._shards(), strict=True)
        ]
        for future in pending:
            future.result()
        self._results.clear()
        self._load_buckets()

    # -- snapshots as one value: the in-process simulation's form (tests/unit/metadata) ---------
    def snapshot(self) -> bytes:
        parts = [s.call(lambda conn: conn.serialize()) for s in self._shards()]
        return struct.pack(">I", len(parts)) + b"".join(struct.pack(">Q", len(p)) + p for p in parts)

    def restore(self, data: bytes) -> None:
        shards = self._shards()
        (count,) = struct.unpack_from(">I", data, 0)
        if count != len(shards):
            raise ValueError(f"a snapshot of {count} shards cannot restore {len(shards)}")
        pos = 4
        for shard in shards:
            (size,) = struct.unpack_from(">Q", data, pos)
            image = data[pos + 8 : pos + 8 + size]
            pos += 8 + size
            shard.submit(_restore_image, shard.conn, image).result()
        self._results.clear()
        self._load_buckets()

    def reset(self) -> None:
        """Empty every shard (schema kept), for a start without a Raft snapshot: the log then
        holds every entry from index 1 and its replay rebuilds the shards exactly. Replaying
        onto the shards as found is not exact after a power loss: under synchronous=NORMAL each
        shard file may lose its own last transactions, so the catalog (and the bucket cache
        loaded from it) can be ahead of an object shard, and an entry the shard lost would be
        judged against the later bucket state (an intent for a since-deleted bucket refused)."""
        for shard, migrations in zip(
            self._shards(), [CATALOG_MIGRATIONS] + [OBJECT_MIGRATIONS] * len(self.store.objects), strict=True
        ):
            blank = sqlite3.connect(":memory:")
            try:
                migrate(blank, migrations)
                image = blank.serialize()
            finally:
                blank.close()
            shard.submit(_restore_image, shard.conn, image).result()
        self._results.clear()
        self._load_buckets()

    # -- the proposer's side -----------------------------------------------------------------
    def take(self, applied: bytes) -> Any:
        """The result of the entry whose `apply` returned `applied`; raises its domain error."""
        result = self.take_each(applied, 1)[0]
        if isinstance(result, MetadataError):
            raise result
        return result

    def take_each(self, applied: bytes, count: int) -> list[Any]:
        """The results of the `count` members of the group entry whose `apply` returned
        `applied`, in order; a member's domain error is its result."""
        index = int.from_bytes(applied, "big")
        return [self._results.pop((index, n), None) for n in range(count)]

    # -- applying ----------------------------------------------------------------------------
    def _shards(self) -> list[Shard]:
        return [self.store.catalog, *self.store.objects]

    def _run(self, shard: Shard, index: int, command: Any, tag: RequestTag | None = None) -> Any:
        return shard.call(lambda conn: _apply_at(shard, index, command, tag))

    def _apply(self, index: int, target: str, cmd: Any, tag: RequestTag | None = None) -> Any:
        if target == CATALOG:
            result = self._run(self.store.catalog, index, cmd, tag)
            self._after_catalog(cmd)
            return result
        if target == DELETE_BUCKET:
            return self._delete_bucket(index, cmd, tag)
        bucket_id = _bucket_id(cmd)
        if bucket_id is not None and bucket_id not in self._live_ids:
            return NoSuchBucket("The specified bucket does not exist")
        if target == ALL_OBJECTS:
            results = [self._run(s, index, cmd, tag) for s in self.store.objects]
            return sum(r for r in results if isinstance(r, int))
        return self._run(self.store.objects[int(target)], index, cmd, tag)

    def _delete_bucket(self, index: int, cmd: c.DeleteBucket, tag: RequestTag | None) -> Any:
        """The emptiness check, the purges and the catalog row at one log position. A retried
        request whose first attempt deleted the bucket finds its id in the catalog's table."""
        if tag is not None:
            prior = self.store.catalog.call(lambda conn: dedup.lookup(conn, tag.request_id))
            if not dedup.is_missing(prior):
                return prior
        found = self.buckets.get(cmd.name)
        if found is None or found.id != cmd.bucket_id:
            return NoSuchBucket(f"bucket {cmd.name!r} does not exist")

        def busy(conn: sqlite3.Connection) -> bool:  # a shard past `index` was already purged
            return applied_index(conn) < index and bucket_has_content(conn, cmd.bucket_id)

        if any(shard.call(busy) for shard in self.store.objects):
            return BucketNotEmpty("The bucket you tried to delete is not empty")
        for shard in self.store.objects:
            self._run(shard, index, c.PurgeBucket(cmd.bucket_id, cmd.now_ms))
        self._run(self.store.catalog, index, cmd, tag)
        self._after_catalog(cmd)
        return None

    def _after_catalog(self, cmd: Any) -> None:
        """Refresh the cache entry of the bucket a catalog entry may have changed, from the
        catalog row itself: never from the entry's result, which for a retried request is the
        first attempt's (a CreateBucket retried after the bucket was deleted would otherwise
        bring its dead id back to life in the cache of the replicas that applied it live, and
        not in that of a replica that restarted and loaded the catalog)."""
        if not isinstance(cmd, c.CreateBucket | c.DeleteBucket | c.SetVersioning):
            return
        found = self.store.catalog.call(lambda conn: catalog.find_bucket(conn, cmd.name))
        old = self.buckets.pop(cmd.name, None)
        if old is not None:
            self._live_ids.discard(old.id)
        if found is not None:
            self.buckets[cmd.name] = found
            self._live_ids.add(found.id)

    def _load_buckets(self) -> None:
        found = self.store.catalog.call(catalog.read_buckets)
        self.buckets = {b.name: b for b in found}
        self._live_ids = {b.id for b in found}


def _pin(shard: Shard) -> sqlite3.Connection | bytes:
    """A connection holding a read transaction on the shard file's current state (or, for an
    in-memory shard, its image)."""
    if shard.path is None:
        return shard.call(lambda conn: conn.serialize())
    pin = sqlite3.connect(str(shard.path), isolation_level=None, check_same_thread=False)
    try:
        pin.execute("BEGIN")
        pin.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the read starts here
    except BaseException:
        pin.close()
        raise
    return pin


def _unpin(pins: list[tuple[str, sqlite3.Connection | bytes]]) -> None:
    for _, pin in pins:
        if isinstance(pin, sqlite3.Connection):
            pin.close()


def _backup_to(pin: sqlite3.Connection | bytes, path: Path) -> None:
    """Copy a pinned state into a new database file (rollback-journal mode, so the file alone is
    the whole database); the copy goes page by page, never whole in memory."""
    dest = sqlite3.connect(str(path))
    try:
        if isinstance(pin, bytes):
            _restore_image(dest, pin)
        else:
            pin.backup(dest)
        dest.execute("PRAGMA journal_mode=DELETE")
    finally:
        dest.close()


def _restore_file(conn: sqlite3.Connection, path: Path) -> None:
    """Run on the shard's thread: copy a snapshot file into the shard (online backup)."""
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        source.backup(conn)
    finally:
        source.close()


def _restore_image(conn: sqlite3.Connection, image: bytes) -> None:
    """Copy a serialized shard into `conn`. The image of a WAL-mode file says so in its header
    (bytes 18 and 19 = 2): an in-memory copy cannot open a WAL and any read fails ("unable to
    open database file"), so the copy is marked rollback-journal (1); the destination keeps
    its own journal mode."""
    if image[18:20] == b"\x02\x02":
        image = image[:18] + b"\x01\x01" + image[20:]
    source = sqlite3.connect(":memory:")
    try:
        source.deserialize(image)
        source.backup(conn)
    finally:
        source.close()
