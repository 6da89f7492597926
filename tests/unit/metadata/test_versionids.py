from __future__ import annotations

from cairn.metadata import versionids
from cairn.metadata.versionids import IdIssuer


def millis_of(raw: bytes) -> int:
    """The millisecond an id was issued in: its first 48 bits (the format in versionids)."""
    return int.from_bytes(raw[:6], "big")


def test_ids_issued_in_one_millisecond_are_unique_and_ordered() -> None:
    issuer = IdIssuer(lambda: 1_000)
    ids = [issuer.issue_text() for _ in range(5000)]
    assert len(set(ids)) == 5000
    assert ids == sorted(ids)


def test_ids_keep_increasing_when_the_clock_goes_backwards() -> None:
    now = [5_000]
    issuer = IdIssuer(lambda: now[0])
    first = issuer.issue()
    now[0] = 4_000
    second = issuer.issue()
    assert second > first
    assert millis_of(second) == 5_000


def test_counter_overflow_moves_to_the_next_millisecond() -> None:
    issuer = IdIssuer(lambda: 7)
    ids = [issuer.issue() for _ in range(0x10002)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert millis_of(ids[-1]) == 8


def test_text_round_trip_and_order_match_bytes() -> None:
    issuer = IdIssuer(lambda: 123_456_789)
    raw = [issuer.issue() for _ in range(100)]
    text = [versionids.encode(r) for r in raw]
    assert [versionids.decode(t) for t in text] == raw
    assert all(len(t) == 20 for t in text)
    assert sorted(text) == [versionids.encode(r) for r in sorted(raw)]


def test_malformed_ids_are_rejected() -> None:
    for bad in ("", "null", "0" * 19, "0" * 21, "I" * 20, "0" * 19 + "1"):
        assert not versionids.is_valid(bad)


def test_inverted_ids_sort_newest_first() -> None:
    issuer = IdIssuer(lambda: 1)
    a, b = issuer.issue(), issuer.issue()
    assert versionids.invert(b) < versionids.invert(a)
    assert versionids.invert(versionids.invert(a)) == a
