"""The shared CRC primitives: standard check values and combining CRCs of concatenations."""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable

import pytest

from cairn.checksums import crc32c, crc64nvme, crc64nvme_reference, crc_combine


def test_check_values() -> None:
    assert crc32c(b"123456789") == 0xE3069283
    assert crc64nvme(b"123456789") == crc64nvme_reference(b"123456789") == 0xAE8B14860A799888
    assert crc64nvme(b"56789", crc64nvme(b"1234")) == crc64nvme(b"123456789")


@pytest.mark.parametrize(
    ("name", "crc"), [("CRC32", zlib.crc32), ("CRC32C", crc32c), ("CRC64NVME", crc64nvme)]
)
@pytest.mark.parametrize("sizes", [(0, 5), (5, 0), (1, 1), (7, 9), (1000, 4097)])
def test_combine_equals_crc_of_the_concatenation(
    name: str, crc: Callable[[bytes], int], sizes: tuple[int, int]
) -> None:
    a, b = os.urandom(sizes[0]), os.urandom(sizes[1])
    assert crc_combine(name, crc(a), crc(b), len(b)) == crc(a + b)


@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 63, 64, 1000, 65537])
def test_crt_crc64nvme_matches_the_reference(size: int) -> None:
    data = os.urandom(size)
    assert crc64nvme(data) == crc64nvme_reference(data)
    assert crc64nvme(data[size // 3 :], crc64nvme(data[: size // 3])) == crc64nvme_reference(data)
    assert crc64nvme(memoryview(data)) == crc64nvme_reference(bytearray(data))


def test_combine_refuses_a_non_crc() -> None:
    with pytest.raises(ValueError):
        crc_combine("SHA256", 0, 0, 1)
