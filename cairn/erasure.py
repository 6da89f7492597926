"""Reed-Solomon erasure codec on stripes, and the layout arithmetic every service shares.

A blob of N bytes is cut into stripes of `stripe_size` bytes (the last one shorter; a 0-byte blob
has one empty stripe so every shard exists). Each stripe is encoded into k data pieces plus m
parity pieces with pyeclib's bundled ISA-L backend (`isa_l_rs_cauchy`: Reed-Solomon over GF(2^8),
polynomial 0x11d, Cauchy generator rows 1/(i ^ j), MDS for any k and m). Shard i of a blob is the
concatenation of piece i of every stripe, in stripe order.

A piece is one pyeclib fragment: an 80-byte header (index, payload size, the stripe's length, a
header checksum) followed by ceil(n / k) payload bytes for a stripe of n > 0 bytes (0 for the empty
stripe). The data pieces' payloads concatenated are the stripe, zero-padded to k * ceil(n / k).
Because the header stays inside the piece, any k pieces of a stripe decode on their own.

Invariants:
- Every piece of a stripe has the same length, `piece_len(stripe_len)`; every stripe but the last is
  full, so stripe s starts at byte s * piece_len(stripe_size) of every shard.
- `decode_stripe` returns exactly `stripe_len` bytes or raises: it checks each piece's header
  against its slot and stripe length and never returns bytes it could not account for.
- Encoding and decoding hold one stripe at a time; the codec is safe to call from many threads
  (one pyeclib driver per thread).
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from pyeclib.ec_iface import ECDriver, ECDriverError

#: Bytes of pyeclib/liberasurecode header at the front of every piece.
HEADER_LEN = 80
#: The pyeclib backend: ISA-L Reed-Solomon with a Cauchy generator matrix.
EC_TYPE = "isa_l_rs_cauchy"
#: liberasurecode's header magic (fragment_header_t.magic, at byte 59).
_HEADER_MAGIC = 0xB0C5ECC
# idx u32, size u32, backend metadata size u32, orig_data_size u64 (little-endian, packed).
_HEADER_FIELDS = struct.Struct("<IIIQ")
_MAGIC_FIELD = struct.Struct("<I")
_MAGIC_OFFSET = 59
#: ISA-L's limit on k + m for GF(2^8) Cauchy matrices as built by liberasurecode.
_MAX_PIECES = 32


class ErasureError(Exception):
    """Base class of the codec's errors."""


class NotEnoughPieces(ErasureError):
    """Fewer than k valid pieces were given for a stripe: it cannot be decoded."""


class PieceMismatch(ErasureError):
    """A piece does not belong where it was given (wrong slot, wrong stripe length, bad header)."""


@dataclass(frozen=True, slots=True)
class StripeLayout:
    """How a blob is cut into stripes, pieces and shards. A pure value: no codec state."""

    k: int = 8
    """Data pieces per stripe."""
    m: int = 4
    """Parity pieces per stripe: any m pieces of a stripe may be lost."""
    stripe_size: int = 1 << 20
    """Bytes of blob per stripe (the last stripe of a blob is shorter)."""

    def __post_init__(self) -> None:
        if self.k < 1 or self.m < 1:
            raise ValueError(f"k and m must be at least 1, got k={self.k} m={self.m}")
        if self.k + self.m > _MAX_PIECES:
            raise ValueError(f"k + m must be at most {_MAX_PIECES}, got {self.k + self.m}")
        if self.stripe_size < self.k:
            raise ValueError(f"stripe_size ({self.stripe_size}) must be at least k ({self.k})")

    @property
    def n(self) -> int:
        """Pieces (and shards) per stripe: k + m."""
        return self.k + self.m

    def num_stripes(self, blob_size: int) -> int:
        """Stripes of a blob of `blob_size` bytes (at least one)."""
        _check_size(blob_size)
        return max(1, -(-blob_size // self.stripe_size))

    def stripe_len(self, blob_size: int, stripe: int) -> int:
        """Bytes of blob in stripe `stripe`."""
        self._check_stripe(blob_size, stripe)
        return min(self.stripe_size, blob_size - stripe * self.stripe_size)

    def stripe_start(self, stripe: int) -> int:
        """Offset in the blob of the first byte of stripe `stripe`."""
        return stripe * self.stripe_size

    def piece_len(self, stripe_len: int) -> int:
        """Length (header included) of each of the k + m pieces of a stripe of `stripe_len` bytes."""
        if not 0 <= stripe_len <= self.stripe_size:
            raise ValueError(f"stripe length {stripe_len} outside 0..{self.stripe_size}")
        return HEADER_LEN + -(-stripe_len // self.k)

    def shard_len(self, blob_size: int) -> int:
        """Length of each shard of a blob of `blob_size` bytes (all k + m shards are equally long)."""
        last = self.num_stripes(blob_size) - 1
        return last * self.piece_len(self.stripe_size) + self.piece_len(self.stripe_len(blob_size, last))

    def piece_span(self, blob_size: int, stripe: int) -> tuple[int, int]:
        """(offset, length) of stripe `stripe`'s piece inside every shard of the blob."""
        return stripe * self.piece_len(self.stripe_size), self.piece_len(self.stripe_len(blob_size, stripe))

    def shard_span(self, blob_size: int, stripes: range) -> tuple[int, int]:
        """(offset, length) inside every shard of the pieces of a run of consecutive stripes."""
        if stripes.step != 1 or len(stripes) == 0:
            raise ValueError(f"need a non-empty run of consecutive stripes, got {stripes}")
        first_offset, _ = self.piece_span(blob_size, stripes.start)
        last_offset, last_len = self.piece_span(blob_size, stripes.stop - 1)
        return first_offset, last_offset + last_len - first_offset

    def stripes_for_range(self, blob_size: int, start: int, end: int) -> range:
        """Stripes covering blob bytes [start, end] (both inclusive, as in an HTTP Range)."""
        _check_size(blob_size)
        if not 0 <= start <= end < blob_size:
            raise ValueError(f"byte range [{start}, {end}] outside a blob of {blob_size} bytes")
        return range(start // self.stripe_size, end // self.stripe_size + 1)

    def piece_payload(self, stripe_len: int) -> int:
        """Bytes of stripe each data piece of a `stripe_len`-byte stripe holds (its length
        without the header): the stripe is the data pieces' payloads end to end."""
        return self.piece_len(stripe_len) - HEADER_LEN

    def data_pieces_for(self, stripe_len: int, lo: int, hi: int) -> range:
        """Data pieces (slots below k) holding bytes [lo, hi) of a stripe of `stripe_len` bytes."""
        if not 0 <= lo < hi <= stripe_len:
            raise ValueError(f"bytes [{lo}, {hi}) outside a stripe of {stripe_len} bytes")
        payload = self.piece_payload(stripe_len)
        return range(lo // payload, (hi - 1) // payload + 1)

    def _check_stripe(self, blob_size: int, stripe: int) -> None:
        if not 0 <= stripe < self.num_stripes(blob_size):
            raise ValueError(f"stripe {stripe} outside a blob of {blob_size} bytes")


#: 8 + 4 on 1 MiB stripes.
DEFAULT_LAYOUT = StripeLayout()


def _check_size(blob_size: int) -> None:
    if blob_size < 0:
        raise ValueError(f"negative blob size {blob_size}")


def parse_piece_header(piece: bytes | bytearray | memoryview) -> tuple[int, int]:
    """(payload size, stripe length) from the header at the front of a piece (PieceMismatch
    when it is short or has no header magic). Pieces of full stripes all have the length of
    the first one, so this is how a shard is cut into pieces without its blob's metadata."""
    if len(piece) < HEADER_LEN:
        raise PieceMismatch(f"piece of {len(piece)} bytes has no {HEADER_LEN}-byte header")
    _, size, _, orig = _HEADER_FIELDS.unpack_from(piece)
    (magic,) = _MAGIC_FIELD.unpack_from(piece, _MAGIC_OFFSET)
    if magic != _HEADER_MAGIC:
        raise PieceMismatch("piece header magic missing")
    return size, orig


class ErasureCodec:
    """Encodes and decodes single stripes. Thread-safe: each thread gets its own pyeclib driver."""

    def __init__(self, layout: StripeLayout = DEFAULT_LAYOUT) -> None:
        self._layout = layout
        self._local = threading.local()

    @property
    def layout(self) -> StripeLayout:
        return self._layout

    def _driver(self) -> ECDriver:
        driver: ECDriver | None = getattr(self._local, "driver", None)
        if driver is None:
            driver = ECDriver(k=self._layout.k, m=self._layout.m, ec_type=EC_TYPE)
            self._local.driver = driver
        return driver

    def encode_stripe(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """The k + m pieces (data pieces first) of one stripe of at most `stripe_size` bytes."""
        if len(data) > self._layout.stripe_size:
            raise ValueError(f"stripe of {len(data)} bytes exceeds stripe_size {self._layout.stripe_size}")
        pieces: list[bytes] = self._driver().encode(bytes(data))
        expected = self._layout.piece_len(len(data))
        if len(pieces) != self._layout.n or any(len(p) != expected for p in pieces):
            raise ErasureError("pyeclib returned pieces of an unexpected shape")
        return pieces

    def decode_stripe(self, pieces: Mapping[int, bytes], stripe_len: int) -> bytes:
        """The `stripe_len` bytes of a stripe from any k of its pieces (keyed by piece index)."""
        k = self._layout.k
        self._check_pieces(pieces, stripe_len)
        if len(pieces) < k:
            raise NotEnoughPieces(f"{len(pieces)} pieces given, {k} needed to decode a stripe")
        if all(i in pieces for i in range(k)):
            # Every data piece is here: the stripe is their payloads, no arithmetic needed.
            data = b"".join(memoryview(pieces[i])[HEADER_LEN:] for i in range(k))
        else:
            try:
                data = self._driver().decode([pieces[i] for i in sorted(pieces)])
            except ECDriverError as exc:
                raise PieceMismatch(f"pyeclib could not decode the stripe: {exc}") from exc
        if len(data) < stripe_len:
            raise ErasureError(f"decoded {len(data)} bytes, expected {stripe_len}")
        return data[:stripe_len]

    def reconstruct(self, pieces: Mapping[int, bytes], missing_indexes: Iterable[int]) -> dict[int, bytes]:
        """Rebuild the pieces `missing_indexes` of a stripe from at least k of its other pieces."""
        missing = sorted(set(missing_indexes))
        if not missing:
            return {}
        if any(not 0 <= i < self._layout.n for i in missing):
            raise ValueError(f"piece indexes {missing} outside 0..{self._layout.n - 1}")
        stripe_len = self._stripe_len_of(pieces)
        self._check_pieces(pieces, stripe_len)
        if len(pieces) < self._layout.k:
            raise NotEnoughPieces(f"{len(pieces)} pieces given, {self._layout.k} needed to reconstruct")
        try:
            rebuilt = self._driver().reconstruct([pieces[i] for i in sorted(pieces)], missing)
        except ECDriverError as exc:
            raise PieceMismatch(f"pyeclib could not reconstruct: {exc}") from exc
        return dict(zip(missing, rebuilt, strict=True))

    def _stripe_len_of(self, pieces: Mapping[int, bytes]) -> int:
        for piece in pieces.values():
            if len(piece) >= HEADER_LEN:
                return _HEADER_FIELDS.unpack_from(piece)[3]
        raise NotEnoughPieces("no pieces given")

    def check_piece(self, index: int, piece: bytes, stripe_len: int) -> None:
        """Raise PieceMismatch unless `piece` is shaped as piece `index` of a `stripe_len`-byte stripe.

        Checks the length and the header (index, payload size, stripe length, magic); the payload
        bytes are covered by the CRC32C every piece carries on the wire and on disk.
        """
        if not 0 <= index < self._layout.n:
            raise PieceMismatch(f"piece index {index} outside 0..{self._layout.n - 1}")
        expected_len = self._layout.piece_len(stripe_len)
        if len(piece) != expected_len:
            raise PieceMismatch(f"piece {index} is {len(piece)} bytes, expected {expected_len}")
        idx, size, _, orig = _HEADER_FIELDS.unpack_from(piece)
        (magic,) = _MAGIC_FIELD.unpack_from(piece, _MAGIC_OFFSET)
        if magic != _HEADER_MAGIC or idx != index or size != expected_len - HEADER_LEN or orig != stripe_len:
            raise PieceMismatch(
                f"piece header (index {idx}, size {size}, stripe {orig}) does not match "
                f"slot {index} of a {stripe_len}-byte stripe"
            )

    def _check_pieces(self, pieces: Mapping[int, bytes], stripe_len: int) -> None:
        for index, piece in pieces.items():
            self.check_piece(index, piece, stripe_len)


class StripeCutter:
    """Cuts a stream of arbitrary-sized byte chunks into stripes of exactly `stripe_size` bytes.

    Holds less than one stripe between calls. `finish()` returns the last, shorter stripe (empty if
    nothing was fed, so a 0-byte blob still has its one stripe) and must be called exactly once.
    """

    def __init__(self, stripe_size: int) -> None:
        self._stripe_size = stripe_size
        self._parts: list[bytes] = []
        self._buffered = 0
        self._total = 0
        self._stripes = 0
        self._finished = False

    @property
    def bytes_fed(self) -> int:
        return self._total

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[bytes]:
        """Full stripes completed by `chunk` (often none, several for a large chunk)."""
        if self._finished:
            raise RuntimeError("feed() after finish()")
        view = memoryview(chunk).cast("B")
        self._total += len(view)
        stripes: list[bytes] = []
        while len(view):
            take = min(len(view), self._stripe_size - self._buffered)
            self._parts.append(bytes(view[:take]))
            self._buffered += take
            view = view[take:]
            if self._buffered == self._stripe_size:
                stripes.append(self._take())
        return stripes

    def finish(self) -> bytes | None:
        """The last stripe: the bytes left over, or an empty stripe for an empty stream; else None."""
        if self._finished:
            raise RuntimeError("finish() called twice")
        self._finished = True
        if self._buffered or self._stripes == 0:
            return self._take()
        return None

    def _take(self) -> bytes:
        stripe = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
        self._parts = []
        self._buffered = 0
        self._stripes += 1
        return stripe


class StripeEncoder:
    """Streaming encoder: feed byte chunks of any size, get the k + m pieces of each whole stripe."""

    def __init__(self, codec: ErasureCodec) -> None:
        self._codec = codec
        self._cutter = StripeCutter(codec.layout.stripe_size)

    @property
    def bytes_fed(self) -> int:
        return self._cutter.bytes_fed

    def feed(self, chunk: bytes | bytearray | memoryview) -> Iterator[list[bytes]]:
        for stripe in self._cutter.feed(chunk):
            yield self._codec.encode_stripe(stripe)

    def finish(self) -> Iterator[list[bytes]]:
        last = self._cutter.finish()
        if last is not None:
            yield self._codec.encode_stripe(last)


def encode_blob(codec: ErasureCodec, data: bytes) -> list[bytes]:
    """All k + m shards of a small in-memory blob (tests, tools; the data path streams instead)."""
    encoder = StripeEncoder(codec)
    shards: list[list[bytes]] = [[] for _ in range(codec.layout.n)]
    for stripe_pieces in [*encoder.feed(data), *encoder.finish()]:
        for i, piece in enumerate(stripe_pieces):
            shards[i].append(piece)
    return [b"".join(parts) for parts in shards]
