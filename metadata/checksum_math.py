"""Checksums of multipart objects: composite digests and full-object CRC combination.

- COMPOSITE: the algorithm applied to the concatenated raw part checksums (S3 shows it as
  `base64-N`).
- FULL_OBJECT for the CRC algorithms: the CRC of the whole object, computed from the parts'
  CRCs and sizes with `cairn.checksums.crc_combine`.

Values are raw big-endian digest bytes, as in models.Checksum.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from typing import Protocol

from cairn.checksums import CRC_PARAMS, crc32c, crc64nvme, crc_combine


class _SizedChecksums(Protocol):
    @property
    def size(self) -> int: ...

    @property
    def checksums(self) -> Sequence[object]: ...


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


def combine_full_object(algorithm: str, parts: Sequence[_SizedChecksums]) -> bytes | None:
    """The whole-object CRC from the parts' CRCs, or None if not computable."""
    if algorithm not in CRC_PARAMS:
        return None
    width = CRC_PARAMS[algorithm][1] // 8
    total: int | None = None
    for part in parts:
        value = next((ch.value for ch in part.checksums if getattr(ch, "algorithm", None) == algorithm), None)  # type: ignore[attr-defined]
        if value is None:
            return None
        crc = int.from_bytes(value, "big")
        total = crc if total is None else crc_combine(algorithm, total, crc, part.size)
    return None if total is None else total.to_bytes(width, "big")
