"""Byte formats of the Raft log file (`raft.wal`) and the snapshot file (`snapshot`).

Log file: a 12-byte header (`CRNRAFTW`, u16 version = 1, u16 zero), then records, each
`u32 body length | u32 crc32c(body) | body` (big-endian). The body starts with a kind byte:

- 1 ENTRY:      u64 index, u64 term, u8 entry type, data (rest of the body);
- 2 HARDSTATE:  u64 term, u64 commit, vote id in UTF-8 (rest; empty = no vote);
- 3 SNAPMARK:   u64 index, u64 term: entries up to this index live in the snapshot file.

Replay rules: the last HARDSTATE wins; an ENTRY whose index is at or below the last one read
replaces the tail from that index (a truncation is just a newer append).

Damage: only the LAST record may be a torn write (a crash mid-append, never acknowledged): the
file ends inside its header, its declared length runs past the end of the file (and no intact
record starts anywhere after it), or the file turns to zeros from a 512-byte boundary inside it
to the end (space the filesystem allocated but the write never filled). Any other short,
zero-length or checksum-failing record is damage to acknowledged state (later hard states with
term and vote, entries that counted towards a majority): `scan_records` raises CorruptFile and
the replica must not start on that file.

Snapshot file (the manifest of the current snapshot directory, snapfiles.py): `CRNRAFTS`, u16
version = 2, u16 zero, u64 index, u64 term, u32 membership length, membership (voters
comma-separated, `|`, outgoing voters comma-separated), u32 file count, then per file u16 name
length, name (UTF-8), u64 size, u32 crc32c of the file; u32 crc32c of everything before it.
Version 1 (written before snapshots were directories) had, after the membership, u64 data length
and the state itself; it is still read, and converted once into a directory. A bad snapshot file
is an error: it holds committed state that exists nowhere else on this replica.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cairn.checksums import crc32c
from cairn.raft.messages import Entry, EntryType, HardState, Membership, Snapshot, SnapshotFile

WAL_MAGIC = b"CRNRAFTW"
SNAP_MAGIC = b"CRNRAFTS"
SNAP_VERSION = 2
VERSION = 1
HEADER = struct.Struct(">8sHH")
_REC = struct.Struct(">II")
_ENTRY = struct.Struct(">BQQB")
_HARD = struct.Struct(">BQQ")
_MARK = struct.Struct(">BQQ")
_SNAP_HEAD = struct.Struct(">8sHHQQI")
_FILE = struct.Struct(">QI")  # a manifest entry after its name: size, crc32c
KIND_ENTRY, KIND_HARDSTATE, KIND_SNAPMARK = 1, 2, 3
SECTOR = 512  # a torn write leaves whole sectors unwritten (zeros)


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
    """Decode the records of a whole log file; returns them and the length of the valid prefix.

    Bytes past the valid prefix are a torn last record; damage anywhere else raises CorruptFile."""
    if len(buf) < HEADER.size:
        raise CorruptFile(f"log file is {len(buf)} bytes, shorter than its {HEADER.size}-byte header")
    magic, version, reserved = HEADER.unpack_from(buf)
    if magic != WAL_MAGIC or version != VERSION or reserved != 0:
        raise CorruptFile(f"not a Raft log file (magic {magic!r}, version {version}, reserved {reserved})")
    out: list[Entry | HardState | SnapMark] = []
    pos = HEADER.size
    while pos < len(buf):
        end = _intact_end(buf, pos)
        if end is None:
            if _is_torn_tail(buf, pos):
                break
            raise CorruptFile(
                f"damaged record at offset {pos} of {len(buf)} (short or failing its checksum) "
                "with more log after it: not a torn write"
            )
        out.append(_decode_body(buf[pos + _REC.size : end], pos))
        pos = end
    return out, pos


def _intact_end(buf: bytes, pos: int) -> int | None:
    """End offset of the record at `pos` if it is complete and passes its checksum, else None."""
    if pos + _REC.size > len(buf):
        return None
    length, crc = _REC.unpack_from(buf, pos)
    end = pos + _REC.size + length
    if length < 1 or end > len(buf) or crc32c(buf[pos + _REC.size : end]) != crc:
        return None
    return end


def _is_torn_tail(buf: bytes, pos: int) -> bool:
    """Whether the damaged record at `pos` can be a crash mid-append (see the module docstring)."""
    if pos + _REC.size > len(buf) or not buf[pos:].strip(b"\0"):
        return True  # the header is cut short, or nothing of the write reached the disk
    length, _ = _REC.unpack_from(buf, pos)
    end = pos + _REC.size + length
    if end > len(buf):
        # Cut short, unless a flipped bit in the length field hides intact records after it.
        return not any(_intact_end(buf, q) is not None for q in range(pos + 1, len(buf) - _REC.size + 1))
    zeros_from = len(buf.rstrip(b"\0"))
    boundary = -(-zeros_from // SECTOR) * SECTOR  # first sector that is zero to the end of the file
    return pos < boundary < max(end, pos + _REC.size)


def _decode_body(body: bytes, pos: int) -> Entry | HardState | SnapMark:
    kind = body[0]
    if kind == KIND_ENTRY and len(body) >= _ENTRY.size:
        _, index, term, etype = _ENTRY.unpack_from(body)
        return Entry(index, term, EntryType(etype), bytes(body[_ENTRY.size :]))
    if kind == KIND_HARDSTATE and len(body) >= _HARD.size:
        _, term, commit = _HARD.unpack_from(body)
        return HardState(term, bytes(body[_HARD.size :]).decode() or None, commit)
    if kind == KIND_SNAPMARK and len(body) == _MARK.size:
        _, index, term = _MARK.unpack_from(body)
        return SnapMark(index, term)
    raise CorruptFile(f"unknown record kind {kind} at offset {pos}")


def _encode_membership(m: Membership) -> bytes:
    return (",".join(sorted(m.voters)) + "|" + ",".join(sorted(m.outgoing))).encode()


def _decode_membership(raw: bytes) -> Membership:
    voters, _, outgoing = raw.decode().partition("|")
    return Membership(
        frozenset(v for v in voters.split(",") if v), frozenset(o for o in outgoing.split(",") if o)
    )


def encode_snapshot(s: Snapshot) -> bytes:
    """The `snapshot` file (version 2): the manifest of a snapshot directory, no state data."""
    members = _encode_membership(s.membership)
    parts = [_SNAP_HEAD.pack(SNAP_MAGIC, SNAP_VERSION, 0, s.index, s.term, len(members)), members]
    parts.append(struct.pack(">I", len(s.files)))
    for f in s.files:
        name = f.name.encode()
        parts += [struct.pack(">H", len(name)), name, _FILE.pack(f.size, f.crc32c)]
    body = b"".join(parts)
    return body + struct.pack(">I", crc32c(body))


def decode_snapshot(buf: bytes) -> Snapshot:
    """A `snapshot` file: version 2 (a manifest), or version 1 (the state inline, in `data`:
    written before snapshots became directories; FileLogStore.load converts it)."""
    if len(buf) < _SNAP_HEAD.size + 8:
        raise CorruptFile("snapshot file too short")
    magic, version, _, index, term, mlen = _SNAP_HEAD.unpack_from(buf)
    if magic != SNAP_MAGIC or version not in (1, SNAP_VERSION):
        raise CorruptFile(f"not a Raft snapshot file (magic {magic!r}, version {version})")
    (crc,) = struct.unpack_from(">I", buf, len(buf) - 4)
    if crc32c(buf[:-4]) != crc:
        raise CorruptFile("snapshot file fails its checksum")
    pos = _SNAP_HEAD.size
    membership = _decode_membership(buf[pos : pos + mlen])
    pos += mlen
    try:
        if version == 1:
            (dlen,) = struct.unpack_from(">Q", buf, pos)
            pos += 8
            if pos + dlen != len(buf) - 4:
                raise CorruptFile("snapshot data length does not match the file")
            return Snapshot(index, term, membership, bytes(buf[pos : pos + dlen]))
        (count,) = struct.unpack_from(">I", buf, pos)
        pos += 4
        files = []
        for _ in range(count):
            (nlen,) = struct.unpack_from(">H", buf, pos)
            name = bytes(buf[pos + 2 : pos + 2 + nlen]).decode()
            size, crc = _FILE.unpack_from(buf, pos + 2 + nlen)
            files.append(SnapshotFile(name, size, crc))
            pos += 2 + nlen + _FILE.size
    except struct.error as err:
        raise CorruptFile(f"snapshot manifest cut short: {err}") from None
    if pos != len(buf) - 4:
        raise CorruptFile("snapshot manifest length does not match the file")
    return Snapshot(index, term, membership, files=tuple(files))
