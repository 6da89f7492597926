"""Erasure codec throughput: encode and decode MB/s for single stripes and whole blobs.

Measures `cairn.erasure.ErasureCodec` (pyeclib, ISA-L Cauchy Reed-Solomon) on one thread:
- 1 MiB stripes: encode one stripe; decode from the 8 data pieces; decode with 4 data pieces lost;
- whole 64 MiB blobs, stripe by stripe as the data path does (StripeEncoder over 1 MiB body chunks,
  then decode every stripe from the shards, with and without 4 data pieces lost).
MB/s counts blob bytes (1 MB = 10^6 bytes). Every loop is bounded by a repeat count.

Run: .venv/bin/python benchmarks/codec_bench.py [--k 8] [--m 4] [--stripe-size 1048576]
     [--blob-mib 64] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

from cairn.erasure import ErasureCodec, StripeEncoder, StripeLayout


def _best_rate(nbytes: int, repeat: int, fn: Callable[[], object]) -> float:
    """Best MB/s over `repeat` runs of `fn` (each processing `nbytes`)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return nbytes / best / 1e6


def bench_stripe(codec: ErasureCodec, repeat: int) -> dict[str, float]:
    layout = codec.layout
    data = os.urandom(layout.stripe_size)
    pieces = codec.encode_stripe(data)
    all_data = {i: pieces[i] for i in range(layout.k)}
    degraded = {i: pieces[i] for i in range(layout.m, layout.n)}
    loops = 50

    def times(fn: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            for _ in range(loops):
                fn()  # the result is dropped, as the data path does once it is sent

        return run

    return {
        "encode": _best_rate(loops * len(data), repeat, times(lambda: codec.encode_stripe(data))),
        "decode (data pieces)": _best_rate(
            loops * len(data), repeat, times(lambda: codec.decode_stripe(all_data, len(data)))
        ),
        f"decode ({layout.m} data pieces lost)": _best_rate(
            loops * len(data), repeat, times(lambda: codec.decode_stripe(degraded, len(data)))
        ),
    }


def bench_blob(codec: ErasureCodec, blob_size: int, repeat: int) -> dict[str, float]:
    layout = codec.layout
    body = os.urandom(blob_size)
    chunk = 1 << 20

    def encode(keep: bool = False) -> list[list[bytes]]:
        encoder = StripeEncoder(codec)
        stripes: list[list[bytes]] = []
        view = memoryview(body)
        for pos in range(0, blob_size, chunk):
            for pieces in encoder.feed(view[pos : pos + chunk]):
                if keep:  # timed runs drop each stripe's pieces, as the data path does once sent
                    stripes.append(pieces)
        for pieces in encoder.finish():
            if keep:
                stripes.append(pieces)
        return stripes

    stripes = encode(keep=True)

    def decode(lost: set[int]) -> None:
        for s, pieces in enumerate(stripes):
            kept = {i: p for i, p in enumerate(pieces) if i not in lost}
            codec.decode_stripe(kept, layout.stripe_len(blob_size, s))

    return {
        "encode": _best_rate(blob_size, repeat, encode),
        "decode (data pieces)": _best_rate(blob_size, repeat, lambda: decode(set())),
        f"decode ({layout.m} data pieces lost)": _best_rate(
            blob_size, repeat, lambda: decode(set(range(layout.m)))
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--m", type=int, default=4)
    parser.add_argument("--stripe-size", type=int, default=1 << 20)
    parser.add_argument("--blob-mib", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    codec = ErasureCodec(StripeLayout(k=args.k, m=args.m, stripe_size=args.stripe_size))
    print(f"k={args.k} m={args.m} stripe_size={args.stripe_size} (1 thread, best of {args.repeat})")
    for name, rate in bench_stripe(codec, args.repeat).items():
        print(f"  {args.stripe_size >> 10} KiB stripe  {name:28s} {rate:9.0f} MB/s")
    for name, rate in bench_blob(codec, args.blob_mib << 20, args.repeat).items():
        print(f"  {args.blob_mib} MiB blob    {name:28s} {rate:9.0f} MB/s")


if __name__ == "__main__":
    main()
