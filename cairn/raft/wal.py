"""Byte formats of the Raft log file (`raft.wal`) and the snapshot file (`snapshot`).

Log file: a 12-byte header (`CRNRAFTW`, u16 version = 1, u16 zero), then records, each
`u32 body length | u32 crc32c(body) | body` (big-endian). The body starts with a kind byte:

- 1 ENTRY:      u64 index, u64 term, u8 entry type, data (rest of the body);
- 2 HARDSTATE:  u64 term, u64 commit, vote id in UTF-8 (rest; empty = no vote);
- 3 SNAPMARK:   u64 index, u64 term: entries up to this index live in the snapshot file.

Replay rules: the last HARDSTATE wins; an ENTRY whose index is at or below the last one read
replaces the tail from that index (a truncation is just a newer append). A record that is cut
short or fails its checksum ends the log (a torn write that was never acknowledged).

Snapshot file: `CRNRAFTS`, u16 version = 1, u16 zero, u64 index, u64 term, u32 membership
length, membership (voters comma-separated, `|`, outgoing voters comma-separated), u64 data
length, data, u32 crc32c of everything before it. A bad snapshot file is an error: it holds
committed state that exists nowhere else on this replica.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from cairn.checksums import crc32c
from cairn.raft.messages import Entry, EntryType, HardState, Membership, Snapshot

WAL_MAGIC = b"CRNRAFTW"
SNAP_MAGIC = b"CRNRAFTS"
VERSION = 1
HEADER = struct.Struct(">8sHH")
_REC = struct.Struct(">II")
_ENTRY = struct.Struct(">BQQB")
_HARD = struct.Struct(">BQQ")
_MARK = struct.Struct(">BQQ")
_SNAP_HEAD = struct.Struct(">8sHHQQI")
KIND_ENTRY, KIND_HARDSTATE, KIND_SNAPMARK = 1, 2, 3


class CorruptFile(Exception):
    """A Raft file is not in the expected format or fails its checksum."""


@dataclass(frozen=True, slots=True)
class SnapMark:
    index: int
    term: int


def wal_header() -> bytes:
    return HEADER.pack(WAL_MAGIC, VERSION, 0)


def _record(body: bytes) -> bytes:
    return _REC.pack(len(body), crc32c(body)) + body


def encode_entry(e: Entry) -> bytes:
    return _record(_ENTRY.pack(KIND_ENTRY, e.index, e.term, int(e.type)) + e.data)


def encode_hard_state(hs: HardState) -> bytes:
    return _record(_HARD.pack(KIND_HARDSTATE, hs.term, hs.commit) + (hs.vote or "").encode())


def encode_snapmark(index: int, term: int) -> bytes:
    return _record(_MARK.pack(KIND_SNAPMARK, index, term))


def scan_records(buf: bytes) -> tuple[list[Entry | HardState | SnapMark], int]:
    """Decode the records of a whole log file; returns them and the length of the valid prefix."""
    if len(buf) < HEADER.size:
        return [], 0
    magic, version, _ = HEADER.unpack_from(buf)
    if magic != WAL_MAGIC or version != VERSION:
        raise CorruptFile(f"not a Raft log file (magic {magic!r}, version {version})")
    out: list[Entry | HardState | SnapMark] = []
    pos = HEADER.size
    for item, end in _iter_records(buf, pos):
        out.append(item)
        pos = end
    return out, pos


def _iter_records(buf: bytes, pos: int) -> Iterator[tuple[Entry | HardState | SnapMark, int]]:
    while pos + _REC.size <= len(buf):
        length, crc = _REC.unpack_from(buf, pos)
        start, end = pos + _REC.size, pos + _REC.size + length
        if end > len(buf) or length < 1:
            return
        body = buf[start:end]
        if crc32c(body) != crc:
            return
        kind = body[0]
        if kind == KIND_ENTRY and length >= _ENTRY.size:
            _, index, term, etype = _ENTRY.unpack_from(body)
            yield Entry(index, term, EntryType(etype), bytes(body[_ENTRY.size :])), end
        elif kind == KIND_HARDSTATE and length >= _HARD.size:
            _, term, commit = _HARD.unpack_from(body)
            vote = bytes(body[_HARD.size :]).decode() or None
            yield HardState(term, vote, commit), end
        elif kind == KIND_SNAPMARK and length == _MARK.size:
            _, index, term = _MARK.unpack_from(body)
            yield SnapMark(index, term), end
        else:
            raise CorruptFile(f"unknown record kind {kind} at offset {pos}")
        pos = end


def _encode_membership(m: Membership) -> bytes:
    return (",".join(sorted(m.voters)) + "|" + ",".join(sorted(m.outgoing))).encode()


def _decode_membership(raw: bytes) -> Membership:
    voters, _, outgoing = raw.decode().partition("|")
    return Membership(
        frozenset(v for v in voters.split(",") if v), frozenset(o for o in outgoing.split(",") if o)
    )


def encode_snapshot(s: Snapshot) -> bytes:
    members = _encode_membership(s.membership)
    head = _SNAP_HEAD.pack(SNAP_MAGIC, VERSION, 0, s.index, s.term, len(members))
    body = head + members + struct.pack(">Q", len(s.data)) + s.data
    return body + struct.pack(">I", crc32c(body))


def decode_snapshot(buf: bytes) -> Snapshot:
    if len(buf) < _SNAP_HEAD.size + 12:
        raise CorruptFile("snapshot file too short")
    magic, version, _, index, term, mlen = _SNAP_HEAD.unpack_from(buf)
    if magic != SNAP_MAGIC or version != VERSION:
        raise CorruptFile(f"not a Raft snapshot file (magic {magic!r}, version {version})")
    (crc,) = struct.unpack_from(">I", buf, len(buf) - 4)
    if crc32c(buf[:-4]) != crc:
        raise CorruptFile("snapshot file fails its checksum")
    pos = _SNAP_HEAD.size
    membership = _decode_membership(buf[pos : pos + mlen])
    pos += mlen
    (dlen,) = struct.unpack_from(">Q", buf, pos)
    pos += 8
    if pos + dlen != len(buf) - 4:
        raise CorruptFile("snapshot data length does not match the file")
    return Snapshot(index, term, membership, bytes(buf[pos : pos + dlen]))
