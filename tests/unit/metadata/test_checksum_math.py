from __future__ import annotations

import os
import zlib

import pytest

from cairn.checksums import crc32c
from cairn.metadata import checksum_math
from cairn.metadata.models import Checksum, Part


def test_crc64nvme_check_value() -> None:
    # the CRC-64/NVME catalogue check value of "123456789"
    assert checksum_math.crc64nvme(b"123456789") == 0xAE8B14860A799888


@pytest.mark.parametrize(
    ("algorithm", "fn"),
    [
        ("CRC32", zlib.crc32),
        ("CRC32C", crc32c),
        ("CRC64NVME", checksum_math.crc64nvme),
    ],
)
def test_full_object_crc_is_combined_from_part_crcs(algorithm: str, fn) -> None:  # type: ignore[no-untyped-def]
    chunks = [os.urandom(n) for n in (1000, 1, 0, 4097)]
    width = 8 if algorithm == "CRC64NVME" else 4
    parts = [
        Part(i + 1, len(c), "e", 0, (Checksum(algorithm, fn(c).to_bytes(width, "big")),))
        for i, c in enumerate(chunks)
    ]
    whole = fn(b"".join(chunks)).to_bytes(width, "big")
    assert checksum_math.combine_full_object(algorithm, parts) == whole


def test_sha_cannot_be_combined() -> None:
    assert checksum_math.combine_full_object("SHA256", []) is None
