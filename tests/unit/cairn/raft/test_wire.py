"""Raft messages survive the protobuf round trip, and peer batches stay within gRPC limits."""

from __future__ import annotations

from collections import deque

from cairn.raft.client import message_from_pb, message_to_pb
from cairn.raft.messages import Entry, EntryType, Message, MessageType
from cairn.raft.transport import BATCH_BYTES, BATCH_MESSAGES, _take_batch


def test_every_field_round_trips() -> None:
    m = Message(
        MessageType.APPEND,
        "a",
        "b",
        term=7,
        log_term=6,
        index=41,
        entries=(Entry(42, 7, EntryType.NORMAL, b"cmd"), Entry(43, 7, EntryType.NOOP)),
        commit=40,
        reject=True,
        reject_hint=39,
        hint_term=5,
        context=b"\x00\x01",
    )
    assert message_from_pb(message_to_pb(m)) == m
    wire = message_to_pb(m).SerializeToString()
    assert len(wire) < 100


def test_batches_are_bounded_by_count_and_bytes() -> None:
    small = deque(Message(MessageType.HEARTBEAT, "a", "b", term=1) for _ in range(3000))
    assert len(_take_batch(small)) == BATCH_MESSAGES
    big_entry = Entry(1, 1, data=b"x" * (3 << 20))
    big = deque(Message(MessageType.APPEND, "a", "b", term=1, entries=(big_entry,)) for _ in range(10))
    batch = _take_batch(big)
    assert 1 <= len(batch) and sum(len(e.data) for m in batch for e in m.entries) <= BATCH_BYTES
    assert len(batch) + len(big) == 10
    huge = deque(
        [Message(MessageType.APPEND, "a", "b", term=1, entries=(Entry(1, 1, data=b"y" * (9 << 20)),))]
    )
    assert len(_take_batch(huge)) == 1  # one oversized message still goes alone
