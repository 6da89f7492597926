"""The metadata state machine inside the deterministic Raft simulator (tests/unit/cairn/raft/sim.py).

Every replica of the simulated group runs a real `MetadataMachine` over its own SQLite shards
(files in a temporary directory); clients propose random metadata commands (buckets created,
deleted and re-created, versioning changes, write intents, PUTs with and without conditions,
deletes of versions and markers, multipart create/part/complete/abort, tags, bucket
configurations, GC acknowledgements; some carry a request id, and some retry an earlier id with
a new command, as a client retry after a leader change does; some entries are groups of
object-shard commands, as a leader proposes the writes of one loop turn). The simulator's loss, delay,
duplication, partitions and crashes apply. A crashed replica restarts on its shard files, or,
sometimes, with its shard files gone (the damaged-store path: an empty store rebuilt from the
snapshot and the log). Commands are built the way the service builds them: bucket ids and
versioning from the state of the replica they are proposed to.

After the run, the fault-free phase and a quiet period in which every replica applies the whole
log, each replica's shards must equal, table by table (a canonical dump of every shard), a
single machine that applied the committed entries in log order. A failure names its seed;
replay it with

    CAIRN_META_SIM_SEED=<n> .venv/bin/python -m pytest -q tests/unit/metadata/test_raft_simulation.py
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
from collections import deque
from pathlib import Path

import pytest

from cairn.blobs import BlobRef
from cairn.metadata import commands as c
from cairn.metadata.dedup import RequestTag
from cairn.metadata.models import ChecksumType, CompletedPart, ObjectAttrs, VersioningState
from cairn.metadata.replicated import (
    ALL_OBJECTS,
    CATALOG,
    DELETE_BUCKET,
    MetadataMachine,
    _restore_image,
    encode_entry,
    encode_group,
    is_object_entry,
)
from cairn.metadata.store import Store, shard_index
from cairn.metadata.versionids import encode as version_text
from tests.unit.cairn.raft.sim import WEATHER, Machine, Replica, SafetyViolation, Simulation

SHARDS = 2
STEPS = 800
SEEDS = int(os.environ.get("CAIRN_META_SIM_SEEDS", "12"))
REPLAY = os.environ.get("CAIRN_META_SIM_SEED")
NAMES = ("alpha", "beta", "gamma")  # gamma: unversioned, emptied and deleted often
KEYS = ("a", "b", "c/d", "c/e")
PART = 5 << 20


def _close(store: Store) -> None:
    asyncio.run(store.close())


def dump(store: Store) -> list[list[str]]:
    """Every row of every table of every shard (SQLite's own dump, in shard order)."""
    return [shard.call(lambda conn: list(conn.iterdump())) for shard in [store.catalog, *store.objects]]


class MetaMachine(Machine):
    """The simulator's digest chain (its safety checks) around a real MetadataMachine; the
    entries of one Ready are applied with `apply_batch`, as the Raft runtime does."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store
        self.meta = MetadataMachine(store)
        self._batch: list[tuple[int, bytes]] = []
        #: each shard's images after its last few Readys: what a power loss may roll it back to
        self.history: list[deque[bytes]] = [deque(maxlen=4) for _ in [store.catalog, *store.objects]]

    def _remember(self) -> None:
        for shard, past in zip([self.store.catalog, *self.store.objects], self.history, strict=True):
            past.append(shard.call(lambda conn: conn.serialize()))

    def lose_power(self, rng: random.Random) -> None:
        """Each shard independently loses a suffix of its transactions (WAL with
        synchronous=NORMAL or OFF keeps a prefix of them per file): it goes back to one of its
        recent images, or keeps everything."""
        for shard, past in zip([self.store.catalog, *self.store.objects], self.history, strict=True):
            if past and rng.random() < 0.6:
                image = rng.choice(list(past))
                shard.call(lambda conn, image=image: _restore_image(conn, image))

    def apply(self, index: int, data: bytes) -> None:
        super().apply(index, data)
        if data:  # no-op entries (a new leader's) are not the machine's
            self._batch.append((index, data))

    def applied_all(self) -> None:
        if self._batch:
            batch, self._batch = self._batch, []
            self.meta.apply_batch(batch)
            self._remember()

    def snapshot(self) -> bytes:
        return super().snapshot() + self.meta.snapshot()

    def restore(self, data: bytes) -> None:
        super().restore(data[:24])
        self.meta.restore(data[24:])
        self._remember()


class CommandMaker:
    """Random metadata commands, built from the state of the machine they are proposed to."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed * 104729 + 17)
        self.n = 0
        self.now = 1_700_000_000_000
        self.tags: dict[str, list[str]] = {}  # request keys by command type
        self.follow: list[bytes] = []  # a command that needs the one just proposed (intent, then put)
        self.uploads: list[tuple[str, str, str, dict[int, str]]] = []
        self.versions: list[tuple[str, str, bytes]] = []
        self.blobs: list[bytes] = []

    def next(self, meta: MetadataMachine | None) -> bytes:
        self.n += 1
        self.now += self.rng.randint(1, 50)
        if self.follow and self.rng.random() < 0.8:
            return self.follow.pop(0)
        if self.rng.random() < 0.25:
            return self._group(meta)
        return self._make(meta)

    def _group(self, meta: MetadataMachine | None) -> bytes:
        """Up to four commands in one entry, as a leader groups the writes of one loop turn:
        the object-shard ones go in the group (in order), any other waits for its own entry."""
        members = []
        for _ in range(self.rng.randint(2, 4)):
            members.append(self.follow.pop(0) if self.follow else self._make(meta))
            self.n += 1
        grouped = [m for m in members if is_object_entry(m)]
        self.follow[:0] = [m for m in members if m not in grouped]
        return encode_group(grouped) if grouped else self.follow.pop(0)

    def _tag(self, cmd: c.Command) -> RequestTag | None:
        roll = self.rng.random()
        earlier = self.tags.setdefault(type(cmd).__name__, [])
        if roll < 0.15 and earlier:  # a client's retry, the command rebuilt by another leader
            return RequestTag(self.rng.choice(earlier), self.now)
        if roll < 0.6:
            earlier.append(f"req{self.n}/{type(cmd).__name__}/0")
            return RequestTag(earlier[-1], self.now)
        return None

    def _entry(self, target: str | int, cmd: c.Command) -> bytes:
        return encode_entry(target, cmd, None if isinstance(cmd, c.RecordIntent) else self._tag(cmd))

    def _blob(self) -> bytes:
        self.blobs.append(self.n.to_bytes(16, "big"))
        return self.blobs[-1]

    def _version(self) -> bytes:
        return (self.now << 16 | self.n & 0xFFFF).to_bytes(8, "big") + self.rng.randbytes(4)

    def _make(self, meta: MetadataMachine | None) -> bytes:
        rng = self.rng
        name = rng.choice(NAMES)
        live = meta.buckets.get(name) if meta is not None else None
        roll = rng.random()
        if name == "gamma" and live is not None:  # delete the bucket, PUT, or DELETE
            roll = rng.choice([0.0, 0.2, 0.5])
            if roll == 0.0:
                return self._entry(DELETE_BUCKET, c.DeleteBucket(name, live.id, self.now))
        if live is None or roll < 0.06:
            if live is not None and rng.random() < 0.5:
                return self._entry(DELETE_BUCKET, c.DeleteBucket(name, live.id, self.now))
            return self._entry(CATALOG, c.CreateBucket(name, f"{name}-{self.n}", "owner", "r1", self.now))
        if roll < 0.1:
            state = rng.choice([VersioningState.ENABLED, VersioningState.SUSPENDED])
            return self._entry(CATALOG, c.SetVersioning(name, state))
        if roll < 0.13:
            doc = rng.choice([None, '{"rules": 1}', '{"rules": 2}'])
            return self._entry(CATALOG, c.PutBucketConfig(name, "cors", doc, self.now))
        bid, key = live.id, rng.choice(KEYS)
        shard = shard_index(bid, key, SHARDS)
        enabled = live.versioning is VersioningState.ENABLED
        if roll < 0.45:  # PUT: its intent now, the version next
            blob = self._blob()
            intent = c.RecordIntent(bid, key, blob, 1, self.now + rng.choice([5, 10**7]))
            ref = BlobRef(blob, 1, 10, 1 << 20, 8, 4)
            version = self._version()
            self.versions.append((bid, key, version))
            attrs = ObjectAttrs(size=10, etag=f"e{self.n}", blobs=(ref,), owner_id="owner")
            put = c.PutVersion(
                bid, name, key, version, not enabled, attrs, self.now, None, rng.random() < 0.1
            )
            self.follow.append(self._entry(shard, put))
            return self._entry(shard, intent)
        if roll < 0.6:
            known = [v for b, k, v in self.versions if b == bid and k == key]
            vid = version_text(rng.choice(known)) if known and rng.random() < 0.4 else None
            cmd = c.DeleteVersion(bid, name, key, vid, live.versioning, self._version(), self.now, "owner")
            return self._entry(shard, cmd)
        if roll < 0.67:
            upload = f"up{self.n}"
            self.uploads.append((bid, key, upload, {}))
            attrs = ObjectAttrs(owner_id="owner")
            return self._entry(
                shard, c.CreateUpload(bid, name, key, upload, attrs, "", ChecksumType.COMPOSITE, self.now)
            )
        mine = [u for u in self.uploads if u[0] == bid]
        if roll < 0.8 and mine:
            ubid, ukey, upload, parts = rng.choice(mine)
            ushard = shard_index(ubid, ukey, SHARDS)
            if rng.random() < 0.7:  # a part: its intent now, the part next
                blob = self._blob()
                number = rng.randint(1, 3)
                parts[number] = f"p{self.n}"
                ref = BlobRef(blob, 1, PART, 1 << 20, 8, 4)
                part = c.RegisterPart(ubid, ukey, upload, number, PART, parts[number], (), (ref,), self.now)
                self.follow.append(self._entry(ushard, part))
                return self._entry(ushard, c.RecordIntent(ubid, ukey, blob, 1, self.now + 10**7))
            if rng.random() < 0.7:
                listed = tuple(CompletedPart(n, etag) for n, etag in sorted(parts.items()))
                done = c.CompleteUpload(
                    ubid, name, ukey, upload, listed, (), self._version(), not enabled, self.now
                )
                return self._entry(ushard, done)
            return self._entry(ushard, c.AbortUpload(ubid, ukey, upload, self.now))
        if roll < 0.9:
            tags = ((f"t{self.n % 3}", "v"),)
            return self._entry(shard, c.SetTags(bid, key, None, tags))
        acked = tuple(sorted(set(rng.sample(self.blobs, min(3, len(self.blobs))))))
        return self._entry(ALL_OBJECTS, c.AckGc(acked, self.now))


class MetadataSimulation(Simulation):
    def __init__(self, seed: int, n: int, weather: str, base: Path) -> None:
        self.base = base
        self.stores: dict[str, Store] = {}
        self.maker = CommandMaker(seed)
        self.wipes = 0
        self.power_losses = 0
        self.rows: dict[str, int] = {}  # the model's rows per table (what the run built)
        super().__init__(seed, n, WEATHER[weather])

    def new_machine(self, r: Replica) -> Machine:
        old = self.stores.pop(r.id, None)
        if old is not None:
            roll = self.maker.rng.random()
            if roll < 0.3 and isinstance(r.machine, MetaMachine):
                r.machine.lose_power(self.maker.rng)
                self.power_losses += 1
            _close(old)
            if roll > 0.8:  # the shard files are gone: rebuild from Raft state
                shutil.rmtree(self.base / r.id)
                self.wipes += 1
        self.stores[r.id] = Store.open(self.base / r.id, SHARDS, synchronous="OFF", mmap_mb=0)
        machine = MetaMachine(self.stores[r.id])
        if old is not None and r.store.snapshot is None:
            machine.meta.reset()  # as `python -m cairn.metadata` starts without a Raft snapshot
        return machine

    def next_command(self) -> bytes:
        leader = self.leader()
        machine = leader.machine if leader is not None else None
        return self.maker.next(machine.meta if isinstance(machine, MetaMachine) else None)

    def liveness_command(self) -> bytes:
        return encode_entry(CATALOG, c.CreateBucket(f"live-{self.seed}", "live", "owner", "r1", 1))

    def quiesce(self, budget: int = 400) -> None:
        """No more proposals; step until every replica applied everything committed."""
        self.clients_on = False
        for _ in range(budget):
            self.step()
            top = max(self.committed)
            if all(r.core is not None and r.machine.index == top for r in self.replicas.values()):
                return
        raise SafetyViolation(f"replicas did not apply the whole log within {budget} time units")

    def play(self) -> Store:
        """The run, the fault-free phase, the quiet period; then the model's store."""
        self.run(STEPS)
        self.heal_and_check_liveness()
        self.quiesce()
        return self.model()

    def model(self) -> Store:
        """One machine applying the committed entries in log order, in random batch sizes."""
        indices = sorted(self.committed)
        if indices != list(range(1, len(indices) + 1)):
            raise SafetyViolation("the committed log has gaps")
        store = Store.open(self.base / "model", SHARDS, synchronous="OFF", mmap_mb=0)
        machine = MetadataMachine(store)
        entries = [(i, self.committed[i][1]) for i in indices if self.committed[i][1]]
        while entries:
            size = self.rng.randint(1, 8)
            machine.apply_batch(entries[:size])
            entries = entries[size:]
        return store

    def close(self) -> None:
        for store in self.stores.values():
            _close(store)
        self.stores.clear()


def run_seed(seed: int, base: Path, n: int = 3, weather: str = "calm") -> MetadataSimulation:
    sim = MetadataSimulation(seed, n, weather, base)
    try:
        model = sim.play()
        try:
            expected = dump(model)
            for line in (line for shard in expected for line in shard):
                if line.startswith("INSERT INTO"):
                    table = line.split('"')[1]
                    sim.rows[table] = sim.rows.get(table, 0) + 1
            for rid, store in sim.stores.items():
                got = dump(store)
                for shard, (want, have) in enumerate(zip(expected, got, strict=True)):
                    if want != have:
                        diff = sorted(set(want) ^ set(have))[:6]
                        raise SafetyViolation(f"{rid} shard {shard} differs from the model: {diff}")
        finally:
            _close(model)
    except Exception as exc:
        trace = "\n".join(sim.trace[-20:])
        raise AssertionError(
            f"metadata simulation failed, {weather} faults, seed {seed} at t={sim.now}: {exc}\n"
            f"replay: CAIRN_META_SIM_SEED={seed} .venv/bin/python -m pytest -q "
            f"tests/unit/metadata/test_raft_simulation.py\nlast events:\n{trace}"
        ) from exc
    finally:
        sim.close()
    return sim


@pytest.mark.parametrize("weather", ["calm", "stormy"])
def test_every_replica_matches_a_single_machine_applying_the_log(weather: str, tmp_path: Path) -> None:
    seeds = range(int(REPLAY), int(REPLAY) + 1) if REPLAY is not None else range(SEEDS)
    applied = wipes = restarts = groups = 0
    rows: dict[str, int] = {}
    for seed in seeds:
        sim = run_seed(seed, tmp_path / f"{weather}-{seed}", weather=weather)
        applied += len(sim.committed)
        groups += sum(data.startswith(b"group\n") for _, data in sim.committed.values())
        wipes += sim.wipes
        restarts += sum(r.restarts - 1 for r in sim.replicas.values())
        for table, count in sim.rows.items():
            rows[table] = rows.get(table, 0) + count
    if REPLAY is None:
        # the runs must exercise what they claim to
        assert applied > 20 * len(seeds), applied
        assert restarts > len(seeds) and wipes > 0, (restarts, wipes)
        assert groups > len(seeds), groups
        for table in ("buckets", "versions", "live", "uploads", "gc_queue", "requests"):
            assert rows.get(table, 0) > 0, (table, rows)
    print(
        f"{weather}: {len(seeds)} seeds, {applied} entries committed ({groups} groups), {restarts} restarts, {wipes} wiped, rows {rows}"
    )


def test_a_diverging_replica_is_caught(tmp_path: Path) -> None:
    """The comparison is not vacuous: one replica that skips a committed PUT fails it."""

    class Lossy(MetaMachine):
        def applied_all(self) -> None:
            self._batch = [(i, d) for i, d in self._batch if b"PutVersion" not in d or i % 5]
            super().applied_all()

    class Broken(MetadataSimulation):
        def __init__(self, seed: int, n: int, weather: str, base: Path) -> None:
            super().__init__(seed, n, weather, base)
            self.snap_every = 1 << 30  # no snapshot: one installed on n2 would repair its loss

        def new_machine(self, r: Replica) -> Machine:
            machine = super().new_machine(r)
            if r.id == "n2":
                assert isinstance(machine, MetaMachine)
                machine.__class__ = Lossy
            return machine

    failures = 0
    for seed in range(3):
        sim = Broken(seed, 3, "calm", tmp_path / str(seed))
        try:
            model = sim.play()
            try:
                failures += dump(model) != dump(sim.stores["n2"])
            finally:
                _close(model)
        finally:
            sim.close()
    assert failures >= 2


def test_a_restart_without_a_snapshot_after_a_power_loss_rebuilds_exactly(tmp_path: Path) -> None:
    """An object shard that lost its last transaction while the catalog kept a later one
    (synchronous=NORMAL, power loss): replayed onto the shards as found, the intent for the
    bucket deleted later is refused (the cache says the bucket is gone); `reset` first (what a
    start without a Raft snapshot does) rebuilds what the replica had."""
    shard = shard_index("id1", "k", SHARDS)
    log = [
        encode_entry(CATALOG, c.CreateBucket("b", "id1", "o", "r", 1)),
        encode_entry(shard, c.RecordIntent("id1", "k", b"\x01" * 16, 1, 10**13)),
        encode_entry(DELETE_BUCKET, c.DeleteBucket("b", "id1", 5)),
    ]
    store = Store.open(tmp_path, SHARDS)
    machine = MetadataMachine(store)
    before = store.objects[shard].call(lambda conn: conn.serialize())
    for index, entry in enumerate(log, 1):
        machine.apply(index, entry)
    had = dump(store)
    for fix in (False, True):
        store.objects[shard].call(lambda conn: _restore_image(conn, before))  # the lost transaction
        _close(store)
        store = Store.open(tmp_path, SHARDS)
        machine = MetadataMachine(store)
        if fix:
            machine.reset()
        machine.apply_batch(list(enumerate(log, 1)))
        assert (dump(store) == had) is fix
    _close(store)
