"""Shared state of the metadata service: the store, the replicated machine, the clock, the ids.

Every mutation is proposed through the `Replicator` (one Raft group, `replicated.py`) and its
result taken from the local `MetadataMachine`; a follower answers NotLeader (with the leader's
address) and a group without a majority MetadataUnavailable. The bucket cache is the machine's
(updated by catalog entries as they apply, on every replica). Ordering object writes against
DeleteBucket needs no lock: DeleteBucket is one log entry checking emptiness at its position,
and object entries for a deleted bucket id are refused when they apply.

Reads are linearizable: `linearize()` runs the Raft read barrier (leader only: its lease, else a
read-index round) before a read. Writes build their commands from the leader's state; `leading()` makes sure, once per
term, that a new leader has applied everything committed before it took over.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from cairn.metadata import commands as c
from cairn.metadata.dedup import RequestTag
from cairn.metadata.errors import (
    InvalidArgument,
    KeyTooLongError,
    MetadataUnavailable,
    NoSuchBucket,
    NotLeader,
)
from cairn.metadata.models import Bucket
from cairn.metadata.replicated import CATALOG, Decoded, MetadataMachine, encode_entry, encode_group
from cairn.metadata.store import Store, shard_index
from cairn.metadata.versionids import IdIssuer, wall_clock_ms
from cairn.replication import NoQuorum, Replicator, SingleNodeReplicator
from cairn.replication import NotLeader as RaftNotLeader

MAX_KEY_BYTES = 1024


class _Call:
    """One logical call's request id, and how many commands of each type it has proposed."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.counts: dict[str, int] = {}

    def key_for(self, command: c.Command) -> str:
        """The dedup key of the call's next `command`: `<request id>/<command type>/<n>`, n
        counting that type within the call (a call may propose several commands, e.g. one
        PutBatch per shard)."""
        name = type(command).__name__
        n = self.counts.get(name, 0)
        self.counts[name] = n + 1
        return f"{self.request_id}/{name}/{n}"


_CALL: ContextVar[_Call | None] = ContextVar("metadata_call", default=None)


@contextmanager
def request_id(value: str) -> Iterator[None]:
    """Run the calls inside as the request `value` (the RPC's request id; '' for none): their
    writes carry it in their log entries, so a retry with the same id gets the first results
    (`dedup.py`). Write intents carry none: recording one again is harmless."""
    token = _CALL.set(_Call(value) if value else None)
    try:
        yield
    finally:
        _CALL.reset(token)


def current_request_id() -> str:
    call = _CALL.get()
    return call.request_id if call is not None else ""


class ServiceCore:
    def __init__(
        self,
        store: Store,
        *,
        clock_ms: Callable[[], int] = wall_clock_ms,
        issuer: IdIssuer | None = None,
        intent_ttl_s: float = 3600.0,
        region: str = "us-east-1",
        account_id: str = "000000000000",
        machine: MetadataMachine | None = None,
        replicator: Replicator | None = None,
        peers: Mapping[str, str] | None = None,
        propose_timeout_s: float = 5.0,
    ) -> None:
        self.store = store
        self.machine = machine or MetadataMachine(store)
        self.replicator: Replicator = replicator or SingleNodeReplicator(self.machine)
        self.peers = dict(peers or {})
        self.propose_timeout_s = propose_timeout_s
        self._group = _Group(self)
        self._fresh_term = -1
        self.clock_ms = clock_ms
        self.issuer = issuer or IdIssuer(clock_ms)
        self.intent_ttl_s = intent_ttl_s
        self.region = region
        self.account_id = account_id

    async def close(self) -> None:
        await self.store.close()

    def now_ms(self) -> int:
        return self.clock_ms()

    def bucket(self, name: str) -> Bucket:
        found = self.machine.buckets.get(name)
        if found is None:
            raise NoSuchBucket(f"bucket {name!r} does not exist")
        return found

    def all_buckets(self) -> list[Bucket]:
        return sorted(self.machine.buckets.values(), key=lambda b: b.name)

    # -- replication ---------------------------------------------------------------------------
    def _leader_error(self, exc: RaftNotLeader) -> NotLeader:
        addr = exc.leader_addr or (self.peers.get(exc.leader_id, "") if exc.leader_id else "")
        return NotLeader(f"not the metadata leader (leader: {exc.leader_id or 'unknown'})", leader_addr=addr)

    async def linearize(self) -> None:
        """The read barrier (the leader's lease, else a read-index round; cairn/raft/README.md):
        after it, this replica's state holds every acknowledged write."""
        try:
            await self.replicator.read_barrier(self.propose_timeout_s)
        except RaftNotLeader as exc:
            raise self._leader_error(exc) from None
        except NoQuorum as exc:
            raise MetadataUnavailable(f"metadata group: {exc}") from None

    async def leading(self) -> None:
        """Before a write: refuse on a follower; on a new leader, wait (once per term) until it
        has applied every entry committed before it took over."""
        status = self.replicator.leadership()
        if status.role != "leader":
            raise self._leader_error(RaftNotLeader(status.leader_id, None))
        if status.term != self._fresh_term:
            await self.linearize()
            self._fresh_term = status.term

    async def write(self, target: str | int, command: c.Command) -> Any:
        """Propose `command` for `target` and return its result (or raise its domain error).
        Object-shard commands wait for the end of the loop turn and go in one entry with the
        others proposed in that turn (`_Group`)."""
        call = _CALL.get()
        tag = None
        if call is not None and not isinstance(command, c.RecordIntent):
            tag = RequestTag(call.key_for(command), self.now_ms())
        entry = encode_entry(target, command, tag)
        if isinstance(target, int):
            return await self._group.add(entry, (str(target), command, tag))
        results = await self._propose(entry, [(str(target), command, tag)])
        return self.machine.take(results)

    async def _propose(self, entry: bytes, members: list[Decoded]) -> bytes:
        """Replicate `entry` (its decoded `members`) and return what its apply returned."""
        try:
            with self.machine.proposing(entry, members):
                return await self.replicator.propose(entry, self.propose_timeout_s)
        except RaftNotLeader as exc:
            raise self._leader_error(exc) from None
        except NoQuorum as exc:
            raise MetadataUnavailable(f"metadata group: {exc}") from None

    async def write_catalog(self, command: c.Command) -> Any:
        return await self.write(CATALOG, command)

    async def write_object(self, bucket_id: str, key: str, command: c.Command) -> Any:
        return await self.write(shard_index(bucket_id, key, len(self.store.objects)), command)


class _Group:
    """Object-shard writes proposed in one turn of the event loop, proposed as one group entry
    (`replicated.encode_group`) at the turn's end: a Batch RPC's calls, and concurrent callers'
    writes, cost the Raft group one entry instead of one each. Every member keeps its own
    request tag (exactly-once holds per member) and gets its own result or domain error; a
    failure to commit (NotLeader, MetadataUnavailable) is every member's. A write arriving
    alone is proposed as its own entry. A group holds at most `MAX_MEMBERS` members and
    `MAX_BYTES` of entries; more go in further groups."""

    MAX_MEMBERS = 256
    MAX_BYTES = 1 << 20

    def __init__(self, core: ServiceCore) -> None:
        self._core = core
        self._waiting: list[tuple[bytes, Decoded, asyncio.Future[Any]]] = []

    def add(self, entry: bytes, member: Decoded) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        if not self._waiting:
            loop.call_soon(self._flush)
        future: asyncio.Future[Any] = loop.create_future()
        self._waiting.append((entry, member, future))
        return future

    def _flush(self) -> None:
        waiting, self._waiting = self._waiting, []
        group: list[tuple[bytes, Decoded, asyncio.Future[Any]]] = []
        size = 0
        for item in waiting:
            if group and (len(group) == self.MAX_MEMBERS or size + len(item[0]) > self.MAX_BYTES):
                _spawn(self._commit(group))
                group, size = [], 0
            group.append(item)
            size += len(item[0])
        if group:
            _spawn(self._commit(group))

    async def _commit(self, group: list[tuple[bytes, Decoded, asyncio.Future[Any]]]) -> None:
        if len(group) == 1:
            entry = group[0][0]
        else:
            entry = encode_group([e for e, _, _ in group])
        try:
            applied = await self._core._propose(entry, [m for _, m, _ in group])
        except Exception as exc:  # not committed (no leader, no quorum): every member's failure
            results: list[Any] = [exc] * len(group)
        except BaseException:
            for _, _, future in group:
                future.cancel()
            raise
        else:
            results = self._core.machine.take_each(applied, len(group))
        for (_, _, future), result in zip(group, results, strict=True):
            if future.done():  # the caller gave up (cancelled); the command still applied
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)


_TASKS: set[asyncio.Task[None]] = set()


def _spawn(coro: Coroutine[Any, Any, None]) -> None:
    """Run `coro` as a task that is kept referenced until it ends."""
    task = asyncio.get_running_loop().create_task(coro)
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)


_CONFIG_KIND = re.compile(r"[a-z][a-z0-9-]{0,63}")


def check_config_kind(kind: str) -> None:
    """A bucket configuration kind is a short lower-case name (`cors`, `lifecycle`, ...)."""
    if not _CONFIG_KIND.fullmatch(kind):
        raise InvalidArgument(f"invalid bucket configuration kind {kind!r}")


def check_key(key: str) -> None:
    """S3 object keys are 1..1024 bytes of UTF-8."""
    try:
        size = len(key.encode())
    except UnicodeEncodeError as exc:
        raise InvalidArgument("object keys must be valid UTF-8") from exc
    if size == 0:
        raise InvalidArgument("object keys must not be empty")
    if size > MAX_KEY_BYTES:
        raise KeyTooLongError("Your key is too long")
