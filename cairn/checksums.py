"""Checksums shared by every service: CRC32C on every stored or sent byte, plus the CRC
primitives S3's checksums need (CRC64/NVME and combining CRCs of concatenated byte runs).
CRC64/NVME comes from awscrt (the AWS Common Runtime botocore itself uses); a pure-Python
reference implementation is kept for the tests.

`crc_combine` is zlib's `crc32_combine` GF(2) matrix method generalised to any reflected CRC
whose init and xor-out are all ones (CRC32, CRC32C, CRC64NVME): the CRC of A||B from CRC(A),
CRC(B) and len(B), without reading the bytes. Multipart uploads use it for FULL_OBJECT CRCs.
"""

from __future__ import annotations

import struct

import crc32c as _crc32c
from awscrt import checksums as _crt

#: Reflected polynomial and width in bits of each CRC S3 offers, by S3 algorithm name.
CRC_PARAMS: dict[str, tuple[int, int]] = {
    "CRC32": (0xEDB88320, 32),
    "CRC32C": (0x82F63B78, 32),
    "CRC64NVME": (0x9A6C9329AC4BC9B5, 64),
}
_MASK64 = 0xFFFFFFFFFFFFFFFF


def crc32c(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """CRC32C (Castagnoli) of `data`, continuing from `value` (0 starts a new checksum)."""
    return _crc32c.crc32c(data, value)


def _crc64_tables() -> list[list[int]]:
    poly = CRC_PARAMS["CRC64NVME"][0]
    base = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        base.append(crc)
    tables = [base]
    for _ in range(7):  # slicing-by-8: table k advances a byte k positions further
        prev = tables[-1]
        tables.append([(prev[i] >> 8) ^ base[prev[i] & 0xFF] for i in range(256)])
    return tables


_T = _crc64_tables()


def crc64nvme(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """CRC-64/NVME of `data`, continuing from `value` (AWS's CRT: several GB/s)."""
    return int(_crt.crc64nvme(data, value))


def crc64nvme_reference(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """CRC-64/NVME in pure Python (slicing-by-8, ~17 MB/s): the independent reference the tests
    hold the CRT implementation to."""
    crc = value ^ _MASK64
    mv = memoryview(data).cast("B")
    n = len(mv)
    t0, t1, t2, t3, t4, t5, t6, t7 = _T
    whole = n - n % 8
    if whole:
        for word in struct.unpack(f"<{whole // 8}Q", mv[:whole]):
            x = crc ^ word
            crc = (
                t7[x & 0xFF]
                ^ t6[(x >> 8) & 0xFF]
                ^ t5[(x >> 16) & 0xFF]
                ^ t4[(x >> 24) & 0xFF]
                ^ t3[(x >> 32) & 0xFF]
                ^ t2[(x >> 40) & 0xFF]
                ^ t1[(x >> 48) & 0xFF]
                ^ t0[x >> 56]
            )
    for b in mv[whole:]:
        crc = (crc >> 8) ^ t0[(crc ^ b) & 0xFF]
    return crc ^ _MASK64


def _gf2_times(mat: list[int], vec: int) -> int:
    out, i = 0, 0
    while vec:
        if vec & 1:
            out ^= mat[i]
        vec >>= 1
        i += 1
    return out


def _gf2_square(mat: list[int]) -> list[int]:
    return [_gf2_times(mat, m) for m in mat]


def crc_combine(algorithm: str, crc1: int, crc2: int, len2: int) -> int:
    """The CRC of A||B from crc1 = CRC(A), crc2 = CRC(B) and len2 = len(B), for a CRC named in
    CRC_PARAMS."""
    if algorithm not in CRC_PARAMS:
        raise ValueError(f"{algorithm} is not a CRC")
    if len2 == 0:
        return crc1
    poly, width = CRC_PARAMS[algorithm]
    odd = [poly] + [1 << i for i in range(width - 1)]  # operator for one zero bit
    even = _gf2_square(odd)  # two zero bits
    odd = _gf2_square(even)  # four zero bits
    while True:
        even = _gf2_square(odd)
        if len2 & 1:
            crc1 = _gf2_times(even, crc1)
        len2 >>= 1
        if not len2:
            break
        odd = _gf2_square(even)
        if len2 & 1:
            crc1 = _gf2_times(odd, crc1)
        len2 >>= 1
        if not len2:
            break
    return crc1 ^ crc2
