"""The erasure codec against an independent Reed-Solomon reference (reedsolo), and its layout arithmetic."""

from __future__ import annotations

import itertools
import os
import random
from concurrent.futures import ThreadPoolExecutor

import pytest
import reedsolo

from cairn.erasure import (
    HEADER_LEN,
    ErasureCodec,
    NotEnoughPieces,
    PieceMismatch,
    StripeCutter,
    StripeEncoder,
    StripeLayout,
    encode_blob,
)

K, M = 8, 4
SMALL = StripeLayout(k=K, m=M, stripe_size=4096)


def _mul_table(coef: int) -> bytes:
    """bytes.translate table multiplying every byte by `coef` in GF(2^8) mod 0x11d (reedsolo)."""
    return bytes(reedsolo.gf_mul(coef, x) for x in range(256))


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def reference_parity(data_payloads: list[bytes], k: int, m: int) -> list[bytes]:
    """Parity by ISA-L's Cauchy matrix (row i, column j: 1 / (i ^ j)) computed with reedsolo."""
    reedsolo.init_tables(0x11D)
    parity = []
    for i in range(k, k + m):
        acc = bytes(len(data_payloads[0]))
        for j in range(k):
            acc = _xor(acc, data_payloads[j].translate(_mul_table(reedsolo.gf_inverse(i ^ j))))
        parity.append(acc)
    return parity


@pytest.mark.parametrize(("k", "m"), [(8, 4), (4, 2), (10, 4), (6, 3)])
def test_parity_matches_reedsolo_cauchy_reference(k: int, m: int) -> None:
    rng = random.Random(k * 100 + m)
    codec = ErasureCodec(StripeLayout(k=k, m=m, stripe_size=1 << 16))
    for size in (1, k - 1 or 1, 1000, 8191, 1 << 16):
        data = rng.randbytes(size)
        pieces = codec.encode_stripe(data)
        payloads = [p[HEADER_LEN:] for p in pieces]
        padded = data + bytes(k * len(payloads[0]) - size)
        assert b"".join(payloads[:k]) == padded
        assert payloads[k:] == reference_parity(payloads[:k], k, m)


def test_every_way_to_lose_four_of_twelve_pieces_decodes() -> None:
    codec = ErasureCodec(SMALL)
    data = os.urandom(1000)
    pieces = codec.encode_stripe(data)
    combos = list(itertools.combinations(range(K + M), M))
    assert len(combos) == 495
    for lost in combos:
        kept = {i: pieces[i] for i in range(K + M) if i not in lost}
        assert codec.decode_stripe(kept, len(data)) == data, lost


def test_reconstruct_rebuilds_lost_pieces_byte_identical() -> None:
    codec = ErasureCodec(SMALL)
    pieces = codec.encode_stripe(os.urandom(4096))
    for lost in itertools.combinations(range(K + M), M):
        kept = {i: pieces[i] for i in range(K + M) if i not in lost}
        assert codec.reconstruct(kept, lost) == {i: pieces[i] for i in lost}


def test_five_lost_pieces_is_a_clear_error() -> None:
    codec = ErasureCodec(SMALL)
    data = os.urandom(3000)
    pieces = codec.encode_stripe(data)
    kept = {i: pieces[i] for i in range(5, 12)}
    with pytest.raises(NotEnoughPieces, match="7 pieces given, 8 needed"):
        codec.decode_stripe(kept, len(data))
    with pytest.raises(NotEnoughPieces):
        codec.reconstruct(kept, [0, 1])


def test_a_piece_in_the_wrong_slot_or_stripe_is_refused() -> None:
    codec = ErasureCodec(SMALL)
    pieces = codec.encode_stripe(os.urandom(3000))
    swapped = {i: pieces[i] for i in range(4, 12)}
    swapped[4], swapped[5] = pieces[5], pieces[4]
    with pytest.raises(PieceMismatch):
        codec.decode_stripe(swapped, 3000)
    other = codec.encode_stripe(os.urandom(2999))
    with pytest.raises(PieceMismatch):
        codec.decode_stripe({**{i: pieces[i] for i in range(1, 12)}, 0: other[0]}, 3000)
    with pytest.raises(PieceMismatch):
        codec.decode_stripe({i: pieces[i] for i in range(8)}, 2000)


@pytest.mark.parametrize("size", [0, 1, K - 1, 4095, 4096, 4097, 3 * 4096, 5 * 4096 + 17])
def test_blob_round_trip_by_shards(size: int) -> None:
    codec = ErasureCodec(SMALL)
    layout = codec.layout
    data = os.urandom(size)
    shards = encode_blob(codec, data)
    assert len(shards) == K + M
    assert all(len(s) == layout.shard_len(size) for s in shards)
    lost = {0, 3, 7, 11}
    out = bytearray()
    for s in range(layout.num_stripes(size)):
        offset, length = layout.piece_span(size, s)
        pieces = {i: shards[i][offset : offset + length] for i in range(K + M) if i not in lost}
        out += codec.decode_stripe(pieces, layout.stripe_len(size, s))
    assert bytes(out) == data


def test_layout_arithmetic() -> None:
    layout = StripeLayout(k=8, m=4, stripe_size=1 << 20)
    assert layout.piece_len(1 << 20) == HEADER_LEN + (1 << 17)
    assert layout.piece_len(1) == HEADER_LEN + 1
    assert layout.piece_len(9) == HEADER_LEN + 2
    assert layout.piece_len(0) == HEADER_LEN
    assert layout.num_stripes(0) == 1
    assert layout.num_stripes(1 << 20) == 1
    assert layout.num_stripes((1 << 20) + 1) == 2
    assert layout.shard_len(0) == HEADER_LEN
    assert layout.shard_len((2 << 20) + 9) == 2 * (HEADER_LEN + (1 << 17)) + HEADER_LEN + 2
    assert layout.stripe_len((2 << 20) + 9, 2) == 9
    assert layout.piece_span((2 << 20) + 9, 2) == (2 * (HEADER_LEN + (1 << 17)), HEADER_LEN + 2)
    size = 10 * (1 << 20) + 5
    assert layout.stripes_for_range(size, 0, 0) == range(0, 1)
    assert layout.stripes_for_range(size, 0, (1 << 20) - 1) == range(0, 1)
    assert layout.stripes_for_range(size, (1 << 20) - 1, 1 << 20) == range(0, 2)
    assert layout.stripes_for_range(size, 1 << 20, (3 << 20) - 1) == range(1, 3)
    assert layout.stripes_for_range(size, size - 1, size - 1) == range(10, 11)
    assert layout.shard_span(size, range(1, 3)) == (HEADER_LEN + (1 << 17), 2 * (HEADER_LEN + (1 << 17)))
    assert layout.shard_span(size, range(9, 11)) == (
        9 * (HEADER_LEN + (1 << 17)),
        HEADER_LEN + (1 << 17) + HEADER_LEN + 1,
    )
    for bad in [(-1, 0), (5, 4), (0, size)]:
        with pytest.raises(ValueError):
            layout.stripes_for_range(size, *bad)
    with pytest.raises(ValueError):
        layout.stripe_len(size, 11)
    with pytest.raises(ValueError):
        StripeLayout(k=20, m=13)


def test_piece_len_matches_what_the_codec_produces() -> None:
    for k, m in [(8, 4), (3, 2)]:
        codec = ErasureCodec(StripeLayout(k=k, m=m, stripe_size=300))
        for n in range(301):
            assert [len(p) for p in codec.encode_stripe(bytes(n))] == [codec.layout.piece_len(n)] * (k + m)


def test_streaming_encoder_matches_one_shot_for_any_chunking() -> None:
    codec = ErasureCodec(SMALL)
    rng = random.Random(7)
    for size in (0, 1, 4096, 4097, 20000):
        data = rng.randbytes(size)
        expected = [codec.encode_stripe(data[s : s + 4096]) for s in range(0, max(size, 1), 4096)]
        for max_chunk in (1, 100, 4096, 10000, 50000):
            encoder = StripeEncoder(codec)
            got: list[list[bytes]] = []
            pos = 0
            while pos < size:
                step = rng.randint(1, max_chunk)
                got.extend(encoder.feed(data[pos : pos + step]))
                pos += step
            got.extend(encoder.finish())
            assert got == expected, (size, max_chunk)
            assert encoder.bytes_fed == size


def test_cutter_cuts_exact_stripes_and_keeps_the_tail() -> None:
    cutter = StripeCutter(100)
    assert cutter.feed(b"a" * 99) == []
    assert cutter.feed(b"b" * 200) == [b"a" * 99 + b"b", b"b" * 100]
    assert cutter.finish() == b"b" * 99
    assert cutter.bytes_fed == 299
    exact = StripeCutter(100)
    assert exact.feed(b"c" * 100) == [b"c" * 100]
    assert exact.finish() is None
    empty = StripeCutter(100)
    assert empty.finish() == b""


def test_codec_is_safe_across_threads() -> None:
    codec = ErasureCodec(StripeLayout(stripe_size=1 << 16))
    blobs = [os.urandom(1 << 16) for _ in range(16)]
    expected = [ErasureCodec(StripeLayout(stripe_size=1 << 16)).encode_stripe(b) for b in blobs]

    def work(i: int) -> bool:
        pieces = codec.encode_stripe(blobs[i])
        kept = {j: pieces[j] for j in range(4, 12)}
        return pieces == expected[i] and codec.decode_stripe(kept, len(blobs[i])) == blobs[i]

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(work, list(range(16)) * 4))
