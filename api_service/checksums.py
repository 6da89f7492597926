"""The object checksums S3 clients send and ask for: CRC32, CRC32C, CRC64NVME, SHA1, SHA256.

S3 carries each checksum base64-encoded over its big-endian digest bytes, in a header
`x-amz-checksum-<alg>` (or a trailer of the same name). This module hashes bodies as they stream
and decodes client values; a multipart object's COMPOSITE / FULL_OBJECT checksum is computed from
the parts' digests by the metadata service (cairn.metadata.checksum_math).

CRC32C and CRC64NVME come from `cairn.checksums` (the crc32c package and awscrt's native
CRC64NVME); its pure-Python CRC64NVME stays only as the test reference.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import zlib
from typing import Protocol

from cairn.checksums import crc32c, crc64nvme


class ChecksumAlgorithm(enum.Enum):
    CRC32 = "CRC32"
    CRC32C = "CRC32C"
    CRC64NVME = "CRC64NVME"
    SHA1 = "SHA1"
    SHA256 = "SHA256"

    @property
    def header(self) -> str:
        """The header/trailer name carrying this checksum, e.g. `x-amz-checksum-crc32`."""
        return "x-amz-checksum-" + self.value.lower()

    @property
    def xml_element(self) -> str:
        """The XML element naming this checksum, e.g. `ChecksumCRC32`."""
        return "Checksum" + self.value

    @property
    def digest_size(self) -> int:
        return {"CRC32": 4, "CRC32C": 4, "CRC64NVME": 8, "SHA1": 20, "SHA256": 32}[self.value]

    @classmethod
    def parse(cls, name: str) -> ChecksumAlgorithm | None:
        """The algorithm named `name` (any case, with or without the header prefix), or None."""
        name = name.strip().lower().removeprefix("x-amz-checksum-")
        for alg in cls:
            if alg.value.lower() == name:
                return alg
        return None


class Hasher(Protocol):
    def update(self, data: bytes | bytearray | memoryview) -> None: ...
    def digest(self) -> bytes: ...


class _Crc32:
    def __init__(self) -> None:
        self._value = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._value = zlib.crc32(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(4, "big")


class _Crc32c:
    def __init__(self) -> None:
        self._value = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._value = crc32c(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(4, "big")


class _Crc64Nvme:
    def __init__(self) -> None:
        self._value = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._value = crc64nvme(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(8, "big")


def new_hasher(alg: ChecksumAlgorithm) -> Hasher:
    """A fresh incremental hasher for `alg`."""
    if alg is ChecksumAlgorithm.CRC32:
        return _Crc32()
    if alg is ChecksumAlgorithm.CRC32C:
        return _Crc32c()
    if alg is ChecksumAlgorithm.CRC64NVME:
        return _Crc64Nvme()
    return hashlib.sha1() if alg is ChecksumAlgorithm.SHA1 else hashlib.sha256()


def decode_b64_digest(alg: ChecksumAlgorithm, value: str) -> bytes | None:
    """The raw digest in a client-sent `value`, or None if it is not valid base64 of the right size."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == alg.digest_size else None


def content_md5_digest(value: str) -> bytes | None:
    """The 16 raw bytes of a Content-MD5 header, or None if it is malformed."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 16 else None
