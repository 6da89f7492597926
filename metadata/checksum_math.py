"""Checksums of multipart objects: composite digests and full-object CRC combination.

- COMPOSITE: the algorithm applied to the concatenated raw part checksums (S3 shows it as
  `base64-N`).
- FULL_OBJECT for the CRC algorithms: the CRC of the whole object, computed from the parts'
  CRCs and sizes with the classic zlib `crc32_combine` GF(2) matrix method, which holds for
  any reflected CRC whose init and xor-out are all ones (CRC32, CRC32C, CRC64NVME).

Values are raw big-endian digest bytes, as in models.Checksum.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from functools import cache
from typing import Protocol

from cairn.checksums import crc32c

# reflected polynomials and widths of the CRCs S3 supports
_CRCS: dict[str, tuple[int, int]] = {
    "CRC32": (0xEDB88320, 32),
    "CRC32C": (0x82F63B78, 32),
    "CRC64NVME": (0x9A6C9329AC4BC9B5, 64),
}


class _SizedChecksums(Protocol):
    @property
    def size(self) -> int: ...

    @property
    def checksums(self) -> Sequence[object]: ...


@cache
def _crc64_table() -> tuple[int, ...]:
    poly = _CRCS["CRC64NVME"][0]
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


def crc64nvme(data: bytes, value: int = 0) -> int:
    """CRC-64/NVME (pure Python; only used on small inputs such as checksum lists)."""
    table = _crc64_table()
    crc = value ^ 0xFFFFFFFFFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFFFFFFFFFF


def digest(algorithm: str, data: bytes) -> bytes:
    """The raw checksum of `data` with one of S3's algorithms."""
    if algorithm == "CRC32":
        return zlib.crc32(data).to_bytes(4, "big")
    if algorithm == "CRC32C":
        return crc32c(data).to_bytes(4, "big")
    if algorithm == "CRC64NVME":
        return crc64nvme(data).to_bytes(8, "big")
    if algorithm == "SHA1":
        return hashlib.sha1(data).digest()
    if algorithm == "SHA256":
        return hashlib.sha256(data).digest()
    raise ValueError(f"unknown checksum algorithm {algorithm!r}")


def _times(matrix: list[int], vector: int) -> int:
    total, i = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[i]
        vector >>= 1
        i += 1
    return total


def _square(matrix: list[int]) -> list[int]:
    return [_times(matrix, row) for row in matrix]


def crc_combine(algorithm: str, crc1: int, crc2: int, len2: int) -> int:
    """CRC of A+B from crc1 = CRC(A), crc2 = CRC(B) and len2 = len(B)."""
    poly, width = _CRCS[algorithm]
    if len2 == 0:
        return crc1
    odd = [poly] + [1 << n for n in range(width - 1)]  # one zero bit
    even = _square(odd)  # two zero bits
    odd = _square(even)  # four zero bits
    while True:
        even = _square(odd)
        if len2 & 1:
            crc1 = _times(even, crc1)
        len2 >>= 1
        if not len2:
            break
        odd = _square(even)
        if len2 & 1:
            crc1 = _times(odd, crc1)
        len2 >>= 1
        if not len2:
            break
    return crc1 ^ crc2


def combine_full_object(algorithm: str, parts: Sequence[_SizedChecksums]) -> bytes | None:
    """The whole-object CRC from the parts' CRCs, or None if not computable."""
    if algorithm not in _CRCS:
        return None
    width = _CRCS[algorithm][1] // 8
    total: int | None = None
    for part in parts:
        value = next((ch.value for ch in part.checksums if getattr(ch, "algorithm", None) == algorithm), None)  # type: ignore[attr-defined]
        if value is None:
            return None
        crc = int.from_bytes(value, "big")
        total = crc if total is None else crc_combine(algorithm, total, crc, part.size)
    return None if total is None else total.to_bytes(width, "big")
