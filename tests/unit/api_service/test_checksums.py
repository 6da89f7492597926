"""S3 checksums: known vectors, incremental updates, parsing client values."""

from __future__ import annotations

import base64
import hashlib

import crc32c
from hypothesis import given
from hypothesis import strategies as st

from cairn.api_service.checksums import (
    ChecksumAlgorithm,
    content_md5_digest,
    crc64nvme,
    decode_b64_digest,
    new_hasher,
)


def checksum_of(alg: ChecksumAlgorithm, data: bytes) -> str:
    h = new_hasher(alg)
    h.update(data)
    return base64.b64encode(h.digest()).decode()


def test_known_vectors() -> None:
    assert crc64nvme(b"123456789") == 0xAE8B14860A799888
    assert checksum_of(ChecksumAlgorithm.CRC32, b"hello world") == "DUoRhQ=="  # what botocore sends
    assert checksum_of(ChecksumAlgorithm.CRC32C, b"") == "AAAAAA=="
    assert (
        checksum_of(ChecksumAlgorithm.SHA256, b"abc")
        == base64.b64encode(hashlib.sha256(b"abc").digest()).decode()
    )
    assert base64.b64decode(checksum_of(ChecksumAlgorithm.CRC32C, b"abc")) == crc32c.crc32c(b"abc").to_bytes(
        4, "big"
    )


@given(st.binary(max_size=300), st.binary(max_size=300))
def test_incremental_equals_whole(a: bytes, b: bytes) -> None:
    for alg in ChecksumAlgorithm:
        h = new_hasher(alg)
        h.update(a)
        h.update(b)
        assert base64.b64encode(h.digest()).decode() == checksum_of(alg, a + b)


def test_parsing_client_values() -> None:
    assert ChecksumAlgorithm.parse("x-amz-checksum-crc64nvme") is ChecksumAlgorithm.CRC64NVME
    assert ChecksumAlgorithm.parse("Crc32C") is ChecksumAlgorithm.CRC32C
    assert ChecksumAlgorithm.parse("md5") is None
    assert decode_b64_digest(ChecksumAlgorithm.CRC32, "DUoRhQ==") == bytes.fromhex("0d4a1185")
    assert decode_b64_digest(ChecksumAlgorithm.CRC32, "not base64!") is None
    assert decode_b64_digest(ChecksumAlgorithm.SHA1, "DUoRhQ==") is None
    assert (
        content_md5_digest(base64.b64encode(hashlib.md5(b"x").digest()).decode())
        == hashlib.md5(b"x").digest()
    )
    assert content_md5_digest("AAAA") is None
